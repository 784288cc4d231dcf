"""This checkout's jaxmeta against another checkout's, side by side in ONE process.

A refactor must not slow the hot path. Timing two versions in two processes lets any load
on the machine land on one of them only; here both versions are imported into the same
process (the other one renamed ``jaxmeta_other``) and their compiled train loops are timed
in alternating rounds, so load hits both alike. The best round of each and their ratio
are reported.

Usage:
  git worktree add /tmp/jaxmeta-before main       # the version to compare with
  python benchmarks/compare_versions.py --other /tmp/jaxmeta-before --rounds 5

Workloads (the settings of ``benchmarks/speed.py``'s ``sinusoid_maml`` and
``omniglot_maml``): second-order MAML on sinusoid regression (MLP 40-40, K = 10, meta-batch
25, ``lax.scan`` of 500 steps per call); and on Omniglot-shaped tasks (5-way 1-shot, 15
queries, meta-batch 32, stride-2 Conv-4 64 with batch statistics, alpha 0.4, ``task_axis
auto``, random 28x28 images, 20 steps per call).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path


def load_other(checkout: Path):
  """The ``jaxmeta`` package of ``checkout``, imported as ``jaxmeta_other``."""
  src = Path(checkout) / "jaxmeta"
  if not (src / "__init__.py").exists():
    sys.exit(f"compare_versions: --other: {checkout} has no jaxmeta/ package")
  root = Path(tempfile.mkdtemp(prefix="jaxmeta_other_"))
  dst = root / "jaxmeta_other"
  shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
  for path in dst.rglob("*.py"):
    text = path.read_text()
    text = re.sub(r"\bjaxmeta(?=[.\s])", "jaxmeta_other", text)
    path.write_text(text)
  sys.path.insert(0, str(root))
  return importlib.import_module("jaxmeta_other")


def sinusoid_maml(jm, steps_per_call=500):
  import jax
  import optax
  task = jm.tasks.sinusoid(shots=10, query=10)
  algo = jm.algorithms.maml(jm.models.MLP((40, 40), 1), task, inner_lr=0.01, inner_steps=1)
  opt = optax.adam(1e-3)
  loop = jm.make_train_loop(task, algo, opt, 25, steps_per_call)
  return jm.init_state(jax.random.key(0), task, algo, opt), loop, steps_per_call


def omniglot_maml(jm, steps_per_call=20):
  import jax
  import jax.numpy as jnp
  import optax
  ways, shots, query, size = 5, 1, 15, 28
  n_s, n_q = ways * shots, ways * query

  def sample(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return jm.Episode(jax.random.uniform(k1, (n_s, size, size, 1)),
                      jax.random.permutation(k3, jnp.arange(n_s) % ways),
                      jax.random.uniform(k2, (n_q, size, size, 1)), jnp.arange(n_q) % ways)

  from_tasks = importlib.import_module(f"{jm.__name__}.tasks.episodes")
  task = jm.TaskDistribution("random-omniglot", sample, from_tasks.cross_entropy,
                             from_tasks.accuracy, "accuracy", ways)
  model = jm.models.Conv4(64, stride=2, pool=False, norm="batch", output_size=ways,
                          readout="mean", conv_impl="auto")
  algo = jm.algorithms.maml(model, task, inner_lr=0.4, inner_steps=1)
  opt = optax.adam(1e-3)
  loop = jm.make_train_loop(task, algo, opt, 32, steps_per_call, task_axis="auto")
  return jm.init_state(jax.random.key(0), task, algo, opt), loop, steps_per_call


WORKLOADS = {"sinusoid_maml": sinusoid_maml, "omniglot_maml": omniglot_maml}


def _runner(jm, workload):
  import jax
  state, loop, n = WORKLOADS[workload](jm)
  holder = {"state": state}
  key = jax.random.key(1)
  t0 = time.perf_counter()
  holder["state"], _ = loop(holder["state"], key)
  jax.block_until_ready(holder["state"])
  compile_s = time.perf_counter() - t0

  def run(calls):
    t = time.perf_counter()
    for _ in range(calls):
      holder["state"], _ = loop(holder["state"], key)
    jax.block_until_ready(holder["state"])
    return calls * n / (time.perf_counter() - t)
  return run, compile_s


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--other", type=Path, required=True, help="a checkout of the version to compare with")
  p.add_argument("--only", action="append", choices=sorted(WORKLOADS))
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--calls", type=int, default=4, help="jitted calls per round")
  p.add_argument("--out", type=Path, help="results JSON")
  args = p.parse_args(argv)
  if args.rounds <= 0 or args.calls <= 0:
    p.error("--rounds and --calls must be positive")
  import jaxmeta
  other = load_other(args.other)
  results = {"this": str(Path(jaxmeta.__file__).parents[1]), "other": str(args.other),
             "load_before": os.getloadavg()[0], "workloads": {}}
  for name in args.only or list(WORKLOADS):
    runs = {"this": _runner(jaxmeta, name), "other": _runner(other, name)}
    rates = {k: [] for k in runs}
    for _ in range(args.rounds):
      for k, (run, _) in runs.items():
        rates[k].append(run(args.calls))
    best = {k: max(v) for k, v in rates.items()}
    results["workloads"][name] = {
        "steps_per_s": best, "rounds": rates,
        "compile_s": {k: c for k, (_, c) in runs.items()},
        "ratio_this_over_other": best["this"] / best["other"]}
    print(f"{name:<14} this {best['this']:9.2f} steps/s   other {best['other']:9.2f} steps/s   "
          f"ratio {best['this'] / best['other']:.3f}   (compile {runs['this'][1]:.1f} s / "
          f"{runs['other'][1]:.1f} s)")
  results["load_after"] = os.getloadavg()[0]
  print(f"load average: {results['load_before']:.2f} before, {results['load_after']:.2f} after")
  if args.out:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())
