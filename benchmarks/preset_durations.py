"""Is each preset's stated duration true on this machine? Measures what ``jaxmeta train`` runs.

For every preset whose description or table states a duration ("~25 min", "~1 h", "about
an hour"), or those named with ``--presets``, this builds the training loop exactly as
``jaxmeta train`` does (the preset's config through ``jaxmeta.registry``,
``make_train_loop`` over the CLI's chunk of steps, capped by ``--max-chunk``), times the
first two calls (compilation included: the second compiles again, for the state now on
the device) and ``--calls`` more, and projects the whole training from the median call. The evaluation at the end of ``jaxmeta train`` is projected the same
way from ``jaxmeta``'s evaluator on ``--eval-batches`` batches of test tasks (timed after a
first, compiling call). Nothing is written; one line per preset as it is measured, then
the table.

  python benchmarks/preset_durations.py --data-dir DIR [--presets NAME,...] [--json FILE]

Results: benchmarks/RESULTS.md, "Where the time goes (issue 14, measurements so far)".
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import jax
import numpy as np

import jaxmeta
from jaxmeta import registry
from jaxmeta.config import from_preset, validate
from jaxmeta.errors import JaxmetaError
from jaxmeta.experiment import evaluate_run, keys_for
from jaxmeta.presets import PRESETS

_STATED = re.compile(r"~\s*(\d+(?:\.\d+)?)\s*(min|h)\b|about an hour")


def stated_minutes(preset) -> float | None:
  """The duration a preset states in its description or table, in minutes (None: none).

  Example:
    >>> from jaxmeta.presets import PRESETS
    >>> stated_minutes(PRESETS["metanet-omniglot-5w1s"])
    55.0
  """
  m = _STATED.search(preset.description + " " + preset.table)
  if m is None:
    return None
  if m.group(0) == "about an hour":
    return 60.0
  return float(m.group(1)) * (60.0 if m.group(2) == "h" else 1.0)


def _timed(fn) -> float:
  t0 = time.perf_counter()
  jax.block_until_ready(fn())
  return time.perf_counter() - t0


def measure(name: str, data_dir: str, calls: int, max_chunk: int, eval_batches: int) -> dict:
  config = validate(from_preset(name, data_dir=data_dir))
  task = registry.build_task(config, "train")
  algo = registry.build_algorithm(config, task)
  optimizer = registry.build_optimizer(config)
  # The CLI's chunk of steps per call (experiment._train), capped so that slow presets
  # are timed in minutes; the step rate does not depend on it once compiled.
  chunk = min(config.steps_per_call, config.log_every, config.steps, max_chunk)
  loop = jaxmeta.make_train_loop(task, algo, optimizer, config.meta_batch_size, chunk,
                                 task_axis=config.task_axis)
  holder = {"state": jaxmeta.init_state(keys_for(config).init, task, algo, optimizer)}

  def call():
    holder["state"], metrics = loop(holder["state"], keys_for(config).train)
    return metrics

  first = _timed(call)
  # The second call compiles again (the state is committed to the device from then on,
  # the initial one was not: benchmarks/protonet_speed.py), so it is not timed either.
  first += _timed(call)
  per_call = float(np.median([_timed(call) for _ in range(calls)]))
  steps_per_s = chunk / per_call
  train_s = first + (config.steps - 2 * chunk) / steps_per_s
  eval_s, eval_note = 0.0, ""
  try:
    n = min(config.eval_tasks, config.eval_batch * eval_batches)
    params = holder["state"].params
    eval_first = _timed(lambda: evaluate_run(config, params, num_tasks=n)["n_tasks"])
    per_task = _timed(lambda: evaluate_run(config, params, num_tasks=n)["n_tasks"]) / n
    eval_s = eval_first - per_task * n + per_task * config.eval_tasks
  except JaxmetaError as e:   # e.g. split lake-small: scored by `jaxmeta eval-lake` instead
    eval_note = f"no evaluation ({e})"
  return {"preset": name, "stated_min": stated_minutes(PRESETS[name]), "steps": config.steps,
          "chunk": chunk, "first_call_s": round(first, 1), "steps_per_s": steps_per_s,
          "train_min": train_s / 60, "eval_min": eval_s / 60,
          "total_min": (train_s + eval_s) / 60, "eval_note": eval_note,
          "load": os.getloadavg()[0]}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data-dir", required=True)
  p.add_argument("--presets", default=None,
                 help="comma-separated names (default: every preset that states a duration)")
  p.add_argument("--calls", type=int, default=2, help="timed calls after the first")
  p.add_argument("--max-chunk", type=int, default=20, help="most steps per timed call")
  p.add_argument("--eval-batches", type=int, default=2, help="evaluation batches timed")
  p.add_argument("--json", type=Path, default=None, help="also write the rows here")
  args = p.parse_args(argv)
  names = ([n for n in PRESETS if stated_minutes(PRESETS[n]) is not None]
           if args.presets is None else args.presets.split(","))
  unknown = [n for n in names if n not in PRESETS]
  if unknown:
    p.error(f"--presets: unknown {', '.join(unknown)}")
  for flag in ("calls", "max_chunk", "eval_batches"):
    if getattr(args, flag) <= 0:
      p.error(f"--{flag.replace('_', '-')}: must be positive")
  rows = []
  for name in names:
    row = measure(name, args.data_dir, args.calls, args.max_chunk, args.eval_batches)
    rows.append(row)
    print(f"{name}: stated {row['stated_min']} min, projected {row['total_min']:.1f} min "
          f"({row['steps_per_s']:.2f} steps/s; load {row['load']:.1f})", file=sys.stderr,
          flush=True)
  print("| preset | stated | steps | steps/s | training | evaluation | total | load |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    stated = "—" if r["stated_min"] is None else f"~{r['stated_min']:.0f} min"
    ev = r["eval_note"] and "none (eval-lake)" or f"{r['eval_min']:.1f} min"
    print(f"| `{r['preset']}` | {stated} | {r['steps']} | {r['steps_per_s']:.2f} | "
          f"{r['train_min']:.1f} min | {ev} | **{r['total_min']:.1f} min** | {r['load']:.1f} |")
  if args.json is not None:
    from jaxmeta.checkpoint import atomic_write_json
    atomic_write_json(args.json, {"rows": rows})
  return 0


if __name__ == "__main__":
  sys.exit(main())
