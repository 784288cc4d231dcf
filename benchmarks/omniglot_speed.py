"""Omniglot-shaped meta-learning speed: jaxmeta vs PyTorch peers (torch.func, higher,
learn2learn), side by side in one process. Registered in ``benchmarks/speed.py``:

  python benchmarks/speed.py --only omniglot_maml --rounds 3      # vs torch.func, higher, learn2learn
  python benchmarks/speed.py --only omniglot_fomaml --rounds 3     # MAML and FOMAML vs learn2learn's
  python benchmarks/speed.py --only omniglot_anil --rounds 3       # MAML and ANIL vs learn2learn's
  python benchmarks/speed.py --only miniimagenet_maml --rounds 3   # 84x84x3, 5 inner steps
  python benchmarks/speed.py --only omniglot_algos                 # jaxmeta's algorithms alone
  python benchmarks/speed.py --only omniglot_maml --rounds 3 --round-seconds 1   # on a GPU:
      # the peers on cuda too, ~1 s rounds, --gpu-float32 tf32|full on both sides

Omniglot setting (``OMNIGLOT``, the issue's, MAML code's Omniglot network): 5-way 1-shot,
15 query per class, meta-batch 32, one inner SGD step (alpha 0.4), second order, Conv-4
with 64 filters, 3x3 stride-2 "SAME" convolutions, batch-statistics normalisation, ReLU,
spatial mean, linear head; Adam 1e-3; 28x28x1 random images. ``MINIIMAGENET`` is MAML's
mini-ImageNet network (see there). Every implementation computes the same meta-step (the
PyTorch ones with ``padding=1``, the same FLOPs).

FLOPs per meta-step come from XLA's cost analysis of the vmapped step (a ``lax.map``
loop body is counted once, so the vmapped program is the one to count); achieved GFLOP/s
is compared with a 2048^3 float32 matmul timed in the same rounds.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

OMNIGLOT = dict(ways=5, shots=1, query=15, meta_batch_size=32, inner_lr=0.4, inner_steps=1,
                filters=64, image_size=28, channels=1, stride=2, pool=False, readout="mean",
                outer_lr=1e-3)
# Issue 14's mini-ImageNet-shaped row (MAML's mini-ImageNet network): 84x84x3, Conv-4 with
# 32 filters, stride-1 "SAME" 3x3 convolutions, batch norm, ReLU, 2x2 max-pool (84 -> 5),
# flattened 800 features, 5-way 1-shot, 15 queries, 5 inner SGD steps (alpha 0.01),
# meta-batch 4, second order.
MINIIMAGENET = dict(ways=5, shots=1, query=15, meta_batch_size=4, inner_lr=0.01, inner_steps=5,
                    filters=32, image_size=84, channels=3, stride=1, pool=True, readout="flatten",
                    outer_lr=1e-3)


def _timed(fn, steps):
  t0 = time.perf_counter()
  fn(steps)
  return steps / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------- jaxmeta
def _random_task(s=OMNIGLOT):
  import jax
  import jax.numpy as jnp
  from jaxmeta.tasks.episodes import accuracy, cross_entropy
  from jaxmeta.types import Episode, TaskDistribution
  n_s, n_q, size, c = s["ways"] * s["shots"], s["ways"] * s["query"], s["image_size"], s["channels"]

  def sample(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return Episode(jax.random.uniform(k1, (n_s, size, size, c)),
                   jax.random.permutation(k3, jnp.arange(n_s) % s["ways"]),
                   jax.random.uniform(k2, (n_q, size, size, c)), jnp.arange(n_q) % s["ways"])

  return TaskDistribution(f"random-{size}x{size}x{c}", sample, cross_entropy, accuracy, "accuracy",
                          s["ways"])


def _jaxmeta_step(algo_name="maml", conv_impl="auto", task_axis="auto", inner_steps=None,
                  s=OMNIGLOT):
  """(run(steps), compile_seconds, flops_per_step) for one jaxmeta configuration."""
  import jax
  import optax
  import jaxmeta
  from jaxmeta.models.conv import Conv4

  task = _random_task(s)
  model = Conv4(s["filters"], stride=s["stride"], pool=s["pool"], norm="batch",
                output_size=s["ways"], readout=s["readout"], conv_impl=conv_impl)
  k = s["inner_steps"] if inner_steps is None else inner_steps
  factory = getattr(jaxmeta.algorithms, algo_name)
  algo = factory(model, task, inner_lr=s["inner_lr"], inner_steps=k)
  opt = optax.adam(s["outer_lr"])
  state = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  step = jaxmeta.make_train_step(task, algo, opt, s["meta_batch_size"], task_axis=task_axis)
  t0 = time.perf_counter()
  compiled = step.lower(state, jax.random.key(1)).compile()
  compile_s = time.perf_counter() - t0
  counted = jaxmeta.make_train_step(task, algo, opt, s["meta_batch_size"], task_axis="vmap")
  cost = counted.lower(state, jax.random.key(1)).cost_analysis()
  if cost is None:  # XLA:GPU counts only compiled programs (there the step vmaps already)
    cost = compiled.cost_analysis()
  cost = (cost[0] if isinstance(cost, (list, tuple)) else cost) or {}
  flops = float(cost.get("flops", float("nan")))
  holder = {"state": state, "i": 0}

  def run(steps):
    st = holder["state"]
    for _ in range(steps):
      holder["i"] += 1
      st, metrics = compiled(st, jax.random.key(holder["i"]))
    jax.block_until_ready(metrics)
    holder["state"] = st

  run.compiled = compiled  # benchmarks/profile_step.py reads its HLO
  return run, compile_s, flops


def _matmul_peak():
  """``run(n)`` of n 2048^3 float32 matmuls, and its FLOPs per call."""
  import jax
  import jax.numpy as jnp
  a = jax.random.normal(jax.random.key(0), (2048, 2048), jnp.float32)
  f = jax.jit(lambda a: a @ a)
  jax.block_until_ready(f(a))

  def run(steps):
    for _ in range(steps):
      out = f(a)
    jax.block_until_ready(out)

  return run, 2.0 * 2048 ** 3


# ----------------------------------------------------------------------------- PyTorch
def _feature_size(s) -> int:
  """Width of the Conv-4 readout: ``filters`` (spatial mean) or the flattened last map."""
  if s["readout"] == "mean":
    return s["filters"]
  side = s["image_size"]
  for _ in range(4):
    side = -(-side // s["stride"])  # "SAME" convolution
    side = side // 2 if s["pool"] else side
  return s["filters"] * side * side


def _device(s) -> str:
  """The setting's torch device: ``"cpu"`` unless :func:`_compare` put the peers on a GPU."""
  return s.get("device", "cpu")


def _torch_init(torch, s=OMNIGLOT):
  g = torch.Generator().manual_seed(0)
  params = {}
  cin = s["channels"]
  for i in range(4):
    bound = math.sqrt(6.0 / (9 * cin + 9 * s["filters"]))
    params[f"w{i}"] = (torch.rand(s["filters"], cin, 3, 3, generator=g) * 2 - 1) * bound
    params[f"scale{i}"] = torch.ones(s["filters"])
    params[f"shift{i}"] = torch.zeros(s["filters"])
    cin = s["filters"]
  d = _feature_size(s)
  params["head_w"] = torch.randn(s["ways"], d, generator=g) / math.sqrt(d)
  params["head_b"] = torch.zeros(s["ways"])
  return {k: v.to(_device(s)) for k, v in params.items()}


def _torch_forward(F, p, x, s=OMNIGLOT):
  h = x
  for i in range(4):
    h = F.conv2d(h, p[f"w{i}"], stride=s["stride"], padding=1)
    h = F.batch_norm(h, None, None, p[f"scale{i}"], p[f"shift{i}"], training=True)
    h = F.relu(h)
    if s["pool"]:
      h = F.max_pool2d(h, 2)
  h = h.mean(dim=(2, 3)) if s["readout"] == "mean" else h.flatten(1)
  return F.linear(h, p["head_w"], p["head_b"])


def _torch_batch(torch, s=OMNIGLOT):
  b, n_s, n_q = s["meta_batch_size"], s["ways"] * s["shots"], s["ways"] * s["query"]
  size, c = s["image_size"], s["channels"]
  dev = _device(s)  # sampled where the step runs, as jaxmeta samples inside its jitted step
  xs = torch.rand(b, n_s, c, size, size, device=dev)
  ys = torch.arange(n_s, device=dev).remainder(s["ways"]).repeat(b, 1)
  xq = torch.rand(b, n_q, c, size, size, device=dev)
  yq = torch.arange(n_q, device=dev).remainder(s["ways"]).repeat(b, 1)
  return xs, ys, xq, yq


def _torch_func(s=OMNIGLOT):
  """torch.func: ``grad`` through the inner ``grad`` (second order), ``vmap`` over tasks."""
  import torch
  import torch.nn.functional as F
  from torch.func import grad, vmap
  params = {k: v.requires_grad_() for k, v in _torch_init(torch, s).items()}
  opt = torch.optim.Adam(params.values(), lr=s["outer_lr"])
  loss = lambda p, x, y: F.cross_entropy(_torch_forward(F, p, x, s), y)

  def task_loss(p, xs, ys, xq, yq):
    for _ in range(s["inner_steps"]):
      g = grad(loss)(p, xs, ys)
      p = {k: p[k] - s["inner_lr"] * g[k] for k in p}
    return loss(p, xq, yq)

  def meta_loss(p, xs, ys, xq, yq):
    return vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(p, xs, ys, xq, yq).mean()

  def run(steps):
    for _ in range(steps):
      batch = _torch_batch(torch, s)
      grads = grad(meta_loss)({k: v.detach() for k, v in params.items()}, *batch)
      for k, v in params.items():
        v.grad = grads[k]
      opt.step()

  return run


def _torch_body(s=OMNIGLOT):
  """The Conv-4 body as a ``torch.nn.Sequential`` (features, no head)."""
  import torch
  layers, cin = [], s["channels"]
  for _ in range(4):
    layers += [torch.nn.Conv2d(cin, s["filters"], 3, stride=s["stride"], padding=1, bias=False),
               torch.nn.BatchNorm2d(s["filters"], track_running_stats=False), torch.nn.ReLU()]
    if s["pool"]:
      layers.append(torch.nn.MaxPool2d(2))
    cin = s["filters"]
  if s["readout"] == "mean":
    layers.append(torch.nn.AdaptiveAvgPool2d(1))
  return torch.nn.Sequential(*layers, torch.nn.Flatten()).to(_device(s))


def _torch_module(s=OMNIGLOT):
  import torch
  return torch.nn.Sequential(_torch_body(s),
                             torch.nn.Linear(_feature_size(s), s["ways"])).to(_device(s))


def _higher(s=OMNIGLOT):
  """higher: ``innerloop_ctx`` with differentiable SGD, Python loop over tasks."""
  import higher
  import torch
  import torch.nn.functional as F
  model = _torch_module(s)
  opt = torch.optim.Adam(model.parameters(), lr=s["outer_lr"])
  inner_opt = torch.optim.SGD(model.parameters(), lr=s["inner_lr"])

  def run(steps):
    for _ in range(steps):
      xs, ys, xq, yq = _torch_batch(torch, s)
      opt.zero_grad()
      for t in range(s["meta_batch_size"]):
        with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
          for _ in range(s["inner_steps"]):
            diffopt.step(F.cross_entropy(fmodel(xs[t]), ys[t]))
          (F.cross_entropy(fmodel(xq[t]), yq[t]) / s["meta_batch_size"]).backward()
      opt.step()

  return run


def _learn2learn(s=OMNIGLOT, first_order=False):
  """learn2learn: ``MAML(...).clone().adapt(loss)``, Python loop over tasks."""
  import learn2learn as l2l
  import torch
  import torch.nn.functional as F
  maml = l2l.algorithms.MAML(_torch_module(s), lr=s["inner_lr"], first_order=first_order)
  opt = torch.optim.Adam(maml.parameters(), lr=s["outer_lr"])

  def run(steps):
    for _ in range(steps):
      xs, ys, xq, yq = _torch_batch(torch, s)
      opt.zero_grad()
      for t in range(s["meta_batch_size"]):
        learner = maml.clone()
        for _ in range(s["inner_steps"]):
          learner.adapt(F.cross_entropy(learner(xs[t]), ys[t]))
        (F.cross_entropy(learner(xq[t]), yq[t]) / s["meta_batch_size"]).backward()
      opt.step()

  return run


def _learn2learn_anil(s=OMNIGLOT):
  """learn2learn's ANIL as its ANIL example builds it (a plain body module, the head wrapped
  in ``MAML``, second order through the head's adaptation). The body runs once on the
  support and once on the query images of each task, as jaxmeta's ANIL does (batch
  statistics per set; the example runs it once over both)."""
  import learn2learn as l2l
  import torch
  import torch.nn.functional as F
  body = _torch_body(s)
  head = l2l.algorithms.MAML(torch.nn.Linear(_feature_size(s), s["ways"]).to(_device(s)),
                             lr=s["inner_lr"])
  opt = torch.optim.Adam(list(body.parameters()) + list(head.parameters()), lr=s["outer_lr"])

  def run(steps):
    for _ in range(steps):
      xs, ys, xq, yq = _torch_batch(torch, s)
      opt.zero_grad()
      for t in range(s["meta_batch_size"]):
        fs, fq = body(xs[t]), body(xq[t])
        learner = head.clone()
        for _ in range(s["inner_steps"]):
          learner.adapt(F.cross_entropy(learner(fs), ys[t]))
        (F.cross_entropy(learner(fq), yq[t]) / s["meta_batch_size"]).backward()
      opt.step()

  return run


# ----------------------------------------------------------------------------- benchmarks
def _rounds(impls: dict, rounds: int, quiet: bool):
  out = {name: [] for name in impls}
  for r in range(rounds):
    for name, (fn, steps) in impls.items():
      out[name].append(_timed(fn, steps))
    if not quiet:
      print(f"  round {r + 1}: " + ", ".join(f"{n} {v[-1]:.3g}/s" for n, v in out.items()),
            file=sys.stderr)
  return out


def _gpu_setup(args, torch) -> tuple[str, str | None]:
  """The peers' torch device and the float32 matmul/convolution mode on a GPU.

  On a GPU both frameworks run their float32 matmuls and convolutions the same way:
  ``--gpu-float32 tf32`` (JAX's default there; torch's ``allow_tf32`` flags set to match) or
  ``full`` (IEEE float32: ``jax.default_matmul_precision("highest")``, torch's flags off).
  cuDNN's autotuner is on for the peers, as XLA autotunes its own convolutions.
  """
  want = getattr(args, "torch_device", "cpu")
  dev = ("cuda" if torch.cuda.is_available() else "cpu") if want == "auto" else want
  if dev != "cuda":
    return dev, None
  tf32 = args.gpu_float32 == "tf32"
  torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
  torch.backends.cudnn.benchmark = True
  return dev, "tensorfloat32" if tf32 else "highest"


def _synced(run, torch, dev: str):
  """``run`` that returns only once the GPU has finished (jaxmeta's runs block already)."""
  if dev != "cuda":
    return run

  def synced(steps):
    run(steps)
    torch.cuda.synchronize()
  return synced


def _compare(args, s: dict, ours: dict, peers: dict, matmul: bool = False) -> dict:
  """Time jaxmeta configurations against PyTorch peers in alternating rounds.

  Args:
    s: the setting (``OMNIGLOT`` or ``MINIIMAGENET``).
    ours: ``name -> (algo, _jaxmeta_step keywords)``.
    peers: ``name -> (setting) -> run(steps)``; a peer that cannot be imported is skipped.
    matmul: also time a 2048^3 matmul (the machine's float32 peak) in the same rounds.

  Each round runs every implementation for a fixed number of meta-steps (3 for jaxmeta, 2
  for a peer) or, with ``--round-seconds``, for as many as fill that time (on a GPU a step
  takes milliseconds).
  """
  import contextlib
  import jax
  import torch
  torch.set_num_threads(args.torch_threads)
  dev, precision = _gpu_setup(args, torch)
  s = dict(s, device=dev)
  precise = (lambda: jax.default_matmul_precision(precision)) if precision else contextlib.nullcontext
  impls, compile_s, flops, skipped = {}, {}, {}, {}
  for name, (algo, kw) in ours.items():
    with precise():  # precision is read when the step is traced
      run, compile_s[name], flops[name] = _jaxmeta_step(algo, s=s, **kw)
    impls[name] = (run, 3)
  for name, make in peers.items():
    try:
      impls[name] = (_synced(make(s), torch, dev), 2)
    except ImportError as e:
      skipped[name] = f"not importable: {e}"
  if matmul:
    with precise():
      peak_run, peak_flops = _matmul_peak()
    impls["matmul_2048"] = (peak_run, 20)
  for fn, _ in impls.values():  # compile / warm up (cuDNN's autotuner on its first call)
    fn(1)
  if getattr(args, "round_seconds", 0) > 0:
    impls = {n: (fn, max(1, round(args.round_seconds * _timed(fn, 1)))) for n, (fn, _) in
             impls.items()}
  rounds = _rounds(impls, args.rounds, args.quiet)
  best = {n: max(v) for n, v in rounds.items()}
  median = {n: float(np.median(v)) for n, v in rounds.items()}
  res = {"setting": dict(s, norm="batch", torch_threads=args.torch_threads),
         "steps_per_s_best": best, "steps_per_s_median": median, "rounds": rounds,
         "steps_per_round": {n: k for n, (_, k) in impls.items()},
         "skipped": skipped, "compile_seconds": compile_s,
         "gflop_per_step": {n: f / 1e9 for n, f in flops.items()},
         "achieved_gflops": {n: flops[n] / 1e9 * best[n] for n in ours},
         "cpu_load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
         "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind,
         "torch_device": dev, "gpu_float32": precision,
         "versions": {"jax": jax.__version__, "torch": torch.__version__}}
  if matmul:
    res["matmul_peak_gflops"] = best.pop("matmul_2048") * peak_flops / 1e9
    median.pop("matmul_2048")
  return res


def _ours() -> dict:
  """jaxmeta's configurations: the default (``auto``: patches + ``lax.map`` on CPU, patches +
  ``vmap`` on GPU) and the alternative that matters on that backend (``vmap`` on CPU, ``lax``
  convolutions on GPU)."""
  import jax
  if jax.default_backend() == "cpu":
    return {"jaxmeta": ("maml", {}), "jaxmeta_vmap": ("maml", dict(task_axis="vmap"))}
  return {"jaxmeta": ("maml", {}), "jaxmeta_lax": ("maml", dict(conv_impl="lax"))}


def _peer_ratios(res: dict, ours: str, peers) -> tuple[float, float, str]:
  """(best-round ratio, median-round ratio, fastest peer) of ``ours`` over ``peers``."""
  b, m = res["steps_per_s_best"], res["steps_per_s_median"]
  present = [p for p in peers if p in b]
  if not present:
    return float("nan"), float("nan"), "none"
  fastest = max(present, key=b.get)
  return b[ours] / b[fastest], m[ours] / max(m[p] for p in present), fastest


def fastest_peer_ratios(best: dict, median: dict, ours: str, peer_configs: dict) -> dict:
  """Ratios of ``ours`` over PyTorch peers measured in several configurations each.

  Args:
    best, median: implementation name -> best / median round.
    peer_configs: peer -> the names of its configurations (e.g. one per thread count).

  Returns:
    ``baseline`` (the fastest configuration of any peer: conservative for jaxmeta),
    ``peer_baselines`` (each peer's fastest), ``ratio`` / ``ratio_median`` over the
    baseline, and ``ratio_vs_peer`` / ``ratio_vs_peer_median`` per peer.
  """
  configs = [n for names in peer_configs.values() for n in names]
  baseline = max(configs, key=best.get)
  peer_best = {p: max(names, key=best.get) for p, names in peer_configs.items()}
  return {"baseline": baseline, "peer_baselines": peer_best,
          "ratio": best[ours] / best[baseline],
          "ratio_median": median[ours] / max(median[n] for n in configs),
          "ratio_vs_peer": {p: best[ours] / best[n] for p, n in peer_best.items()},
          "ratio_vs_peer_median": {p: median[ours] / max(median[n] for n in names)
                                   for p, names in peer_configs.items()}}


def _print_rows(res: dict):
  b, m = res["steps_per_s_best"], res["steps_per_s_median"]
  for name in b:
    extra = ""
    if name in res["compile_seconds"]:
      extra = (f"  compile {res['compile_seconds'][name]:.1f} s, "
               f"{res['gflop_per_step'][name]:.1f} GFLOP/step, "
               f"{res['achieved_gflops'][name]:.0f} GFLOP/s")
    print(f"  {name:<18} {b[name]:>7.3f}  [{m[name]:.3f}]{extra}")
  for name, why in res["skipped"].items():
    print(f"  {name:<18} skipped ({why})")
  if res.get("matmul_peak_gflops"):
    print(f"  matmul peak (2048^3 float32, same rounds) {res['matmul_peak_gflops']:.0f} GFLOP/s")
  if res.get("backend", "cpu") != "cpu":
    print(f"  on {res['device_kind']} (jax {res['backend']}, torch {res['torch_device']}), "
          f"float32 matmuls/convolutions: {res['gpu_float32']}")
  if res.get("cpu_load_1min") is not None:
    print(f"  (1-min load average at the end: {res['cpu_load_1min']:.2f})")


_PEERS = ("torch_func_vmap", "higher", "learn2learn")


def bench_omniglot_maml(args) -> dict:
  """Second-order MAML, Omniglot 5w1s, meta-batch 32, stride-2 Conv-4: jaxmeta vs torch peers."""
  res = _compare(args, OMNIGLOT, _ours(),
                 {"torch_func_vmap": _torch_func, "higher": _higher, "learn2learn": _learn2learn},
                 matmul=True)
  res["setting"].update(second_order=True)
  res["ratio_vs_best_torch"], res["ratio_vs_best_torch_median"], res["best_peer"] = (
      _peer_ratios(res, "jaxmeta", _PEERS))
  res["gflop_per_step"] = res["gflop_per_step"]["jaxmeta"]  # the recorded tables read a number
  return res


def print_omniglot_maml(res: dict):
  print("Omniglot MAML (second order, 5w1s, 15 query, meta-batch 32, stride-2 Conv-4 64): "
        "meta-steps/s, best [median] of rounds")
  gflop = res["gflop_per_step"]
  _print_rows(dict(res, gflop_per_step={n: gflop for n in res["compile_seconds"]}))
  print(f"  jaxmeta / best PyTorch peer = {res['ratio_vs_best_torch']:.2f}x "
        f"(median rounds {res['ratio_vs_best_torch_median']:.2f}x)")


def _first_order(args, algo: str, peer) -> dict:
  """jaxmeta MAML and ``algo`` against learn2learn's MAML and its ``algo``."""
  res = _compare(args, OMNIGLOT, {"jaxmeta_maml": ("maml", {}), f"jaxmeta_{algo}": (algo, {})},
                 {"l2l_maml": _learn2learn, f"l2l_{algo}": peer})
  b, m = res["steps_per_s_best"], res["steps_per_s_median"]
  for name in ("maml", algo):  # flat keys: the speed table reads dotted paths
    res[f"ratio_{name}_vs_l2l"], res[f"ratio_{name}_vs_l2l_median"], _ = _peer_ratios(
        res, f"jaxmeta_{name}", [f"l2l_{name}"])
  res[f"ratio_{algo}_vs_maml"] = b[f"jaxmeta_{algo}"] / b["jaxmeta_maml"]
  res[f"ratio_{algo}_vs_maml_median"] = m[f"jaxmeta_{algo}"] / m["jaxmeta_maml"]
  return res


def bench_omniglot_fomaml(args) -> dict:
  """FOMAML beside MAML on the Omniglot MAML setting: jaxmeta vs learn2learn (first_order)."""
  return _first_order(args, "fomaml", lambda s: _learn2learn(s, first_order=True))


def bench_omniglot_anil(args) -> dict:
  """ANIL beside MAML on the Omniglot MAML setting: jaxmeta vs learn2learn's ANIL."""
  return _first_order(args, "anil", _learn2learn_anil)


def _print_first_order(algo: str):
  def show(res: dict):
    print(f"Omniglot 5w1s, 15 query, meta-batch 32, stride-2 Conv-4 64, one inner step, MAML and "
          f"{algo.upper()}: meta-steps/s, best [median] of rounds")
    _print_rows(res)
    for name in ("maml_vs_l2l", f"{algo}_vs_l2l", f"{algo}_vs_maml"):
      print(f"  jaxmeta {name:<16} {res[f'ratio_{name}']:.2f}x  "
            f"[{res[f'ratio_{name}_median']:.2f}x]")
  return show


def bench_miniimagenet_maml(args) -> dict:
  """Second-order MAML, mini-ImageNet-shaped (84x84x3, Conv-4 32 max-pool, 5 inner steps,
  meta-batch 4): jaxmeta vs torch.func, higher, learn2learn."""
  s = MINIIMAGENET
  res = _compare(args, s, _ours(),
                 {"torch_func_vmap": _torch_func, "higher": _higher, "learn2learn": _learn2learn})
  res["setting"].update(second_order=True)
  res["ratio_vs_best_torch"], res["ratio_vs_best_torch_median"], res["best_peer"] = (
      _peer_ratios(res, "jaxmeta", _PEERS))
  return res


def print_miniimagenet_maml(res: dict):
  print("mini-ImageNet-shaped MAML (second order, 84x84x3, Conv-4 32 + max-pool, 5w1s, "
        "15 query, 5 inner steps, meta-batch 4): meta-steps/s, best [median] of rounds")
  _print_rows(res)
  print(f"  jaxmeta / best PyTorch peer ({res['best_peer']}) = {res['ratio_vs_best_torch']:.2f}x "
        f"(median rounds {res['ratio_vs_best_torch_median']:.2f}x)")


def bench_omniglot_algos(args) -> dict:
  """jaxmeta MAML, FOMAML, Reptile (k=5), ANIL, Meta-SGD on the same Omniglot setting."""
  import jax
  impls, compile_s, flops = {}, {}, {}
  for name, algo, k in (("maml", "maml", None), ("fomaml", "fomaml", None),
                        ("reptile_k5", "reptile", 5), ("anil", "anil", None),
                        ("metasgd", "metasgd", None)):
    run, compile_s[name], flops[name] = _jaxmeta_step(algo, inner_steps=k)
    impls[name] = (run, 3)
  for fn, _ in impls.values():
    fn(1)
  rounds = _rounds(impls, args.rounds, args.quiet)
  best = {n: max(v) for n, v in rounds.items()}
  return {"setting": dict(OMNIGLOT), "steps_per_s_best": best,
          "steps_per_s_median": {n: float(np.median(v)) for n, v in rounds.items()},
          "compile_seconds": compile_s, "gflop_per_step": {n: f / 1e9 for n, f in flops.items()},
          "backend": jax.default_backend()}


def print_omniglot_algos(res: dict):
  print("Omniglot 5w1s, meta-batch 32, stride-2 Conv-4 64 (jaxmeta, conv_impl/task_axis auto): "
        "meta-steps/s, best [median]")
  for name, v in res["steps_per_s_best"].items():
    print(f"  {name:<12} {v:>7.3f}  [{res['steps_per_s_median'][name]:.3f}]  "
          f"compile {res['compile_seconds'][name]:.1f} s, {res['gflop_per_step'][name]:.1f} GFLOP/step")


BENCHMARKS = {"omniglot_maml": (bench_omniglot_maml, print_omniglot_maml),
              "omniglot_fomaml": (bench_omniglot_fomaml, _print_first_order("fomaml")),
              "omniglot_anil": (bench_omniglot_anil, _print_first_order("anil")),
              "miniimagenet_maml": (bench_miniimagenet_maml, print_miniimagenet_maml),
              "omniglot_algos": (bench_omniglot_algos, print_omniglot_algos)}
