"""jaxmeta's MAML step under each convolution implementation and task axis, side by side:
``conv_impl`` patches (im2col + matmul, the CPU default) or ``lax`` (XLA's convolution),
``task_axis`` ``map`` (``lax.map`` over tasks, the CPU default) or ``vmap``.

  python benchmarks/conv_variants.py --setting miniimagenet --rounds 3

Settings are ``omniglot_speed.py``'s ``OMNIGLOT`` and ``MINIIMAGENET``; alternating rounds
of 3 meta-steps each, best and median meta-steps/s.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = {"map_patches": dict(task_axis="map", conv_impl="patches"),
            "map_lax": dict(task_axis="map", conv_impl="lax"),
            "vmap_lax": dict(task_axis="vmap", conv_impl="lax"),
            "vmap_patches": dict(task_axis="vmap", conv_impl="patches")}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--setting", default="miniimagenet", choices=("omniglot", "miniimagenet"))
  p.add_argument("--algo", default="maml", choices=("maml", "fomaml", "anil"))
  p.add_argument("--rounds", type=int, default=3)
  args = p.parse_args(argv)
  if args.rounds <= 0:
    p.error("--rounds must be positive")
  import omniglot_speed as o
  s = {"omniglot": o.OMNIGLOT, "miniimagenet": o.MINIIMAGENET}[args.setting]
  impls = {}
  for name, kw in VARIANTS.items():
    run, compile_s, flops = o._jaxmeta_step(args.algo, s=s, **kw)
    run(1)
    impls[name] = (run, 3)
    print(f"{name}: compile {compile_s:.1f} s, {flops / 1e9:.1f} GFLOP/step", flush=True)
  rounds = o._rounds(impls, args.rounds, False)
  for name, v in rounds.items():
    print(f"  {name:<14} best {max(v):.3f}  median {np.median(v):.3f} meta-steps/s")
  print(f"  (1-min load average at the end: {os.getloadavg()[0]:.2f})")
  return 0


if __name__ == "__main__":
  sys.exit(main())
