"""Is the CLI's training step slower than the benchmark's? Both built in one process, timed alternately.

Issue 14 reported ``jaxmeta train --preset protonet-lake-small`` at 0.8-1.1 steps/s in its
``metrics.jsonl`` against 2.76 episodes/s for ``benchmarks/protonet_speed.py``. This script
builds the CLI's jitted loop exactly as ``jaxmeta train`` does (the preset's config through
``jaxmeta.registry``, ``make_train_loop`` with the preset's ``steps_per_call``, the real
Omniglot small sets) and the benchmark's (random Omniglot-shaped images, the same model and
episode shape), prints XLA's cost analysis of each (GFLOP and bytes accessed per step) and
times them in alternating rounds.

  python benchmarks/cli_vs_benchmark.py --data-dir /work/shared/data/omniglot --rounds 3

Results: benchmarks/RESULTS.md, "Where the time goes (issue 14)".
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import protonet_speed  # noqa: E402

import jaxmeta  # noqa: E402
from jaxmeta import registry  # noqa: E402
from jaxmeta.config import from_preset, validate  # noqa: E402
from jaxmeta.models.conv import Conv4  # noqa: E402
from jaxmeta.tasks.episodes import few_shot_task  # noqa: E402


def _cli_loop(preset: str, data_dir: str, steps: int):
  config = validate(from_preset(preset, data_dir=data_dir))
  task = registry.build_task(config, "train")
  algo = registry.build_algorithm(config, task)
  opt = registry.build_optimizer(config)
  loop = jaxmeta.make_train_loop(task, algo, opt, config.meta_batch_size, steps,
                                 task_axis=config.task_axis)
  return loop, jaxmeta.init_state(jax.random.key(1), task, algo, opt)


def _benchmark_loop(steps: int):
  s = protonet_speed.SETTING
  task = few_shot_task(protonet_speed._data(), s["ways"], s["shots"], s["query"])
  algo = jaxmeta.algorithms.protonet(Conv4(s["filters"], stride=1, pool=True, norm="batch"),
                                     s["ways"])
  opt = optax.adam(s["outer_lr"])
  loop = jaxmeta.make_train_loop(task, algo, opt, 1, steps)
  return loop, jaxmeta.init_state(jax.random.key(1), task, algo, opt)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data-dir", required=True)
  p.add_argument("--preset", default="protonet-lake-small")
  p.add_argument("--steps", type=int, default=50, help="steps per timed call (the preset's "
                 "steps_per_call is 50)")
  p.add_argument("--rounds", type=int, default=3)
  args = p.parse_args(argv)
  built = {"cli": _cli_loop(args.preset, args.data_dir, args.steps),
           "benchmark": _benchmark_loop(args.steps)}
  compiled, states = {}, {}
  for name, (loop, state) in built.items():
    t0 = time.perf_counter()
    compiled[name] = loop.lower(state, jax.random.key(0)).compile()
    cost = compiled[name].cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    # XLA counts a scan's body once: these are the figures of one step.
    print(f"{name:<10} compile {time.perf_counter() - t0:5.1f} s; per step "
          f"{cost['flops'] / 1e9:.2f} GFLOP, {cost['bytes accessed'] / 1e9:.2f} GB accessed")
    states[name], _ = compiled[name](state, jax.random.key(0))   # warm-up call
    jax.block_until_ready(states[name])
  rates = {name: [] for name in built}
  for r in range(args.rounds):
    for name in built:
      t0 = time.perf_counter()
      states[name], metrics = compiled[name](states[name], jax.random.key(r + 1))
      jax.block_until_ready(metrics)
      rates[name].append(args.steps / (time.perf_counter() - t0))
    print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} steps/s" for k, v in rates.items()))
  best = {k: max(v) for k, v in rates.items()}
  print(f"best: cli {best['cli']:.2f}, benchmark {best['benchmark']:.2f} steps/s; ratio cli / "
        f"benchmark {best['cli'] / best['benchmark']:.2f} (medians "
        f"{np.median(rates['cli']) / np.median(rates['benchmark']):.2f}); 1-min load "
        f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
  main()
