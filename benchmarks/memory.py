"""Peak memory of second-order MAML (or the meta-LSTM) vs inner steps k, with and without ``--remat``.

Second-order MAML keeps every inner step's activations for the backward pass, so its
memory grows linearly with k; ``remat=True`` wraps the inner-step body in
``jax.checkpoint`` so only each step's parameters are kept and the step is recomputed in
the backward pass. Memory is XLA's compiled memory analysis of the whole jitted
meta-step (arguments + outputs + temporaries, minus aliased/donated buffers): what the
program needs, independent of the allocator and of the load on the machine.

Usage:
  python benchmarks/memory.py                       # Omniglot 5w5s, meta-batch 32, vmap
  python benchmarks/memory.py --shots 1 --steps 1,5,10,20 --json runs/benchmarks/memory.json
  python benchmarks/memory.py --algo meta-lstm --shots 1 --meta-batch-size 1 --filters 32 \
      --task-axis map --steps 1,4,12,24     # Ravi & Larochelle's learner; k = updates T

The meta-batch is vmapped (``--task-axis vmap``, the GPU/TPU path, where memory matters);
with ``lax.map`` only one task's activations are live at a time.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def step_memory(inner_steps: int, remat: bool, *, ways=5, shots=5, query=15, meta_batch_size=32,
                filters=64, size=28, task_axis="vmap", conv_impl="auto", algo="maml") -> dict:
  """Compiled memory analysis (bytes) of one jitted meta-step."""
  import jax
  import jax.numpy as jnp
  import optax
  import jaxmeta
  from jaxmeta.models.conv import Conv4
  from jaxmeta.tasks.episodes import accuracy, cross_entropy
  from jaxmeta.types import Episode, TaskDistribution

  def sample(key):
    k1, k2 = jax.random.split(key)
    return Episode(jax.random.uniform(k1, (ways * shots, size, size, 1)), jnp.arange(ways * shots) % ways,
                   jax.random.uniform(k2, (ways * query, size, size, 1)), jnp.arange(ways * query) % ways)

  task = TaskDistribution("random-omniglot", sample, cross_entropy, accuracy, "accuracy", ways)
  if algo == "meta-lstm":
    # The paper's learner (conv4-pool: stride-1 convs, 2x2 max-pools, flattened, linear head).
    from jaxmeta.algorithms.meta_lstm import meta_lstm
    model = Conv4(filters, stride=1, pool=True, norm="batch", output_size=ways, readout="flatten",
                  conv_impl=conv_impl)
    algorithm = meta_lstm(model, task, meta_lstm_updates=inner_steps, remat=remat)
  else:
    model = Conv4(filters, stride=2, norm="batch", output_size=ways, readout="mean",
                  conv_impl=conv_impl)
    algorithm = getattr(jaxmeta.algorithms, algo)(model, task, inner_lr=0.4,
                                                  inner_steps=inner_steps, remat=remat)
  opt = optax.adam(1e-3)
  state = jax.eval_shape(lambda k: jaxmeta.init_state(k, task, algorithm, opt), jax.random.key(0))
  step = jaxmeta.make_train_step(task, algorithm, opt, meta_batch_size, task_axis=task_axis)
  t0 = time.perf_counter()
  compiled = step.lower(state, jax.random.key(1)).compile()
  m = compiled.memory_analysis()
  total = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
           - m.alias_size_in_bytes)
  return {"inner_steps": inner_steps, "remat": remat, "peak_bytes": int(total),
          "temp_bytes": int(m.temp_size_in_bytes), "argument_bytes": int(m.argument_size_in_bytes),
          "compile_seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--steps", default="1,5,10,20", help="inner steps k, comma-separated")
  p.add_argument("--ways", type=int, default=5)
  p.add_argument("--shots", type=int, default=5)
  p.add_argument("--query", type=int, default=15)
  p.add_argument("--meta-batch-size", type=int, default=32)
  p.add_argument("--filters", type=int, default=64)
  p.add_argument("--task-axis", default="vmap", choices=("vmap", "map"))
  p.add_argument("--conv-impl", default="auto", choices=("auto", "lax", "patches"))
  p.add_argument("--algo", default="maml", choices=("maml", "metasgd", "anil", "meta-lstm"))
  p.add_argument("--out", "--json", dest="out", type=Path,
                 help="results JSON (benchmarks/reproduce.py reads its peak_mib)")
  args = p.parse_args(argv)
  try:
    ks = [int(k) for k in args.steps.split(",")]
  except ValueError:
    p.error(f"--steps: expected comma-separated integers, got {args.steps!r}")
  if any(k < 1 for k in ks):
    p.error("--steps: every k must be >= 1")
  import jax
  rows = []
  for k in ks:
    for remat in (False, True):
      r = step_memory(k, remat, ways=args.ways, shots=args.shots, query=args.query,
                      meta_batch_size=args.meta_batch_size, filters=args.filters,
                      task_axis=args.task_axis, conv_impl=args.conv_impl, algo=args.algo)
      rows.append(r)
      print(f"k={k:<3} remat={str(remat):<5} peak {r['peak_bytes'] / 2**20:8.1f} MiB "
            f"(temp {r['temp_bytes'] / 2**20:.1f}), compile {r['compile_seconds']:.1f} s",
            file=sys.stderr)
  base = {r["remat"]: r["peak_bytes"] for r in rows if r["inner_steps"] == ks[0]}
  print(f"{args.algo}, {args.ways}-way {args.shots}-shot, {args.query} query, meta-batch "
        f"{args.meta_batch_size}, Conv-4 {args.filters}, task axis {args.task_axis}, "
        f"backend {jax.default_backend()}: compiled peak memory (MiB)")
  print(f"{'k':>4} {'no remat':>10} {'remat':>10}   (ratio to k={ks[0]})")
  for k in ks:
    a, b = (next(r["peak_bytes"] for r in rows if r["inner_steps"] == k and r["remat"] == f)
            for f in (False, True))
    print(f"{k:>4} {a / 2**20:>10.1f} {b / 2**20:>10.1f}   ({a / base[False]:.2f}x, {b / base[True]:.2f}x)")
  if args.out is not None:
    from jaxmeta.checkpoint import atomic_write_json
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # peak_mib: k -> {"no_remat", "remat"}, the numbers of RESULTS.md's memory table.
    peak = {str(r["inner_steps"]): {} for r in rows}
    for r in rows:
      peak[str(r["inner_steps"])]["remat" if r["remat"] else "no_remat"] = r["peak_bytes"] / 2**20
    atomic_write_json(args.out, {"args": {k: str(v) for k, v in vars(args).items()},
                                 "backend": jax.default_backend(), "rows": rows,
                                 "peak_mib": peak})
  return 0


if __name__ == "__main__":
  sys.exit(main())
