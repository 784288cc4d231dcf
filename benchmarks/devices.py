"""Meta-steps per second on 1, 2, 4, 8 devices at a fixed global meta-batch (issue 13).

Each device count runs in its own subprocess with that many simulated CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=N``), training through
``make_train_loop(..., mesh=task_mesh(N))`` (N = 1: no mesh, today's program). Besides
the speed, each child reads from the compiled step: the FLOPs each device runs
(``compiled.cost_analysis()``, the partitioned per-device program) and the bytes its
all-reduces move (summed from the shapes of the ``all-reduce`` instructions in the
compiled HLO). Simulated devices share the host's cores, so they cannot be faster than
one; the FLOPs and bytes let us project what 8 real accelerators would do.

Usage:
  python benchmarks/devices.py --data-dir /work/shared/data/omniglot
  python benchmarks/devices.py --cases sinusoid --devices 1,2,4,8

Writes ``--out`` (JSON, default runs/benchmarks/devices.json) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

# One meta-step's work: the paper settings, at a global meta-batch that 8 divides.
CASES = {
    # Finn et al. 2017 sec. 5.1: MLP 40-40, 1 inner step, K = 10; meta-batch 25 -> 32.
    "sinusoid": dict(task="sinusoid", algo="maml", meta_batch_size=32, steps_per_call=50,
                     calls=2),
    # MAML Omniglot 5-way 1-shot: Conv-4 (64 filters, stride 2), 1 inner step at 0.4,
    # the paper's meta-batch of 32.
    "omniglot": dict(preset="maml-omniglot-5w1s", meta_batch_size=32, steps_per_call=2,
                     calls=2),
}

_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "f64": 8, "s32": 4, "u32": 4, "s64": 8, "u8": 1,
          "pred": 1, "s8": 1}


def allreduce_bytes(hlo: str) -> tuple[int, int]:
  """(number of all-reduce instructions, bytes of their results) in compiled HLO text.

  Read from the compiled single step: its all-reduces run once per meta-step."""
  count, total = 0, 0
  for line in hlo.splitlines():
    line = re.sub(r"/\*.*?\*/", "", line)   # long tuples carry /*index=5*/ comments
    m = re.search(r"=\s*(\(?[^=]*?\)?)\s+all-reduce(-start)?\(", line)
    if not m:
      continue
    count += 1
    for dtype, dims in re.findall(r"(\w+)\[([\d,]*)\]", m.group(1)):
      n = 1
      for d in filter(None, dims.split(",")):
        n *= int(d)
      total += n * _BYTES.get(dtype, 4)
  return count, total


def child(case: str, devices: int, data_dir: str | None) -> dict:
  import jax
  import numpy as np
  from jaxmeta import parallel, registry
  from jaxmeta.config import from_preset, validate
  from jaxmeta.train import init_state, make_train_loop, make_train_step

  spec = dict(CASES[case])
  calls, steps = spec.pop("calls"), spec.pop("steps_per_call")
  preset = spec.pop("preset", None)
  config = validate(from_preset(preset, data_dir=data_dir, **spec))
  mesh = None if devices == 1 else parallel.task_mesh(devices)
  with parallel.placing_data_on(mesh):
    task = registry.build_task(config, "train")
  algo = registry.build_algorithm(config, task)
  optimizer = registry.build_optimizer(config)
  loop = make_train_loop(task, algo, optimizer, config.meta_batch_size, steps,
                         task_axis=config.task_axis, mesh=mesh)
  state = init_state(jax.random.key(0), task, algo, optimizer, mesh)
  key = jax.random.key(1)
  # FLOPs and bytes from the single step, tasks vmapped (XLA's cost analysis counts a
  # loop body once: neither the scan over steps nor lax.map over tasks would be counted).
  step = make_train_step(task, algo, optimizer, config.meta_batch_size,
                         task_axis="vmap", donate=False, mesh=mesh)
  compiled = step.lower(state, key).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  n_reduce, reduce_bytes = allreduce_bytes(compiled.as_text())
  t0 = time.perf_counter()
  state, metrics = loop(state, key)            # compiles, and warms up
  jax.block_until_ready(metrics)
  first_s = time.perf_counter() - t0
  times = []
  for _ in range(calls):
    t0 = time.perf_counter()
    state, metrics = loop(state, key)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t0)
  best = min(times)
  return {"case": case, "devices": devices, "meta_batch_size": config.meta_batch_size,
          "steps_per_s": steps / best, "steps_per_s_all": [steps / t for t in times],
          "first_call_s": first_s,
          "flops_per_step_per_device": float(cost.get("flops", float("nan"))),
          "allreduces_per_step": n_reduce, "allreduce_bytes_per_step": reduce_bytes,
          "params_bytes": int(sum(np.asarray(v).nbytes for v in jax.tree.leaves(state.params))),
          "loss": float(np.asarray(metrics["loss"])[-1])}


def project(rows: list[dict], flops_per_s: float, link_bytes_per_s: float,
            latency_s: float) -> dict:
  """Meta-steps/s on N accelerators: each device runs its measured per-device FLOPs at
  ``flops_per_s``, then a ring all-reduce moves ``2 (N - 1) / N`` times the reduced bytes
  over a link of ``link_bytes_per_s``, plus ``latency_s`` per all-reduce."""
  out = {}
  for r in rows:
    n = r["devices"]
    compute = r["flops_per_step_per_device"] / flops_per_s
    comm = 0.0 if n == 1 else (2 * (n - 1) / n * r["allreduce_bytes_per_step"] / link_bytes_per_s
                               + latency_s * r["allreduces_per_step"])
    out[n] = 1.0 / (compute + comm)
  return {n: {"steps_per_s": v, "efficiency": v / (n * out[min(out)])} for n, v in out.items()}


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--cases", default="sinusoid,omniglot")
  p.add_argument("--devices", default="1,2,4,8")
  p.add_argument("--data-dir", default=os.environ.get("JAXMETA_DATA"))
  p.add_argument("--out", type=Path, default=Path("runs/benchmarks/devices.json"))
  # Projection assumptions: an accelerator sustaining 20 TFLOP/s fp32 on these small
  # convolutions, 100 GB/s per link (NVLink-class), 20 us per all-reduce.
  p.add_argument("--flops-per-s", type=float, default=20e12)
  p.add_argument("--link-bytes-per-s", type=float, default=100e9)
  p.add_argument("--latency-s", type=float, default=20e-6)
  p.add_argument("--child", nargs=2, metavar=("CASE", "DEVICES"), help=argparse.SUPPRESS)
  args = p.parse_args()
  if args.child:
    print(json.dumps(child(args.child[0], int(args.child[1]), args.data_dir)))
    return
  rows = []
  for case in args.cases.split(","):
    for n in map(int, args.devices.split(",")):
      env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
                 JAX_PLATFORMS="cpu")
      cmd = [sys.executable, __file__, "--child", case, str(n)]
      if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
      proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
      if proc.returncode:
        sys.exit(f"{case} on {n} devices failed:\n{proc.stderr[-3000:]}")
      rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
      r = rows[-1]
      print(f"{case:9s} {n} devices: {r['steps_per_s']:8.2f} steps/s, "
            f"{r['flops_per_step_per_device'] / 1e6:10.2f} MFLOP/step/device, "
            f"{r['allreduces_per_step']} all-reduce(s) of {r['allreduce_bytes_per_step']} B/step, "
            f"first call (compiles) {r['first_call_s']:.1f} s", flush=True)
  result = {"rows": rows, "projection": {}, "load": os.getloadavg(),
            "assumptions": {"flops_per_s": args.flops_per_s,
                            "link_bytes_per_s": args.link_bytes_per_s,
                            "latency_s": args.latency_s}}
  print(f"\n{'case':9s} {'N':>2s} {'steps/s':>9s} {'eff.':>6s} {'MFLOP/dev':>10s} "
        f"{'comm B':>8s} {'proj. steps/s':>13s} {'proj. eff.':>10s}")
  for case in dict.fromkeys(r["case"] for r in rows):
    mine = [r for r in rows if r["case"] == case]
    base = next((r for r in mine if r["devices"] == 1), mine[0])
    proj = project(mine, args.flops_per_s, args.link_bytes_per_s, args.latency_s)
    result["projection"][case] = proj
    for r in mine:
      n = r["devices"]
      r["efficiency"] = r["steps_per_s"] / (n * base["steps_per_s"]) * base["devices"]
      print(f"{case:9s} {n:2d} {r['steps_per_s']:9.2f} {r['efficiency']:6.2f} "
            f"{r['flops_per_step_per_device'] / 1e6:10.2f} {r['allreduce_bytes_per_step']:8d} "
            f"{proj[n]['steps_per_s']:13.0f} {proj[n]['efficiency']:10.2f}")
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(json.dumps(result, indent=2))
  print(f"\nload average {os.getloadavg()}; wrote {args.out}")


if __name__ == "__main__":
  main()
