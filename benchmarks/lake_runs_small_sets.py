"""Writes a Lake-format runs folder (``runNN/training``, ``runNN/test``, ``class_labels.txt``)
from the TEST characters of the small-sets protocol, so that ``jaxmeta eval-lake`` can be
run end to end on a model trained on the small-sets train characters.

Each run is N-way one-shot within one alphabet when possible (as Lake et al.'s runs):
``training/classKK.png`` is one drawing of character K and ``test/itemMM.png`` another
drawing (by another drawer) of a character of the run, in a shuffled order. The PNGs are
the original files from the zips, so ``eval-lake`` preprocesses them as in training. The
folder is written under ``OUT.tmp`` and renamed to ``--out`` when complete (an existing
``--out`` is replaced).

Usage:
  python benchmarks/lake_runs_small_sets.py --data-dir /work/shared/data/omniglot \
      --out /tmp/lake-small-runs --ways 5 --runs 20
  jaxmeta eval-lake --workdir RUN_DIR --runs /tmp/lake-small-runs
"""
from __future__ import annotations

import argparse
import shutil
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
  if args.ways < 2:
    p.error(f"--ways must be at least 2, got {args.ways}")
  if args.runs < 1:
    p.error(f"--runs must be positive, got {args.runs}")
  sys.path.insert(0, str(Path(__file__).resolve().parent))
  from jaxmeta.data.omniglot import omniglot_splits
  from lake_folds import drawings_by_character
  test = omniglot_splits("small-sets", data_dir=str(args.data_dir), rotation="none")["test"]
  names = set(test.names)
  # One entry per drawer: a character found in both small sets (Greek and Latin are in
  # both, byte for byte) is read once, so its two drawings are always two drawers'.
  drawings = {c: d for c, d in drawings_by_character(args.data_dir).items() if c in names}
  by_alphabet = defaultdict(list)
  for n in sorted(drawings):
    by_alphabet[n.split("/")[0]].append(n)
  rng = np.random.default_rng(args.seed)
  usable = [a for a, chars in by_alphabet.items() if len(chars) >= args.ways]
  all_chars = sorted(drawings)
  tmp = args.out.with_name(args.out.name + ".tmp")  # renamed when complete
  if tmp.exists():
    shutil.rmtree(tmp)
  for r in range(1, args.runs + 1):
    pool = by_alphabet[usable[rng.integers(len(usable))]] if usable else all_chars
    chars = [pool[i] for i in rng.choice(len(pool), args.ways, replace=False)]
    run = tmp / f"run{r:02d}"
    (run / "training").mkdir(parents=True)
    (run / "test").mkdir()
    order = rng.permutation(args.ways)
    lines = []
    for k, c in enumerate(chars):
      train_drawer, test_drawer = rng.choice(sorted(drawings[c]), 2, replace=False)
      m = int(np.flatnonzero(order == k)[0]) + 1
      for drawer, dest in ((train_drawer, run / "training" / f"class{k + 1:02d}.png"),
                           (test_drawer, run / "test" / f"item{m:02d}.png")):
        zpath, member = drawings[c][drawer]
        with zipfile.ZipFile(zpath) as z:
          dest.write_bytes(z.read(member))
      lines.append((m, f"run{r:02d}/test/item{m:02d}.png run{r:02d}/training/class{k + 1:02d}.png"))
    (run / "class_labels.txt").write_text("\n".join(l for _, l in sorted(lines)) + "\n")
  if args.out.exists():
    shutil.rmtree(args.out)
  tmp.rename(args.out)
  print(f"wrote {args.runs} {args.ways}-way runs of small-sets test characters to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
