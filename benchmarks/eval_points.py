"""Evaluation time with and without ``observe_at``: the query set only at the reported steps.

``jaxmeta eval`` reports a few points of the adaptation curve (``--eval-steps``, e.g. 0 and
10), but the evaluation used to run the query set after every step: at 5-way 1-shot with 15
queries per class that pass (75 images, forward only) costs more than the step itself (5
images, forward and backward). ``observe_at`` skips it at the steps not reported. This
script builds a preset's test-time evaluation exactly as ``jaxmeta eval`` does (the preset's
config through ``jaxmeta.registry``, the real Omniglot small sets, freshly initialised
meta-parameters: the cost does not depend on their values), then times ``jaxmeta.evaluate``
over the same tasks both ways in alternating rounds, after one untimed call of each
(compilation), and checks that the reported points agree.

  python benchmarks/eval_points.py --data-dir /work/shared/data/omniglot --rounds 3

Results: benchmarks/RESULTS.md, "Where the time goes (issue 14)".
"""
from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

import jaxmeta
from jaxmeta import registry
from jaxmeta.config import from_preset, validate


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data-dir", required=True)
  p.add_argument("--preset", default="maml-omniglot-5w1s-cpu")
  p.add_argument("--tasks", type=int, default=600)
  p.add_argument("--steps", type=int, default=10, help="adaptation steps at evaluation")
  p.add_argument("--rounds", type=int, default=3)
  args = p.parse_args(argv)

  config = validate(from_preset(args.preset, data_dir=args.data_dir))
  task = registry.build_task(config, "test", for_eval=True)
  algo = registry.build_algorithm(config, task)
  params = jax.jit(algo.init)(jax.random.key(0), task.sample(jax.random.key(1)))
  points = (0, args.steps)
  ways = {"every step": None, f"observe_at={points}": points}

  def run(observe_at):
    return jaxmeta.evaluate(task, algo, params, jax.random.key(2), args.tasks, args.steps,
                            batch_size=config.eval_batch, observe_at=observe_at)

  print(f"{args.preset}: {config.eval_ways or config.ways}-way {config.eval_shots}-shot, "
        f"{config.eval_query} queries per class, {args.tasks} tasks, {args.steps} steps; "
        f"load average {os.getloadavg()[0]:.2f}", flush=True)
  first = {}
  for name, observe_at in ways.items():
    t = time.perf_counter()
    first[name] = run(observe_at)
    print(f"  first call (compile + run), {name}: {time.perf_counter() - t:.1f} s", flush=True)
  full, few = first.values()
  np.testing.assert_allclose(few[:, list(points)], full[:, list(points)], rtol=1e-5, atol=1e-6)

  seconds = {name: [] for name in ways}
  for r in range(args.rounds):
    for name, observe_at in (ways.items() if r % 2 == 0 else reversed(ways.items())):
      t = time.perf_counter()
      run(observe_at)
      seconds[name].append(time.perf_counter() - t)
  for name, s in seconds.items():
    print(f"  {name:24s} best {min(s):6.1f} s   median {np.median(s):6.1f} s", flush=True)
  full_s, few_s = seconds.values()
  print(f"  speed-up: best {min(full_s) / min(few_s):.2f}x, median "
        f"{np.median(full_s) / np.median(few_s):.2f}x; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
  main()
