#!/usr/bin/env python
"""Pseudo-Lake runs from the small sets: 20 within-alphabet 20-way one-shot runs (train drawer
vs another drawer), scored with MHD — a sanity check of the scorer on real strokes (the real all_runs.zip is not available here).

Usage: python benchmarks/lake_mhd_pseudo.py
"""
import zipfile, numpy as np, time, sys
from jaxmeta.data import lake
z = zipfile.ZipFile("/work/shared/data/omniglot/images_background_small1.zip")
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
print([(alphabets[r % len(alphabets)], int(x)) for r, x in enumerate(e)])
print(f"alphabets {alphabets}; MHD error {e.mean():.1f}% (per run min {e.min():.0f} max {e.max():.0f}); {time.time()-t0:.1f}s")
