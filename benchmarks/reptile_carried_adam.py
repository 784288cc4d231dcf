"""Reptile trained with the inner Adam's moments carried across tasks, as the reference code does.

supervised-reptile builds one TensorFlow Adam optimizer for the inner loop and, between
tasks, resets only the trainable variables (``Reptile._model_state``): Adam's moments and
its step counter carry over through all of training. With ``beta1 = 0`` the first moment
is just the current gradient, so what carries is the second moment: a long-run scale of
each coordinate's gradient. jaxmeta's Reptile starts Adam fresh for every task, so its
first inner step is ``lr * sign(g)`` on every coordinate and the next four are normalised
by the root-mean-square of that task's own few gradients. This script measures what the
carried moments change, with everything else the preset's:

  python benchmarks/reptile_carried_adam.py --data-dir DIR --steps 5000 [--train-moments fresh]

It trains ``reptile-omniglot-5w1s-published-small`` (or ``--preset``) for ``--steps``
meta-steps (the meta step annealed 1 -> 0 over them) with the moments carried, then
evaluates 5-way 1-shot on the preset's test tasks twice: every task's Adam starting from
the carried moments (the reference code's evaluation) and fresh (jaxmeta's). The tasks of
a meta-batch run side by side from the same moments (the reference runs them one after
another); the moments carried forward are their mean over the meta-batch (with beta2 =
0.999, one task's 5 steps move them by 0.5 %, so the order hardly matters).

Prints progress and one JSON line; ``--out`` writes it atomically. Results:
benchmarks/RESULTS.md, "Reptile as published, on the small sets".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from jaxmeta import registry
from jaxmeta.algorithms.common import model_loss
from jaxmeta.algorithms.reptile import minibatches
from jaxmeta.checkpoint import atomic_write_json
from jaxmeta.config import from_preset
from jaxmeta.experiment import evaluate_run, keys_for


def inner_loop(config, task, loss_fn, adam):
  """``(params, moments, key) -> (adapted, moments)``: one training task's inner loop as
  supervised-reptile runs it (``config.inner_steps`` Adam steps on mini-batches of
  ``config.inner_batch`` of the task's support set), from the moments given."""
  def one_task(params, moments, key):
    k_task, k_batch = jax.random.split(key)
    episode = task.sample(k_task)
    batches = minibatches(k_batch, (episode.support_x, episode.support_y), config.inner_batch,
                          config.inner_steps)

    def inner(carry, batch):
      p, s = carry
      updates, s = adam.update(jax.grad(loss_fn)(p, batch), s, p)
      return (optax.apply_updates(p, updates), s), None
    (adapted, moments), _ = jax.lax.scan(inner, (params, moments), batches)
    return adapted, moments
  return one_task


def make_train_chunk(config, task, loss_fn, adam, total_steps: int, chunk: int,
                     carry_moments: bool = True):
  """A jitted ``(params, moments, step, key) -> (params, moments)`` of ``chunk`` meta-steps.

  ``carry_moments=False`` starts every task's Adam fresh (jaxmeta's Reptile: the control)."""
  run_task = inner_loop(config, task, loss_fn, adam)

  def one_task(params, moments, key):
    return run_task(params, moments if carry_moments else adam.init(params), key)

  def meta_step(carry, i_key):
    params, moments = carry
    i, key = i_key
    keys = jax.random.split(key, config.meta_batch_size)
    # lax.map: one task at a time (the CPU default of the train step, task_axis="auto").
    adapted, ends = jax.lax.map(lambda k: one_task(params, moments, k), keys)
    # The published meta step: 1 annealed linearly to 0 (supervised-reptile's
    # frac_done * final + (1 - frac_done) * initial with final = 0).
    epsilon = 1.0 - i / total_steps
    params = jax.tree.map(lambda p, w: p + epsilon * (jnp.mean(w, 0) - p), params, adapted)
    moments = jax.tree.map(
        lambda s: jnp.mean(s, 0) if jnp.issubdtype(s.dtype, jnp.floating) else s[0], ends)
    return (params, moments), None

  @jax.jit
  def run(params, moments, start, key):
    steps = start + jnp.arange(chunk)
    keys = jax.random.split(key, chunk)
    (params, moments), _ = jax.lax.scan(meta_step, (params, moments), (steps, keys))
    return params, moments
  return run


def evaluate_with(config, params, moments=None) -> dict:
  """The preset's evaluation of ``theta`` (``params``) by ``jaxmeta``'s own evaluator: every
  test task's Adam starts from ``moments`` (Reptile's ``inner_state="carried"``) or, with
  ``None``, fresh; ``config.eval_norm`` as ``jaxmeta eval`` applies it."""
  if moments is None:
    config, evaluated = config.replace(inner_state="per-task"), params
  else:
    config = config.replace(inner_state="carried")
    evaluated = {"model": params, "inner_state": moments}
  steps = max(config.eval_steps)
  result = evaluate_run(config, evaluated, eval_steps=(steps,))
  (curve,) = [v for k, v in result.items() if k.startswith("by_")]
  return curve[str(steps)]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data-dir", required=True)
  parser.add_argument("--preset", default="reptile-omniglot-5w1s-published-small")
  parser.add_argument("--steps", type=int, default=5000)
  parser.add_argument("--train-moments", choices=("carried", "fresh"), default="carried",
                      help="carried: Adam's moments carry across tasks in training (the "
                           "reference code); fresh: reset per task (jaxmeta's Reptile, the control)")
  parser.add_argument("--chunk", type=int, default=250, help="meta-steps per jitted call")
  parser.add_argument("--eval-tasks", type=int, default=None, help="default: the preset's")
  parser.add_argument("--evals", default="1:episode:carried,1:episode:fresh",
                      help="comma-separated SHOTS:NORM:MOMENTS evaluations of the trained "
                           "theta (NORM episode = transductive, support = not; MOMENTS "
                           "carried = every task's Adam starts from training's, fresh = new)")
  parser.add_argument("--out", type=Path, default=None)
  args = parser.parse_args(argv)
  if args.steps <= 0 or args.chunk <= 0 or args.steps % args.chunk:
    parser.error("--steps and --chunk: positive, --steps a multiple of --chunk")
  if args.eval_tasks is not None and args.eval_tasks <= 0:
    parser.error("--eval-tasks: must be positive")
  evals = args.evals.split(",")
  for spec in evals:
    parts = spec.split(":")
    if (len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) < 1
        or parts[1] not in ("episode", "support") or parts[2] not in ("carried", "fresh")):
      parser.error(f"--evals: {spec!r} is not SHOTS:episode|support:carried|fresh")
  config = from_preset(args.preset, data_dir=args.data_dir, steps=args.steps)
  if args.eval_tasks is not None:
    config = config.replace(eval_tasks=args.eval_tasks)
  if config.algo != "reptile" or config.inner_optimizer != "adam":
    parser.error(f"--preset: needs a Reptile preset with an Adam inner loop, got {args.preset}")
  task = registry.build_task(config, "train")
  model = registry.build_model(config, task)
  loss_fn = model_loss(model, task)
  adam = optax.adam(config.inner_lr, b1=config.inner_beta1, b2=config.inner_beta2)
  keys = keys_for(config)
  # theta alone: this script carries the moments itself (the preset may say --inner-state
  # carried, whose params would hold them too).
  params = registry.build_algorithm(config.replace(inner_state="per-task"), task).init(
      keys.init, task.sample(keys.init))
  moments = adam.init(params)
  run = make_train_chunk(config, task, loss_fn, adam, args.steps, args.chunk,
                         carry_moments=args.train_moments == "carried")
  t0 = time.time()
  key = keys.train
  for start in range(0, args.steps, args.chunk):
    key, k = jax.random.split(key)
    params, moments = run(params, moments, start, k)
    jax.block_until_ready(params)
    done = start + args.chunk
    print(f"step {done}/{args.steps}: {done / (time.time() - t0):.2f} meta-steps/s",
          file=sys.stderr, flush=True)
  train_s = time.time() - t0
  result = {"preset": args.preset, "steps": args.steps, "train_moments": args.train_moments,
            "train_seconds": round(train_s, 1), "eval_tasks": config.eval_tasks,
            "eval_steps": max(config.eval_steps), "evaluations": {}}
  for spec in evals:
    shots, norm, start = spec.split(":")
    t1 = time.time()
    found = evaluate_with(config.replace(eval_shots=int(shots), eval_norm=norm), params,
                          moments if start == "carried" else None)
    result["evaluations"][spec] = {"accuracy": found["mean"], "ci95": found["ci95"],
                                   "seconds": round(time.time() - t1, 1)}
    print(f"{spec}: {100 * found['mean']:.1f} ± {100 * found['ci95']:.1f} %", file=sys.stderr,
          flush=True)
  print(json.dumps(result))
  if args.out is not None:
    atomic_write_json(args.out, result)
  return 0


if __name__ == "__main__":
  sys.exit(main())
