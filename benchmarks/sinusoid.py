"""Sinusoid regression benchmark: the protocol of Finn et al. 2017, section 5.1.

Trains MAML, first-order MAML, Reptile and the "pretrained" baseline with the paper's
settings (MLP 1-40-40-1 ReLU, alpha 0.01, one inner step and K = 10 in training,
meta-batch 25, Adam 1e-3, 70 000 meta-steps), then fine-tunes each on fresh tasks with
K = 5, 10 and 20 support points (every step reuses the same K points) and reports the
query MSE after 1, 5 and 10 steps: mean ± 95 % CI, median, tail percentiles and the number
of tasks on which fine-tuning diverged (non-finite MSE).

Besides the per-task statistics it reports what the reference implementation's protocol
(600 test tasks) would have printed: the spread of means over disjoint blocks of 600 of
the same tasks, which shows how a rare divergent task moves the mean.

The pretrained baseline is fine-tuned with a step size picked on separate validation
tasks from ``--lr-grid`` (the paper: "an automatically tuned step size"), and also with
alpha = 0.01 for comparison.

Usage:
  python benchmarks/sinusoid.py                        # full protocol, a few minutes
  python benchmarks/sinusoid.py --steps 2000 --num-tasks 1000   # smoke run
  python benchmarks/sinusoid.py --algos maml --eval-lr 0.01,0.005   # step-size study
  python benchmarks/sinusoid.py --algos maml,fomaml --inner-lr 0.001  # the reference code's alpha

Writes ``--out`` (JSON, default runs/benchmarks/sinusoid.json) and prints a table.
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

import jaxmeta
from jaxmeta import experiment, registry
from jaxmeta.checkpoint import atomic_write_json
from jaxmeta.config import from_preset, validate

ALGOS = ("maml", "fomaml", "reptile", "pretrained")
# Finn et al. 2017, K = 5 at test, after 1 / 5 / 10 steps (the targets).
PAPER = {"maml": {1: 0.67, 5: 0.38, 10: 0.35}, "pretrained": {1: 2.41, 5: 2.23, 10: 2.19}}
REFERENCE_TEST_TASKS = 600  # NUM_TEST_POINTS of the MAML reference implementation


def _floats(text):
  return tuple(float(t) for t in text.split(",") if t.strip())


def _ints(text):
  return tuple(int(t) for t in text.split(",") if t.strip())


def _strs(text):
  return tuple(t.strip() for t in text.split(",") if t.strip())


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--algos", type=_strs, default=ALGOS, help="comma-separated, default: all four")
  p.add_argument("--steps", type=int, default=70000, help="meta-steps per algorithm (paper: 70000)")
  p.add_argument("--seed", type=int, default=0, help="training seed")
  p.add_argument("--inner-lr", type=float, default=None,
                 help="alpha for training and fine-tuning the meta-learned models (default: the "
                      "preset's 0.01, as the paper states; the reference code ran with 0.001)")
  p.add_argument("--eval-seed", type=int, default=1234, help="seed of the test tasks (shared by all algorithms)")
  p.add_argument("--eval-shots", type=_ints, default=(5, 10, 20), help="K at test")
  p.add_argument("--eval-steps", type=_ints, default=(1, 5, 10), help="fine-tuning steps to report")
  p.add_argument("--num-tasks", type=int, default=6000,
                 help="fresh test tasks per K (>= 1000; 6000 = ten blocks of the reference code's 600)")
  p.add_argument("--eval-query", type=int, default=100, help="query points per test task")
  p.add_argument("--eval-lr", type=_floats, default=None,
                 help="fine-tuning step sizes for the meta-learned models (default: the training alpha)")
  p.add_argument("--pretrained-lr", default="auto",
                 help="fine-tuning step size of the pretrained baseline: a number, or auto (tuned on "
                      "validation tasks over --lr-grid)")
  p.add_argument("--lr-grid", type=_floats, default=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05))
  p.add_argument("--val-tasks", type=int, default=1000, help="validation tasks for --pretrained-lr auto")
  p.add_argument("--workdir", type=Path, default=None,
                 help="keep checkpoints under DIR/<algo> (rerunning resumes); default: in memory")
  p.add_argument("--out", type=Path, default=Path("runs/benchmarks/sinusoid.json"))
  p.add_argument("--no-progress", action="store_true")
  args = p.parse_args(argv)
  bad = [a for a in args.algos if a not in ALGOS]
  if bad:
    p.error(f"--algos: unknown {', '.join(bad)}; choose from {', '.join(ALGOS)}")
  if args.inner_lr is not None and not args.inner_lr > 0:
    p.error("--inner-lr must be positive")
  for name in ("steps", "num_tasks", "eval_query", "val_tasks"):
    if getattr(args, name) <= 0:
      p.error(f"--{name.replace('_', '-')} must be positive")
  if not args.eval_shots or min(args.eval_shots) <= 0 or not args.eval_steps or min(args.eval_steps) < 0:
    p.error("--eval-shots must be positive and --eval-steps non-negative")
  if args.pretrained_lr != "auto":
    try:
      args.pretrained_lr = float(args.pretrained_lr)
    except ValueError:
      p.error(f"--pretrained-lr must be a number or auto, got {args.pretrained_lr!r}")
  return args


def paper_config(algo: str, args):
  """The paper's settings for ``algo`` (the library's ``<algo>-sinusoid`` preset)."""
  config = from_preset(f"{algo}-sinusoid", steps=args.steps, seed=args.seed, baseline="none")
  if algo == "pretrained":
    config = config.replace(inner_steps=0)
  elif args.inner_lr is not None:
    config = config.replace(inner_lr=args.inner_lr)
  return validate(config, **registry.names())


def describe(values: np.ndarray) -> dict:
  """Per-task statistics that keep the tail visible.

  Non-finite values (fine-tuning diverged) are counted and make the mean non-finite;
  the median and percentiles treat them as +inf.
  """
  v = np.asarray(values, np.float64)
  n = v.shape[0]
  finite = np.isfinite(v)
  w = np.where(finite, v, np.inf)
  with np.errstate(invalid="ignore", over="ignore"):
    mean = float(v.mean()) if finite.all() else float("nan")
    ci95 = float(1.96 * v.std() / math.sqrt(n)) if finite.all() else float("nan")
  stats = {"mean": mean, "ci95": ci95, "median": float(np.median(w)),
           "p90": float(np.percentile(w, 90)), "p99": float(np.percentile(w, 99)),
           "max": float(w.max()), "n_nonfinite": int((~finite).sum()),
           "n_over_10": int((w > 10).sum()),
           "mean_without_worst_1pct": float(np.sort(w)[:n - max(1, n // 100)].mean())}
  blocks = n // REFERENCE_TEST_TASKS
  if blocks >= 2:
    means = w[:blocks * REFERENCE_TEST_TASKS].reshape(blocks, REFERENCE_TEST_TASKS).mean(1)
    stats["blocks_of_600"] = {"n_blocks": blocks, "n_finite": int(np.isfinite(means).sum()),
                              "median_mean": float(np.median(means)),
                              "min_mean": float(means.min()), "max_mean": float(means.max())}
  return stats


def _jsonable(obj):
  if isinstance(obj, float) and not math.isfinite(obj):
    return str(obj)
  if isinstance(obj, dict):
    return {str(k): _jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_jsonable(v) for v in obj]
  return obj


def evaluate_curves(config, params, shots: int, key, num_tasks: int, query: int,
                    max_steps: int, inner_lr=None) -> np.ndarray:
  """``[num_tasks, max_steps + 1]`` query MSE over fine-tuning steps (``jaxmeta.evaluate``)."""
  cfg = config.replace(eval_shots=shots, eval_query=query)
  if inner_lr is not None:
    cfg = cfg.replace(inner_lr=float(inner_lr))
  task = registry.build_task(cfg, "test", for_eval=True)
  algo = registry.build_algorithm(cfg, task)
  return jaxmeta.evaluate(task, algo, params, key, num_tasks, max_steps)


def tune_lr(config, params, shots: int, args, key) -> tuple[float, dict]:
  """Step size with the lowest mean MSE after the largest ``--eval-steps`` on validation tasks."""
  last = max(args.eval_steps)
  scores = {}
  for lr in args.lr_grid:
    curves = evaluate_curves(config, params, shots, key, args.val_tasks, args.eval_query, last, lr)
    v = curves[:, last]
    scores[lr] = float(v.mean()) if np.all(np.isfinite(v)) else float("inf")
  return min(scores, key=scores.get), scores


def run(args) -> dict:
  eval_key = jax.random.key(args.eval_seed)
  val_key = jax.random.fold_in(jax.random.key(args.eval_seed), 10**6)  # disjoint from the test tasks
  max_steps = max(args.eval_steps)
  out = {"protocol": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
                      for k, v in vars(args).items()},
         "versions": {"python": platform.python_version(), "jax": jax.__version__,
                      "jaxmeta": jaxmeta.__version__, "backend": jax.default_backend()},
         "paper_k5": {a: {str(s): v for s, v in d.items()} for a, d in PAPER.items()},
         "results": {}}
  for algo in args.algos:
    config = paper_config(algo, args)
    workdir = None if args.workdir is None else args.workdir / algo
    t0 = time.time()
    state = experiment.train(config, workdir, progress=not args.no_progress,
                             log=lambda m: tqdm.write(m, file=sys.stderr))
    jax.block_until_ready(state.params)
    train_s = time.time() - t0
    entry = {"config": config.to_json(), "train_seconds": train_s,
             "train_steps_per_s": config.steps / train_s, "eval": {}}
    if algo == "pretrained":
      lrs_by_k, chosen = {}, {}
      for shots in args.eval_shots:
        lr = args.pretrained_lr
        if lr == "auto":
          lr, scores = tune_lr(config, params=state.params, shots=shots, args=args,
                               key=jax.random.fold_in(val_key, shots))
          entry.setdefault("lr_search", {})[f"K{shots}"] = {str(k): v for k, v in scores.items()}
        chosen[shots] = float(lr)
        lrs_by_k[shots] = sorted({float(lr), config.inner_lr})
    else:
      chosen = {}
      lrs = args.eval_lr or (config.inner_lr,)
      lrs_by_k = {shots: list(lrs) for shots in args.eval_shots}
    t0 = time.time()
    jobs = [(s, lr) for s in args.eval_shots for lr in lrs_by_k[s]]
    for shots, lr in tqdm(jobs, desc=f"evaluating {algo}", disable=args.no_progress, file=sys.stderr):
      curves = evaluate_curves(config, state.params, shots, jax.random.fold_in(eval_key, shots),
                               args.num_tasks, args.eval_query, max_steps, lr)
      by_steps = {str(s): describe(curves[:, s]) for s in (0,) + tuple(args.eval_steps)}
      tuned = args.pretrained_lr == "auto" and chosen.get(shots) == lr
      entry["eval"].setdefault(f"K{shots}", {})[f"lr{lr:g}"] = {
          "inner_lr": lr, "tuned": tuned, "n_tasks": args.num_tasks, "query": args.eval_query,
          "by_steps": by_steps}
    entry["eval_seconds"] = time.time() - t0
    out["results"][algo] = entry
  return out


def _cell(stats, digits=3):
  if stats["n_nonfinite"]:
    return f"diverged on {stats['n_nonfinite']}  [{stats['median']:.2f}]"
  return f"{stats['mean']:.{digits}f}±{stats['ci95']:.{digits}f} [{stats['median']:.2f}]"


def format_results(out: dict) -> str:
  """One table per K: rows are (algorithm, fine-tuning step size), columns are steps."""
  steps = out["protocol"]["eval_steps"]
  lines = []
  for shots in out["protocol"]["eval_shots"]:
    n = out["protocol"]["num_tasks"]
    lines.append(f"\nK = {shots}: query MSE on {n} fresh tasks, mean ± 95% CI [median]"
                 + ("; paper in parentheses" if shots == 5 else ""))
    lines.append(f"{'algorithm':<24}" + "".join(f"{f'{s} step' + ('s' if s != 1 else ''):>30}"
                                                for s in steps) + f"{'tasks > 10 (max step)':>24}")
    for algo, entry in out["results"].items():
      for tag, ev in entry["eval"].get(f"K{shots}", {}).items():
        name = f"{algo} a={ev['inner_lr']:g}" + (" (tuned)" if ev.get("tuned") else "")
        cells = []
        for s in steps:
          c = _cell(ev["by_steps"][str(s)])
          ref = PAPER.get(algo, {}).get(s) if shots == 5 else None
          cells.append(" " + f"{c + (f' ({ref})' if ref is not None else ''):>29}")
        tail = ev["by_steps"][str(max(steps))]
        lines.append(f"{name:<24}" + "".join(cells) + f"{tail['n_over_10']:>24}")
  lines.append("\ntraining: " + ", ".join(
      f"{a} {e['train_seconds']:.0f} s ({e['train_steps_per_s']:.0f} steps/s)"
      for a, e in out["results"].items()))
  return "\n".join(lines)


def main(argv=None) -> int:
  args = parse_args(argv)
  t0 = time.time()
  out = run(args)
  out["wall_seconds"] = time.time() - t0
  args.out.parent.mkdir(parents=True, exist_ok=True)
  atomic_write_json(args.out, _jsonable(out))
  print(format_results(out))
  print(f"\nwall time {out['wall_seconds']:.0f} s; results written to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
