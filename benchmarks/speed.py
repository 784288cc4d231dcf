"""Throughput benchmarks: jaxmeta against equivalent PyTorch implementations (torch.func,
higher, learn2learn: the peers users would pick).

Each benchmark is a function in ``BENCHMARKS`` (name -> function(args) -> result dict);
add a section for a new setting by writing one more function and registering it there.
Every benchmark runs all implementations in this one process, alternating them for
``--rounds`` rounds so that load from other processes hits them alike, and reports the
best round of each and the ratio of jaxmeta to the fastest PyTorch peer. A peer that
cannot be imported is recorded under ``"skipped"``. Timings belong here, never in tests.

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


def _package_version(name: str):
  """Installed version of distribution ``name``, or None."""
  from importlib import metadata
  try:
    return metadata.version(name)
  except metadata.PackageNotFoundError:
    return None


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


def _torch_sinusoid_net(torch):
  """The MLP 1-40-40-1 ReLU as ``nn.Sequential`` (PyTorch's default initialisation)."""
  h1, h2 = SINUSOID["hidden"]
  return torch.nn.Sequential(torch.nn.Linear(1, h1), torch.nn.ReLU(), torch.nn.Linear(h1, h2),
                             torch.nn.ReLU(), torch.nn.Linear(h2, 1))


def _torch_sinusoid_batch(torch):
  """A meta-batch of sinusoid tasks sampled with torch: ``(xs, ys, xq, yq)``, [tasks, points, 1]."""
  s = SINUSOID
  n, k, q = s["meta_batch_size"], s["shots"], s["query"]
  amp = torch.empty(n, 1, 1).uniform_(0.1, 5.0)
  phase = torch.empty(n, 1, 1).uniform_(0.0, math.pi)
  x = torch.empty(n, k + q, 1).uniform_(-5.0, 5.0)
  y = amp * torch.sin(x - phase)
  return x[:, :k], y[:, :k], x[:, k:], y[:, k:]


def _torch_sinusoid_maml():
  """The same MAML step in PyTorch: ``functional_call`` + ``grad`` (through the inner
  step, second order) + ``vmap`` over tasks, tasks sampled with torch, torch Adam."""
  import torch
  from torch.func import functional_call, grad, vmap

  s = SINUSOID
  net = _torch_sinusoid_net(torch)
  params = {k: v.detach().clone() for k, v in net.named_parameters()}
  optimizer = torch.optim.Adam(list(params.values()), lr=s["outer_lr"])
  alpha = s["inner_lr"]

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
        grads = meta_grad(params, *_torch_sinusoid_batch(torch))
        for name, p in params.items():
          p.grad = grads[name]
        optimizer.step()

  return run


def _higher_sinusoid_maml():
  """higher: ``innerloop_ctx`` with a differentiable SGD step per task (second order),
  Python loop over the meta-batch, the query losses / 25 backpropagated, torch Adam."""
  import higher
  import torch

  s = SINUSOID
  model = _torch_sinusoid_net(torch)
  optimizer = torch.optim.Adam(model.parameters(), lr=s["outer_lr"])
  inner_opt = torch.optim.SGD(model.parameters(), lr=s["inner_lr"])
  mse, n = torch.nn.functional.mse_loss, s["meta_batch_size"]

  def run(steps):
    for _ in range(steps):
      xs, ys, xq, yq = _torch_sinusoid_batch(torch)
      optimizer.zero_grad()
      for t in range(n):
        with higher.innerloop_ctx(model, inner_opt,
                                  copy_initial_weights=False) as (fmodel, diffopt):
          diffopt.step(mse(fmodel(xs[t]), ys[t]))
          (mse(fmodel(xq[t]), yq[t]) / n).backward()
      optimizer.step()

  return run


def _learn2learn_sinusoid_maml():
  """learn2learn: ``MAML(first_order=False)``, ``clone()`` + ``adapt(loss)`` per task in a
  Python loop, the query losses / 25 backpropagated, torch Adam."""
  import learn2learn as l2l
  import torch

  s = SINUSOID
  maml = l2l.algorithms.MAML(_torch_sinusoid_net(torch), lr=s["inner_lr"], first_order=False)
  optimizer = torch.optim.Adam(maml.parameters(), lr=s["outer_lr"])
  mse, n = torch.nn.functional.mse_loss, s["meta_batch_size"]

  def run(steps):
    for _ in range(steps):
      xs, ys, xq, yq = _torch_sinusoid_batch(torch)
      optimizer.zero_grad()
      for t in range(n):
        learner = maml.clone()
        learner.adapt(mse(learner(xs[t]), ys[t]))
        (mse(learner(xq[t]), yq[t]) / n).backward()
      optimizer.step()

  return run


# PyTorch peers of the sinusoid benchmark: name -> (builder, divisor of --steps per round,
# warm-up steps). higher and learn2learn loop over the 25 tasks in Python, 5-10x slower than
# torch.func's vmap; 1/100 keeps their rounds at ~1-4 s with the default --steps 4000.
SINUSOID_PEERS = {"torch_func": (_torch_sinusoid_maml, 20, 20),
                  "higher": (_higher_sinusoid_maml, 100, 3),
                  "learn2learn": (_learn2learn_sinusoid_maml, 100, 3)}


def bench_sinusoid_maml(args) -> dict:
  """Second-order MAML meta-steps/s, sinusoid: jaxmeta vs torch.func, higher, learn2learn."""
  import jax
  import torch

  run_scan, run_step = _jaxmeta_sinusoid_maml(args.scan_length)

  def with_threads(fn, n):
    def run(steps):
      torch.set_num_threads(n)
      fn(steps)
    return run

  # name -> (run(steps), steps per round, warm-up steps)
  impls = {"jaxmeta_scan": (run_scan, args.steps, args.scan_length),
           "jaxmeta_step": (run_step, max(args.steps // 4, 1), 20)}
  # On a loaded machine torch's 2-thread OpenMP pool can stall on barriers (we saw 50x
  # slowdowns), so every peer is measured with 1 thread too, and the fastest configuration
  # of any peer is the baseline.
  threads = sorted({args.torch_threads, 1}, reverse=True)
  skipped, peer_configs = {}, {}
  for peer, (make, divisor, warm) in SINUSOID_PEERS.items():
    try:
      run_peer = make()
    except ImportError as e:
      skipped[peer] = f"not importable: {e}"
      continue
    peer_configs[peer] = [f"{peer}_{n}thr" for n in threads]
    for n, name in zip(threads, peer_configs[peer]):
      impls[name] = (with_threads(run_peer, n), max(args.steps // divisor, 1), warm)
  if not peer_configs:
    raise RuntimeError(f"no PyTorch peer could be imported: {skipped}")
  for fn, steps, warm in impls.values():  # compile / warm up
    fn(min(steps, warm))
  rounds = {name: [] for name in impls}
  for r in range(args.rounds):
    for name, (fn, steps, _) in impls.items():
      rounds[name].append(_timed(fn, steps))
    if not args.quiet:
      print(f"  round {r + 1}: " + ", ".join(f"{n} {_rate(v[-1])}/s" for n, v in rounds.items()),
            file=sys.stderr)
  best = {n: max(v) for n, v in rounds.items()}
  median = {n: float(np.median(v)) for n, v in rounds.items()}
  from omniglot_speed import fastest_peer_ratios
  r = fastest_peer_ratios(best, median, "jaxmeta_scan", peer_configs)
  versions = {"jax": jax.__version__, "torch": torch.__version__}
  versions.update({p: _package_version(p) for p in ("higher", "learn2learn") if p in peer_configs})
  return {"setting": dict(SINUSOID, second_order=True, scan_length=args.scan_length,
                          torch_threads=threads,
                          steps_per_round={n: s for n, (_, s, _) in impls.items()}),
          "steps_per_s_best": best, "steps_per_s_median": median, "rounds": rounds,
          "skipped": skipped,
          "torch_baseline": r["baseline"], "peer_baselines": r["peer_baselines"],
          "ratio_scan_vs_torch": r["ratio"],
          "ratio_step_vs_torch": best["jaxmeta_step"] / best[r["baseline"]],
          "ratio_scan_vs_torch_median": r["ratio_median"],
          "ratio_scan_vs_peer": r["ratio_vs_peer"],
          "ratio_scan_vs_peer_median": r["ratio_vs_peer_median"],
          "cpu_load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
          "versions": versions}


def _rate(v: float) -> str:
  return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def _print_sinusoid_maml(res: dict):
  b, m = res["steps_per_s_best"], res["steps_per_s_median"]
  print("sinusoid MAML (second order, meta-batch 25, K=10): meta-steps/s, best [median] of rounds")
  for name in b:
    print(f"  {name:<18} {_rate(b[name]):>9}  [{_rate(m[name])}]")
  for name, why in res.get("skipped", {}).items():
    print(f"  {name:<18} skipped ({why})")
  peers = res.get("ratio_scan_vs_peer", {})
  if peers:
    medians = res.get("ratio_scan_vs_peer_median", {})
    print("  jaxmeta (lax.scan) / each peer's faster thread setting: " + ", ".join(
        f"{p} {r:.1f}x (medians {medians.get(p, float('nan')):.1f}x)" for p, r in peers.items()))
  print(f"  jaxmeta (lax.scan) / best PyTorch peer ({res['torch_baseline']}) = "
        f"{res['ratio_scan_vs_torch']:.1f}x (medians {res['ratio_scan_vs_torch_median']:.1f}x); "
        f"jaxmeta (one jitted step per call) / best peer = {res['ratio_step_vs_torch']:.1f}x")
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

# Evaluation: 600 Omniglot tasks x 10 SGD steps, jaxmeta vs torch.func / higher / learn2learn.
from eval_speed import BENCHMARKS as _EVAL_BENCHMARKS  # noqa: E402
BENCHMARKS.update(_EVAL_BENCHMARKS)


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
  p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
  p.add_argument("--steps", type=int, default=4000, help="jaxmeta scan meta-steps per round "
                 "(the single-step variant runs 1/4 of this, torch.func 1/20, higher and "
                 "learn2learn 1/100)")
  p.add_argument("--scan-length", type=int, default=500, help="meta-steps per jitted lax.scan call")
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--torch-threads", type=int, default=2,
                 help="torch intra-op threads (sinusoid_maml also measures every PyTorch peer "
                      "with 1 thread and compares with the fastest configuration)")
  p.add_argument("--torch-device", choices=("auto", "cpu", "cuda"), default="auto",
                 help="where the PyTorch peers of the image MAML rows (omniglot_*, "
                      "miniimagenet_maml) run: auto = cuda when torch sees a GPU")
  p.add_argument("--gpu-float32", choices=("tf32", "full"), default="tf32",
                 help="on a GPU, how both frameworks run float32 matmuls and convolutions: "
                      "tf32 (JAX's default there) or full IEEE float32")
  p.add_argument("--round-seconds", type=float, default=0.0,
                 help="image MAML rows: run each implementation about this long per round "
                      "(0: a fixed 3 jaxmeta / 2 peer meta-steps, enough on a CPU)")
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
  if args.round_seconds < 0:
    p.error("--round-seconds must be >= 0")
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
