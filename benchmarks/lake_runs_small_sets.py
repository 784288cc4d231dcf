"""Writes a Lake-format runs folder (``runNN/training``, ``runNN/test``, ``class_labels.txt``)
from the TEST characters of the small-sets protocol, so that ``jaxmeta eval-lake`` can be
run end to end on a model trained on the small-sets train characters.

Each run is N-way one-shot within one alphabet when possible (as Lake et al.'s runs):
``training/classKK.png`` is one drawing of character K and ``test/itemMM.png`` another
drawing (by another drawer) of a character of the run, in a shuffled order. The PNGs are
the original files from the zips, so ``eval-lake`` preprocesses them as in training.

Usage:
  python benchmarks/lake_runs_small_sets.py --data-dir /work/shared/data/omniglot \
      --out /tmp/lake-small-runs --ways 5 --runs 20
  jaxmeta eval-lake --workdir RUN_DIR --runs /tmp/lake-small-runs
"""
from __future__ import annotations

import argparse
import re
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--data-dir", type=Path, required=True)
  p.add_argument("--out", type=Path, required=True)
  p.add_argument("--ways", type=int, default=5)
  p.add_argument("--runs", type=int, default=20)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args(argv)
  from jaxmeta.data.omniglot import SMALL_SETS, find_sources, omniglot_splits
  test = omniglot_splits("small-sets", data_dir=str(args.data_dir), rotation="none")["test"]
  names = set(test.names)
  found = find_sources(args.data_dir)
  drawings = defaultdict(list)  # "alphabet/character" -> [(zip, member)]
  pattern = re.compile(r"(?:^|/)([^/]+)/([^/]+)/([^/]+\.png)$", re.IGNORECASE)
  for name in SMALL_SETS:
    with zipfile.ZipFile(found[name]) as z:
      for member in sorted(z.namelist()):
        m = pattern.search(member)
        if m and f"{m.group(1)}/{m.group(2)}" in names:
          drawings[f"{m.group(1)}/{m.group(2)}"].append((found[name], member))
  by_alphabet = defaultdict(list)
  for n in sorted(drawings):
    by_alphabet[n.split("/")[0]].append(n)
  rng = np.random.default_rng(args.seed)
  usable = [a for a, chars in by_alphabet.items() if len(chars) >= args.ways]
  all_chars = sorted(drawings)
  for r in range(1, args.runs + 1):
    if usable:
      pool = by_alphabet[usable[rng.integers(len(usable))]]
    else:
      pool = all_chars
    chars = [pool[i] for i in rng.choice(len(pool), args.ways, replace=False)]
    run = args.out / f"run{r:02d}"
    (run / "training").mkdir(parents=True, exist_ok=True)
    (run / "test").mkdir(exist_ok=True)
    order = rng.permutation(args.ways)
    lines = []
    for k, c in enumerate(chars):
      a, b = rng.choice(len(drawings[c]), 2, replace=False)
      for (zpath, member), dest in ((drawings[c][a], run / "training" / f"class{k + 1:02d}.png"),
                                    (drawings[c][b], None)):
        if dest is not None:
          with zipfile.ZipFile(zpath) as z:
            dest.write_bytes(z.read(member))
      m = int(np.flatnonzero(order == k)[0]) + 1
      with zipfile.ZipFile(drawings[c][b][0]) as z:
        (run / "test" / f"item{m:02d}.png").write_bytes(z.read(drawings[c][b][1]))
      lines.append((m, f"run{r:02d}/test/item{m:02d}.png run{r:02d}/training/class{k + 1:02d}.png"))
    (run / "class_labels.txt").write_text("\n".join(l for _, l in sorted(lines)) + "\n")
  print(f"wrote {args.runs} {args.ways}-way runs of small-sets test characters to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
