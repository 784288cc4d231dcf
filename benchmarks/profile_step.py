"""Where the Omniglot MAML meta-step spends its time: a ``jax.profiler`` trace of the jitted
step (the one ``benchmarks/omniglot_speed.py`` times), summarised as a table of the top
XLA operations and their share of the summed operation time.

  python benchmarks/profile_step.py                       # Omniglot 5w1s MAML, meta-batch 32
  python benchmarks/profile_step.py --algo fomaml --top 20 --json runs/benchmarks/profile.json

Each row is one operation of the compiled program (an XLA thunk: a fusion, a matmul, a
copy), timed on the XLA:CPU client's threads over ``--steps`` meta-steps after a warm-up;
``source`` is the JAX operation it was lowered from (HLO metadata ``op_name``, shortened).
Operations inside the ``lax.map`` over tasks are counted once per task. The ``kind`` table
groups the operations: ``matmul`` (dot / convolution as patches x kernel), ``conv``
(``lax`` convolutions), ``elementwise+reduce`` (loop and reduction fusions: batch norm,
ReLU, max-pool, softmax), ``copy/transpose`` (layout changes, incl. the patches' im2col
gathers), ``other``.
"""
from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Events that are not operations (the executor's own spans) or that contain other
# operations' events (while / conditional / call thunks: their bodies are counted).
_SKIP = ("ThreadpoolListener", "end: ", "ThunkExecutor")
_CONTAINERS = ("while", "conditional", "call")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(\(.*?\)|\S+)\s+([\w\-]+)\(")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_CALLS = re.compile(r"calls=%?([\w.\-]+)")


def hlo_index(hlo_text: str) -> dict:
  """``instruction name -> (opcode, shape, op_name, called computation)`` from HLO text."""
  index = {}
  for line in hlo_text.splitlines():
    m = _INSTRUCTION.match(line)
    if not m:
      continue
    name, shape, opcode = m.groups()
    op_name = _OP_NAME.search(line)
    calls = _CALLS.search(line)
    index[name] = (opcode, shape, op_name.group(1) if op_name else "",
                   calls.group(1) if calls else "")
  return index


def computation_opcodes(hlo_text: str) -> dict:
  """``computation name -> set of opcodes inside it`` (what a fusion computes)."""
  out, current = {}, None
  for line in hlo_text.splitlines():
    head = re.match(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$", line)
    if head and "=" not in line.split("{")[0]:
      current = head.group(1)
      out[current] = set()
      continue
    m = _INSTRUCTION.match(line)
    if m and current is not None:
      out[current].add(m.group(3))
  return out


def kind_of(opcode: str, inner: set) -> str:
  ops = {opcode} | inner
  if ops & {"dot"} or (opcode == "custom-call" and not inner):
    return "matmul"
  if "convolution" in ops:
    return "conv"
  if ops <= {"copy", "transpose", "bitcast", "reshape", "slice", "concatenate", "pad",
             "dynamic-slice", "dynamic-update-slice", "parameter", "tuple",
             "get-tuple-element", "broadcast", "constant"}:
    return "copy/transpose"
  if opcode == "fusion" or ops & {"reduce", "add", "multiply", "maximum", "select", "exponential"}:
    return "elementwise+reduce"
  return "other"


def short_source(op_name: str) -> str:
  """``jit(step)/.../jvp(conv2d)/dot_general`` -> its last three parts."""
  return "/".join(op_name.split("/")[-3:]) if op_name else ""


def profile_events(run, steps: int) -> dict:
  """``operation name -> (calls, total ns)`` over ``run(steps)`` under ``jax.profiler``."""
  import jax
  from jax.profiler import ProfileData
  trace_dir = tempfile.mkdtemp(prefix="jaxmeta-profile-")
  with jax.profiler.trace(trace_dir):
    run(steps)
  path = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)[0]
  totals = collections.defaultdict(lambda: [0, 0.0])
  for plane in ProfileData.from_file(path).planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      if not line.name.startswith("tf_XLA"):
        continue
      for event in line.events:
        if event.name.startswith(_SKIP) or event.duration_ns <= 0:
          continue
        totals[event.name][0] += 1
        totals[event.name][1] += event.duration_ns
  return {name: tuple(v) for name, v in totals.items()}


def summarise(events: dict, hlo_text: str, steps: int, top: int) -> dict:
  index, inner = hlo_index(hlo_text), computation_opcodes(hlo_text)
  events = {n: v for n, v in events.items()
            if index.get(n.split(":")[0], ("?",))[0] not in _CONTAINERS}
  total = sum(ns for _, ns in events.values()) or 1.0
  rows, kinds = [], collections.defaultdict(float)
  for name, (calls, ns) in sorted(events.items(), key=lambda kv: -kv[1][1]):
    base = name.split(":")[0]
    opcode, shape, op_name, called = index.get(base, ("?", "", "", ""))
    kind = kind_of(opcode, inner.get(called, set()))
    kinds[kind] += ns
    rows.append({"op": name, "kind": kind, "opcode": opcode, "shape": shape[:60],
                 "source": short_source(op_name), "calls_per_step": calls / steps,
                 "ms_per_step": ns / steps / 1e6, "share": ns / total})
  return {"steps": steps, "op_ms_per_step": total / steps / 1e6, "top": rows[:top],
          "ops_counted": len(rows),
          "by_kind": {k: {"ms_per_step": v / steps / 1e6, "share": v / total}
                      for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}}


def print_summary(res: dict):
  print(f"{res['setting']}: {res['op_ms_per_step']:.0f} ms of XLA operations per meta-step "
        f"({res['ops_counted']} distinct operations; wall {res['wall_ms_per_step']:.0f} ms/step)")
  print("| operation | kind | source (JAX op) | output shape | calls/step | ms/step | share |")
  print("|---|---|---|---|---:|---:|---:|")
  for r in res["top"]:
    print(f"| `{r['op']}` | {r['kind']} | `{r['source']}` | `{r['shape']}` | "
          f"{r['calls_per_step']:.0f} | {r['ms_per_step']:.1f} | {100 * r['share']:.1f} % |")
  print("\n| kind | ms/step | share |\n|---|---:|---:|")
  for kind, v in res["by_kind"].items():
    print(f"| {kind} | {v['ms_per_step']:.1f} | {100 * v['share']:.1f} % |")


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--algo", default="maml", choices=("maml", "fomaml", "anil"),
                 help="the algorithm of the profiled step (default maml)")
  p.add_argument("--setting", default="omniglot", choices=("omniglot", "miniimagenet"),
                 help="omniglot_speed.py's OMNIGLOT or MINIIMAGENET setting")
  p.add_argument("--steps", type=int, default=3, help="profiled meta-steps (after a warm-up)")
  p.add_argument("--top", type=int, default=15, help="rows of the operation table")
  p.add_argument("--json", type=Path, default=None, help="also write the summary as JSON")
  args = p.parse_args(argv)
  if args.steps <= 0:
    p.error("--steps must be positive")
  if args.top <= 0:
    p.error("--top must be positive")
  return args


def main(argv=None) -> int:
  args = parse_args(argv)
  import time
  import omniglot_speed
  s = {"omniglot": omniglot_speed.OMNIGLOT, "miniimagenet": omniglot_speed.MINIIMAGENET}[
      args.setting]
  run, _, _ = omniglot_speed._jaxmeta_step(args.algo, s=s)
  run(1)  # warm-up
  t0 = time.perf_counter()
  run(args.steps)
  wall = (time.perf_counter() - t0) / args.steps
  events = profile_events(run, args.steps)
  res = summarise(events, run.compiled.as_text(), args.steps, args.top)
  res["setting"] = f"{args.setting} {args.algo}"
  res["wall_ms_per_step"] = wall * 1e3
  res["cpu_load_1min"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
  print_summary(res)
  if args.json:
    from jaxmeta.checkpoint import atomic_write_json
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.json, res)
  return 0


if __name__ == "__main__":
  sys.exit(main())
