"""Throughput benchmarks: jaxmeta against an equivalent PyTorch (torch.func) implementation.

Each benchmark is a function in ``BENCHMARKS`` (name -> function(args) -> result dict);
add a section for a new setting by writing one more function and registering it there.
Every benchmark runs both implementations in this one process, alternating them for
``--rounds`` rounds so that load from other processes hits both alike, and reports the
best round of each and their ratio. Timings belong here, never in tests.

Usage:
  python benchmarks/speed.py                      # every benchmark
  python benchmarks/speed.py --only sinusoid_maml --rounds 5
  python benchmarks/speed.py --list

Writes ``--out`` (or ``--json``: JSON, default runs/benchmarks/speed.json) and prints a summary.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np


def _timed(fn: Callable[[int], None], steps: int) -> float:
  """Meta-steps per second of ``fn(steps)``, which must block until its work is done."""
  t0 = time.perf_counter()
  fn(steps)
  return steps / (time.perf_counter() - t0)


# ------------------------------------------------------------------- sinusoid, MAML
# Finn et al. 2017 sec. 5.1: MLP 1-40-40-1 ReLU, one inner SGD step of 0.01 on K = 10
# support points, MSE on 10 query points, meta-batch 25, Adam 1e-3, second order.
SINUSOID = dict(hidden=(40, 40), shots=10, query=10, inner_lr=0.01, meta_batch_size=25,
                outer_lr=1e-3)


def _jaxmeta_sinusoid_maml(scan_length: int):
  """(run_scan(steps), run_step(steps)): jaxmeta's lax.scan loop and its single jitted step."""
  import jax
  import optax
  import jaxmeta

  s = SINUSOID
  task = jaxmeta.tasks.sinusoid(shots=s["shots"], query=s["query"])
  algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP(s["hidden"], 1), task, inner_lr=s["inner_lr"])
  optimizer = optax.adam(s["outer_lr"])
  loop = jaxmeta.make_train_loop(task, algo, optimizer, s["meta_batch_size"], scan_length)
  step = jaxmeta.make_train_step(task, algo, optimizer, s["meta_batch_size"])
  seed = jax.random.key(0)
  holder = {"state": jaxmeta.init_state(jax.random.key(1), task, algo, optimizer)}

  def run_scan(steps):
    state = holder["state"]
    for _ in range(math.ceil(steps / scan_length)):
      state, metrics = loop(state, seed)
    jax.block_until_ready(metrics)
    holder["state"] = state

  def run_step(steps):
    state = holder["state"]
    for i in range(steps):
      state, metrics = step(state, jax.random.fold_in(seed, i))
    jax.block_until_ready(metrics)
    holder["state"] = state

  return run_scan, run_step


def _torch_sinusoid_maml():
  """The same MAML step in PyTorch: ``functional_call`` + ``grad`` (through the inner
  step, second order) + ``vmap`` over tasks, tasks sampled with torch, torch Adam."""
  import torch
  from torch.func import functional_call, grad, vmap

  s = SINUSOID
  h1, h2 = s["hidden"]
  net = torch.nn.Sequential(torch.nn.Linear(1, h1), torch.nn.ReLU(), torch.nn.Linear(h1, h2),
                            torch.nn.ReLU(), torch.nn.Linear(h2, 1))
  params = {k: v.detach().clone() for k, v in net.named_parameters()}
  optimizer = torch.optim.Adam(list(params.values()), lr=s["outer_lr"])
  alpha, n, k, q = s["inner_lr"], s["meta_batch_size"], s["shots"], s["query"]

  def loss(p, x, y):
    return torch.mean((functional_call(net, p, (x,)) - y) ** 2)

  def task_loss(p, xs, ys, xq, yq):
    g = grad(loss)(p, xs, ys)                                 # differentiable: second order
    adapted = {name: p[name] - alpha * g[name] for name in p}  # MAML eq. 1
    return loss(adapted, xq, yq)

  def meta_loss(p, xs, ys, xq, yq):
    return vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(p, xs, ys, xq, yq).mean()

  meta_grad = grad(meta_loss)

  def run(steps):
    with torch.no_grad():
      for _ in range(steps):
        amp = torch.empty(n, 1, 1).uniform_(0.1, 5.0)
        phase = torch.empty(n, 1, 1).uniform_(0.0, math.pi)
        x = torch.empty(n, k + q, 1).uniform_(-5.0, 5.0)
        y = amp * torch.sin(x - phase)
        grads = meta_grad(params, x[:, :k], y[:, :k], x[:, k:], y[:, k:])
        for name, p in params.items():
          p.grad = grads[name]
        optimizer.step()

  return run


def bench_sinusoid_maml(args) -> dict:
  """Second-order MAML meta-steps/s on the sinusoid setting: jaxmeta vs torch.func."""
  import jax
  import torch

  run_scan, run_step = _jaxmeta_sinusoid_maml(args.scan_length)
  run_torch = _torch_sinusoid_maml()

  def with_threads(n):
    def run(steps):
      torch.set_num_threads(n)
      run_torch(steps)
    return run

  impls = {"jaxmeta_scan": (run_scan, args.steps),
           "jaxmeta_step": (run_step, max(args.steps // 4, 1))}
  # On a loaded machine torch's 2-thread OpenMP pool can stall on barriers (we saw 50x
  # slowdowns), so 1 thread is measured too and the faster torch configuration is the baseline.
  for n in sorted({args.torch_threads, 1}, reverse=True):
    impls[f"torch_func_{n}thr"] = (with_threads(n), max(args.steps // 20, 1))
  for name, (fn, steps) in impls.items():  # compile / warm up
    fn(min(steps, args.scan_length if name == "jaxmeta_scan" else 20))
  rounds = {name: [] for name in impls}
  for r in range(args.rounds):
    for name, (fn, steps) in impls.items():
      rounds[name].append(_timed(fn, steps))
    if not args.quiet:
      print(f"  round {r + 1}: " + ", ".join(f"{n} {v[-1]:.0f}/s" for n, v in rounds.items()),
            file=sys.stderr)
  best = {n: max(v) for n, v in rounds.items()}
  median = {n: float(np.median(v)) for n, v in rounds.items()}
  # The baseline is the FASTEST torch configuration: conservative for jaxmeta.
  torch_best = max((n for n in best if n.startswith("torch")), key=best.get)
  torch_median = max(median[n] for n in median if n.startswith("torch"))
  return {"setting": dict(SINUSOID, second_order=True, scan_length=args.scan_length,
                          torch_threads=sorted({args.torch_threads, 1}, reverse=True)),
          "steps_per_s_best": best, "steps_per_s_median": median, "rounds": rounds,
          "torch_baseline": torch_best,
          "ratio_scan_vs_torch": best["jaxmeta_scan"] / best[torch_best],
          "ratio_step_vs_torch": best["jaxmeta_step"] / best[torch_best],
          "ratio_scan_vs_torch_median": median["jaxmeta_scan"] / torch_median,
          "cpu_load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
          "versions": {"jax": jax.__version__, "torch": torch.__version__}}


def _print_sinusoid_maml(res: dict):
  b, m = res["steps_per_s_best"], res["steps_per_s_median"]
  print("sinusoid MAML (second order, meta-batch 25, K=10): meta-steps/s, best [median] of rounds")
  for name in b:
    print(f"  {name:<18} {b[name]:>9.0f}  [{m[name]:.0f}]")
  print(f"  jaxmeta (lax.scan) / {res['torch_baseline']} = {res['ratio_scan_vs_torch']:.1f}x "
        f"(medians {res['ratio_scan_vs_torch_median']:.1f}x); "
        f"jaxmeta (one jitted step per call) / torch = {res['ratio_step_vs_torch']:.1f}x")
  if res.get("cpu_load_1min") is not None:
    print(f"  (1-min load average at the end: {res['cpu_load_1min']:.1f} on {os.cpu_count()} CPUs)")


# name -> (function(args) -> result dict, printer(result))
BENCHMARKS: dict[str, tuple[Callable, Callable]] = {
    "sinusoid_maml": (bench_sinusoid_maml, _print_sinusoid_maml),
}

# Omniglot image meta-learning (Conv-4): jaxmeta vs torch.func / higher / learn2learn.
from omniglot_speed import BENCHMARKS as _OMNIGLOT_BENCHMARKS  # noqa: E402
BENCHMARKS.update(_OMNIGLOT_BENCHMARKS)

# ProtoNet training episodes (60-way 5-shot 5-query, Conv-4): jaxmeta vs PyTorch (issue 6).
from protonet_speed import BENCHMARKS as _PROTONET_BENCHMARKS  # noqa: E402
BENCHMARKS.update(_PROTONET_BENCHMARKS)


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
  p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
  p.add_argument("--steps", type=int, default=4000, help="jaxmeta scan meta-steps per round "
                 "(the single-step variant runs 1/4 of this, torch 1/20)")
  p.add_argument("--scan-length", type=int, default=500, help="meta-steps per jitted lax.scan call")
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--torch-threads", type=int, default=2,
                 help="torch intra-op threads (sinusoid_maml also measures 1 thread and compares "
                      "with the faster of the two)")
  p.add_argument("--out", "--json", dest="out", type=Path, default=Path("runs/benchmarks/speed.json"),
                 help="results JSON (benchmarks/reproduce.py reads it)")
  p.add_argument("--quiet", action="store_true")
  args = p.parse_args(argv)
  unknown = [n for n in (args.only or []) if n not in BENCHMARKS]
  if unknown:
    p.error(f"--only: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
  for name in ("steps", "scan_length", "rounds"):
    if getattr(args, name) <= 0:
      p.error(f"--{name.replace('_', '-')} must be positive")
  if args.torch_threads <= 0:
    p.error("--torch-threads must be positive")
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  if args.list:
    for name, (fn, _) in BENCHMARKS.items():
      print(f"{name:<20} {(fn.__doc__ or '').strip().splitlines()[0]}")
    return 0
  from jaxmeta.checkpoint import atomic_write_json
  results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                         "processor": platform.processor() or platform.machine()},
             "benchmarks": {}}
  for name in args.only or list(BENCHMARKS):
    fn, show = BENCHMARKS[name]
    if not args.quiet:
      print(f"running {name} ...", file=sys.stderr)
    t0 = time.time()
    res = fn(args)
    res["wall_seconds"] = time.time() - t0
    results["benchmarks"][name] = res
    show(res)
  args.out.parent.mkdir(parents=True, exist_ok=True)
  atomic_write_json(args.out, results)
  print(f"results written to {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
