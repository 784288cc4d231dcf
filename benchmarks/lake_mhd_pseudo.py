#!/usr/bin/env python
"""Pseudo-Lake runs from the small sets: 20 within-alphabet 20-way one-shot runs (train drawer
vs another drawer), scored with MHD — a sanity check of the scorer on real strokes (the real all_runs.zip is not available here).

Usage: python benchmarks/lake_mhd_pseudo.py [--data-dir DIR] [--json PATH]
"""
import argparse
import math
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from jaxmeta.data import lake


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--data-dir", default="/work/shared/data/omniglot",
                 help="folder holding images_background_small1.zip")
  p.add_argument("--json", type=Path, help="also write the errors here (JSON)")
  args = p.parse_args(argv)
  z = zipfile.ZipFile(Path(args.data_dir) / "images_background_small1.zip")
  by_char = {}
  for n in sorted(z.namelist()):
    if n.endswith(".png"):
      _, a, c, f = n.split("/")
      by_char.setdefault((a, c), []).append(n)
  rng = np.random.default_rng(0)
  alphabets = sorted({a for a, _ in by_char if sum(1 for x in by_char if x[0] == a) >= 20})
  runs = []
  for r in range(20):
    a = alphabets[r % len(alphabets)]
    chars = [k for k in by_char if k[0] == a]
    pick = rng.choice(len(chars), 20, replace=False)
    d1, d2 = rng.choice(20, 2, replace=False)
    train = [z.read(by_char[chars[i]][d1]) for i in pick]
    order = rng.permutation(20)
    test = [z.read(by_char[chars[pick[k]]][d2]) for k in order]
    runs.append(lake.LakeRun(f"run{r+1:02d}", train, test, order.astype(np.int32)))
  t0 = time.time()
  e = lake.score_mhd(runs)
  seconds = time.time() - t0
  print([(alphabets[r % len(alphabets)], int(x)) for r, x in enumerate(e)])
  print(f"alphabets {alphabets}; MHD error {e.mean():.1f}% (per run min {e.min():.0f} max {e.max():.0f}); {seconds:.1f}s")
  if args.json is not None:
    from jaxmeta.checkpoint import atomic_write_json
    errors = np.asarray(e, np.float64)
    atomic_write_json(args.json, {
        "error_percent": float(errors.mean()),
        "error_percent_ci95": float(1.96 * errors.std() / math.sqrt(len(errors))),
        "per_run": errors.tolist(), "alphabets": alphabets, "seconds": seconds})
  return 0


if __name__ == "__main__":
  sys.exit(main())
