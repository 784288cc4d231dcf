"""Does a Reptile run's evaluation change when Adam's moments carry over, as in the reference code?

supervised-reptile resets only the model's weights between tasks: Adam's moments carry over
through training, and every evaluation task starts from them (its ``_full_state`` is
restored after each task). jaxmeta starts the inner Adam fresh for every task. This script
keeps a trained run's theta fixed, warms Adam's moments on ``N`` training tasks run one
after another (weights reset per task, moments carried, as the reference code's training
does), then repeats the run's test evaluation with every task's Adam starting from those
moments. ``N = 0`` is the run's own evaluation (fresh moments), to check the script.

  python benchmarks/reptile_warm_adam.py runs/reptile-small 2000 [--data-dir DIR]

Prints one JSON line: the accuracy after the run's last evaluation step, with its 95 %
interval. Results: benchmarks/RESULTS.md, "Reptile as published, on the small sets".
"""
from __future__ import annotations

import argparse
import json
import time

import jax
import optax

from reptile_carried_adam import evaluate_with, inner_loop

from jaxmeta import registry
from jaxmeta.algorithms.common import model_loss
from jaxmeta.experiment import load_run


def warmed_moments(config, params, adam, n_tasks: int, key: jax.Array):
  """``adam``'s state after ``n_tasks`` training tasks' inner loops from ``params``, in sequence."""
  task = registry.build_task(config, "train")
  run_task = inner_loop(config, task, model_loss(registry.build_model(config, task), task), adam)

  def one_task(state, k):
    return run_task(params, state, k)[1], None   # weights reset per task, moments carried

  run = jax.jit(lambda k: jax.lax.scan(one_task, adam.init(params),
                                       jax.random.split(k, n_tasks))[0])
  return run(key)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdir")
  parser.add_argument("warm_tasks", type=int, help="training tasks that warm the moments (0: fresh)")
  parser.add_argument("--data-dir", default=None)
  parser.add_argument("--seed", type=int, default=7, help="key of the warming tasks")
  args = parser.parse_args(argv)
  if args.warm_tasks < 0:
    parser.error("warm_tasks: must be >= 0")
  config, params = load_run(args.workdir, data_dir=args.data_dir)
  if config.algo != "reptile" or config.inner_optimizer != "adam":
    parser.error(f"workdir: needs a Reptile run with --inner-optimizer adam, got "
                 f"{config.algo} / {config.inner_optimizer}")
  if getattr(config, "inner_state", "per-task") == "carried":
    parser.error("workdir: its run carried the moments through training (--inner-state "
                 "carried); its own evaluation starts from them already")
  adam = optax.adam(config.inner_lr, b1=config.inner_beta1, b2=config.inner_beta2)
  moments = None   # fresh: the run's own evaluation
  if args.warm_tasks:   # every test task starts from the warmed moments
    moments = warmed_moments(config, params, adam, args.warm_tasks, jax.random.key(args.seed))
  t0 = time.time()
  result = evaluate_with(config, params, moments)
  steps = max(config.eval_steps)
  print(json.dumps({"workdir": str(args.workdir), "warm_tasks": args.warm_tasks,
                    "eval_norm": config.eval_norm, "steps": steps, "accuracy": result["mean"],
                    "ci95": result["ci95"], "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
  main()
