"""MANN / LSTM-baseline training speed: ms per batch and achieved GFLOP/s.

The paper's setting (Santoro et al. 2016): 16 episodes of 50 steps (5 classes x 10
instances), 20x20 images, LSTM controller 200, memory 128 x 40, 4 read heads, Adam. The
episodes are sampled on the device inside the jitted ``lax.scan`` train loop from a
random Omniglot-shaped array (so the data loading is in the measurement, as in training).

FLOPs are counted from the shapes (multiply-add = 2 FLOPs, the matmuls and the memory's
products; the backward pass counted as twice the forward), i.e. the useful work, not
what XLA executes.

Usage: ``python benchmarks/mann_speed.py [--algo mann|lstm|both] [--steps 20] [--batch 16]
[--write-vector add|key]``
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

SETTING = dict(ways=5, length=50, image=20, batch=16, units=200, slots=128, width=40, heads=4,
               classes=200, examples=20, write_vector="add")


def forward_flops(memory: bool, s=SETTING) -> float:
  """Multiply-add FLOPs of one episode's forward pass."""
  T, U, D = s["length"], s["units"], s["image"] ** 2 + s["ways"]
  reads = s["heads"] * s["width"] if memory else 0
  f = 2 * T * D * 4 * U                                   # hoisted input matmul
  f += 2 * T * (reads + U) * 4 * U                        # recurrent matmul
  f += 2 * T * (U + reads) * s["ways"]                    # output layer
  if memory:
    N, M, H = s["slots"], s["width"], s["heads"]
    f += 2 * T * U * H * (M + 1 + (M if s["write_vector"] == "add" else 0))   # heads
    f += T * 3 * 2 * H * N * M                            # write, cosine, read
  return float(f)


def run(algo: str, steps: int) -> dict:
  import jax
  import optax
  from jaxmeta.algorithms.mann import mann
  from jaxmeta.tasks.sequences import sequence_task
  from jaxmeta.train import init_state, make_train_loop

  s = SETTING
  rng = np.random.default_rng(0)
  images = (rng.random((s["classes"], s["examples"], s["image"], s["image"], 1)) > 0.8).astype(np.float32)
  task = sequence_task(images, s["ways"], s["length"])
  model = mann(task, memory=algo == "mann", units=s["units"], slots=s["slots"], width=s["width"],
               heads=s["heads"], write_vector=s["write_vector"], name=algo)
  opt = optax.adam(1e-3)
  state = init_state(jax.random.key(0), task, model, opt)
  loop = make_train_loop(task, model, opt, s["batch"], steps)
  t = time.perf_counter()
  state, m = loop(state, jax.random.key(1))
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t
  times = []
  for r in range(3):
    t = time.perf_counter()
    state, m = loop(state, jax.random.key(2 + r))
    jax.block_until_ready(m)
    times.append((time.perf_counter() - t) / steps)
  best = min(times)
  flops = 3 * forward_flops(algo == "mann") * s["batch"]
  return {"algo": algo, "ms_per_batch": 1e3 * best, "ms_per_batch_all": [1e3 * x for x in times],
          "gflop_per_batch": flops / 1e9, "gflops": flops / best / 1e9,
          "first_call_s (compile + 1 round)": compile_s}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--algo", default="both", choices=("mann", "lstm", "both"))
  p.add_argument("--steps", type=int, default=20, help="batches per timed round")
  p.add_argument("--batch", type=int, default=SETTING["batch"], help="episodes per batch")
  p.add_argument("--write-vector", default="add", choices=("add", "key"),
                 help="what a MANN head writes (mann-omniglot-5way: add)")
  args = p.parse_args(argv)
  SETTING["batch"] = args.batch
  SETTING["write_vector"] = args.write_vector
  for algo in (("mann", "lstm") if args.algo == "both" else (args.algo,)):
    r = run(algo, args.steps)
    print(f"{algo}: {r['ms_per_batch']:.1f} ms/batch of {SETTING['batch']} x {SETTING['length']} "
          f"steps (rounds {', '.join(f'{x:.1f}' for x in r['ms_per_batch_all'])}), "
          f"{r['gflop_per_batch']:.2f} GFLOP/batch -> {r['gflops']:.1f} GFLOP/s; "
          f"first call {r['first_call_s (compile + 1 round)']:.1f} s")
  print("load average:", os.getloadavg())


if __name__ == "__main__":
  sys.exit(main())
