"""Omniglot-shaped meta-learning speed: jaxmeta vs PyTorch peers (torch.func, higher,
learn2learn), side by side in one process. Registered in ``benchmarks/speed.py``:

  python benchmarks/speed.py --only omniglot_maml --rounds 3
  python benchmarks/speed.py --only omniglot_algos

Setting (the issue's, MAML code's Omniglot network): 5-way 1-shot, 15 query per class,
meta-batch 32, one inner SGD step (alpha 0.4), second order, Conv-4 with 64 filters,
3x3 stride-2 "SAME" convolutions, batch-statistics normalisation, ReLU, spatial mean,
linear head; Adam 1e-3; 28x28x1 random images. Every implementation computes the same
meta-step (the PyTorch ones with ``padding=1``, the same FLOPs).

FLOPs per meta-step come from XLA's cost analysis of the vmapped step (a ``lax.map``
loop body is counted once, so the vmapped program is the one to count); achieved GFLOP/s
is compared with a 2048^3 float32 matmul timed in the same rounds.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np

OMNIGLOT = dict(ways=5, shots=1, query=15, meta_batch_size=32, inner_lr=0.4, inner_steps=1,
                filters=64, image_size=28, outer_lr=1e-3)


def _timed(fn, steps):
  t0 = time.perf_counter()
  fn(steps)
  return steps / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------- jaxmeta
def _random_task():
  import jax
  import jax.numpy as jnp
  from jaxmeta.tasks.episodes import accuracy, cross_entropy
  from jaxmeta.types import Episode, TaskDistribution
  s = OMNIGLOT
  n_s, n_q, size = s["ways"] * s["shots"], s["ways"] * s["query"], s["image_size"]

  def sample(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return Episode(jax.random.uniform(k1, (n_s, size, size, 1)),
                   jax.random.permutation(k3, jnp.arange(n_s) % s["ways"]),
                   jax.random.uniform(k2, (n_q, size, size, 1)), jnp.arange(n_q) % s["ways"])

  return TaskDistribution("random-omniglot", sample, cross_entropy, accuracy, "accuracy",
                          s["ways"])


def _jaxmeta_step(algo_name="maml", conv_impl="auto", task_axis="auto", inner_steps=None):
  """(run(steps), compile_seconds, flops_per_step) for one jaxmeta configuration."""
  import jax
  import optax
  import jaxmeta
  from jaxmeta.models.conv import Conv4

  s = OMNIGLOT
  task = _random_task()
  model = Conv4(s["filters"], stride=2, pool=False, norm="batch", output_size=s["ways"],
                readout="mean", conv_impl=conv_impl)
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
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", float("nan")))
  holder = {"state": state, "i": 0}

  def run(steps):
    st = holder["state"]
    for _ in range(steps):
      holder["i"] += 1
      st, metrics = compiled(st, jax.random.key(holder["i"]))
    jax.block_until_ready(metrics)
    holder["state"] = st

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
def _torch_init(torch):
  s = OMNIGLOT
  g = torch.Generator().manual_seed(0)
  params = {}
  cin = 1
  for i in range(4):
    bound = math.sqrt(6.0 / (9 * cin + 9 * s["filters"]))
    params[f"w{i}"] = (torch.rand(s["filters"], cin, 3, 3, generator=g) * 2 - 1) * bound
    params[f"scale{i}"] = torch.ones(s["filters"])
    params[f"shift{i}"] = torch.zeros(s["filters"])
    cin = s["filters"]
  params["head_w"] = torch.randn(s["ways"], s["filters"], generator=g) / math.sqrt(s["filters"])
  params["head_b"] = torch.zeros(s["ways"])
  return params


def _torch_forward(F, p, x):
  h = x
  for i in range(4):
    h = F.conv2d(h, p[f"w{i}"], stride=2, padding=1)
    h = F.batch_norm(h, None, None, p[f"scale{i}"], p[f"shift{i}"], training=True)
    h = F.relu(h)
  return F.linear(h.mean(dim=(2, 3)), p["head_w"], p["head_b"])


def _torch_batch(torch):
  s = OMNIGLOT
  b, n_s, n_q, size = s["meta_batch_size"], s["ways"] * s["shots"], s["ways"] * s["query"], s["image_size"]
  xs = torch.rand(b, n_s, 1, size, size)
  ys = torch.arange(n_s).remainder(s["ways"]).repeat(b, 1)
  xq = torch.rand(b, n_q, 1, size, size)
  yq = torch.arange(n_q).remainder(s["ways"]).repeat(b, 1)
  return xs, ys, xq, yq


def _torch_func():
  """torch.func: ``grad`` through the inner ``grad`` (second order), ``vmap`` over tasks."""
  import torch
  import torch.nn.functional as F
  from torch.func import grad, vmap
  s = OMNIGLOT
  params = {k: v.requires_grad_() for k, v in _torch_init(torch).items()}
  opt = torch.optim.Adam(params.values(), lr=s["outer_lr"])
  loss = lambda p, x, y: F.cross_entropy(_torch_forward(F, p, x), y)

  def task_loss(p, xs, ys, xq, yq):
    g = grad(loss)(p, xs, ys)
    return loss({k: p[k] - s["inner_lr"] * g[k] for k in p}, xq, yq)

  def meta_loss(p, xs, ys, xq, yq):
    return vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(p, xs, ys, xq, yq).mean()

  def run(steps):
    for _ in range(steps):
      batch = _torch_batch(torch)
      grads = grad(meta_loss)({k: v.detach() for k, v in params.items()}, *batch)
      for k, v in params.items():
        v.grad = grads[k]
      opt.step()

  return run


def _torch_module():
  import torch
  s = OMNIGLOT
  layers, cin = [], 1
  for _ in range(4):
    layers += [torch.nn.Conv2d(cin, s["filters"], 3, stride=2, padding=1, bias=False),
               torch.nn.BatchNorm2d(s["filters"], track_running_stats=False), torch.nn.ReLU()]
    cin = s["filters"]
  return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                             torch.nn.Linear(s["filters"], s["ways"]))


def _higher():
  """higher: ``innerloop_ctx`` with differentiable SGD, Python loop over tasks."""
  import higher
  import torch
  import torch.nn.functional as F
  s = OMNIGLOT
  model = _torch_module()
  opt = torch.optim.Adam(model.parameters(), lr=s["outer_lr"])
  inner_opt = torch.optim.SGD(model.parameters(), lr=s["inner_lr"])

  def run(steps):
    for _ in range(steps):
      xs, ys, xq, yq = _torch_batch(torch)
      opt.zero_grad()
      for t in range(s["meta_batch_size"]):
        with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
          for _ in range(s["inner_steps"]):
            diffopt.step(F.cross_entropy(fmodel(xs[t]), ys[t]))
          (F.cross_entropy(fmodel(xq[t]), yq[t]) / s["meta_batch_size"]).backward()
      opt.step()

  return run


def _learn2learn():
  """learn2learn: ``MAML(...).clone().adapt(loss)``, Python loop over tasks."""
  import learn2learn as l2l
  import torch
  import torch.nn.functional as F
  s = OMNIGLOT
  maml = l2l.algorithms.MAML(_torch_module(), lr=s["inner_lr"], first_order=False)
  opt = torch.optim.Adam(maml.parameters(), lr=s["outer_lr"])

  def run(steps):
    for _ in range(steps):
      xs, ys, xq, yq = _torch_batch(torch)
      opt.zero_grad()
      for t in range(s["meta_batch_size"]):
        learner = maml.clone()
        for _ in range(s["inner_steps"]):
          learner.adapt(F.cross_entropy(learner(xs[t]), ys[t]))
        (F.cross_entropy(learner(xq[t]), yq[t]) / s["meta_batch_size"]).backward()
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


def bench_omniglot_maml(args) -> dict:
  """Second-order MAML, Omniglot 5w1s, meta-batch 32, stride-2 Conv-4: jaxmeta vs torch peers."""
  import jax
  import torch
  torch.set_num_threads(args.torch_threads)
  impls, compile_s, flops, skipped = {}, {}, {}, {}
  for name, kw in (("jaxmeta", dict()), ("jaxmeta_vmap", dict(task_axis="vmap"))):
    run, compile_s[name], flops[name] = _jaxmeta_step("maml", **kw)
    impls[name] = (run, 3)
  peers = {"torch_func_vmap": _torch_func, "higher": _higher, "learn2learn": _learn2learn}
  for name, make in peers.items():
    try:
      impls[name] = (make(), 2)
    except ImportError as e:
      skipped[name] = f"not importable: {e}"
  peak_run, peak_flops = _matmul_peak()
  impls["matmul_2048"] = (peak_run, 20)
  for name, (fn, _) in impls.items():  # warm up
    fn(1)
  rounds = _rounds(impls, args.rounds, args.quiet)
  best = {n: max(v) for n, v in rounds.items()}
  median = {n: float(np.median(v)) for n, v in rounds.items()}
  peak = best.pop("matmul_2048") * peak_flops / 1e9
  median.pop("matmul_2048")
  torch_best = max(v for n, v in best.items() if not n.startswith("jaxmeta"))
  torch_best_median = max(v for n, v in median.items() if not n.startswith("jaxmeta"))
  gflop = flops["jaxmeta"] / 1e9
  return {"setting": dict(OMNIGLOT, second_order=True, norm="batch", stride=2,
                          torch_threads=args.torch_threads),
          "steps_per_s_best": best, "steps_per_s_median": median, "rounds": rounds,
          "skipped": skipped, "compile_seconds": compile_s, "gflop_per_step": gflop,
          "achieved_gflops": {n: gflop * v for n, v in best.items() if n.startswith("jaxmeta")},
          "matmul_peak_gflops": peak,
          "ratio_vs_best_torch": best["jaxmeta"] / torch_best,
          "ratio_vs_best_torch_median": median["jaxmeta"] / torch_best_median,
          "backend": jax.default_backend(),
          "versions": {"jax": jax.__version__, "torch": torch.__version__}}


def print_omniglot_maml(res: dict):
  b, m = res["steps_per_s_best"], res["steps_per_s_median"]
  print("Omniglot MAML (second order, 5w1s, 15 query, meta-batch 32, stride-2 Conv-4 64): "
        "meta-steps/s, best [median] of rounds")
  for name in b:
    extra = ""
    if name in res["compile_seconds"]:
      extra = (f"  compile {res['compile_seconds'][name]:.1f} s, "
               f"{res['achieved_gflops'][name]:.0f} GFLOP/s")
    print(f"  {name:<16} {b[name]:>7.3f}  [{m[name]:.3f}]{extra}")
  for name, why in res["skipped"].items():
    print(f"  {name:<16} skipped ({why})")
  print(f"  {res['gflop_per_step']:.1f} GFLOP per meta-step (XLA cost analysis); "
        f"matmul peak {res['matmul_peak_gflops']:.0f} GFLOP/s")
  print(f"  jaxmeta / best PyTorch peer = {res['ratio_vs_best_torch']:.2f}x "
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
              "omniglot_algos": (bench_omniglot_algos, print_omniglot_algos)}
