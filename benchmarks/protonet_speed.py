"""ProtoNet training speed: jaxmeta vs a straightforward PyTorch implementation.

Snell et al. 2017's Omniglot training episode: 60-way 5-shot 5-query, Conv-4 (64 filters,
3x3 conv, batch norm with the episode's statistics, ReLU, 2x2 max-pool) on 28x28 images,
squared Euclidean distances to class means, Adam 1e-3, one episode per step. Both sides
sample episodes from the same random Omniglot-shaped array, jaxmeta on the device inside
its jitted ``lax.scan`` loop, PyTorch by indexing with ``torch.randint``/``randperm``.
Registered in benchmarks/speed.py as ``protonet_omniglot``.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

SETTING = dict(ways=60, shots=5, query=5, filters=64, image=28, classes=200, examples=20,
               outer_lr=1e-3)
EPISODES_PER_ROUND = 6


def _data():
  rng = np.random.default_rng(0)
  s = SETTING
  return (rng.random((s["classes"], s["examples"], s["image"], s["image"], 1)) > 0.8).astype(np.float32)


def _jaxmeta_protonet(images, scan_length: int):
  import jax
  import optax
  import jaxmeta
  from jaxmeta.models.conv import Conv4
  from jaxmeta.tasks.episodes import few_shot_task

  s = SETTING
  task = few_shot_task(images, s["ways"], s["shots"], s["query"])
  algo = jaxmeta.algorithms.protonet(Conv4(s["filters"], stride=1, pool=True, norm="batch"), s["ways"])
  opt = optax.adam(s["outer_lr"])
  loop = jaxmeta.make_train_loop(task, algo, opt, 1, scan_length)
  holder = {"state": jaxmeta.init_state(jax.random.key(1), task, algo, opt)}

  def run(steps):
    for _ in range(max(steps // scan_length, 1)):
      holder["state"], m = loop(holder["state"], jax.random.key(0))
    jax.block_until_ready(holder["state"])

  return run


def _torch_protonet(images):
  """The usual PyTorch ProtoNet: nn.Sequential Conv-4, one forward of support + query."""
  import torch
  from torch import nn

  s = SETTING
  def block(cin):
    return nn.Sequential(nn.Conv2d(cin, s["filters"], 3, padding=1), nn.BatchNorm2d(s["filters"]),
                         nn.ReLU(), nn.MaxPool2d(2))
  net = nn.Sequential(block(1), block(s["filters"]), block(s["filters"]), block(s["filters"]),
                      nn.Flatten())
  net.train()
  opt = torch.optim.Adam(net.parameters(), lr=s["outer_lr"])
  data = torch.from_numpy(images).permute(0, 1, 4, 2, 3).contiguous()   # [C, E, 1, H, W]
  n, k, q = s["ways"], s["shots"], s["query"]

  def run(steps):
    for _ in range(steps):
      classes = torch.randperm(data.shape[0])[:n]
      picks = torch.stack([torch.randperm(data.shape[1])[:k + q] for _ in range(n)])
      x = data[classes[:, None], picks]                                  # [N, K+Q, 1, H, W]
      support, query = x[:, :k].reshape(n * k, *x.shape[2:]), x[:, k:].reshape(n * q, *x.shape[2:])
      emb = net(torch.cat([support, query]))
      protos = emb[:n * k].reshape(n, k, -1).mean(1)
      logits = -torch.cdist(emb[n * k:], protos) ** 2
      labels = torch.arange(n).repeat_interleave(q)
      loss = nn.functional.cross_entropy(logits, labels)
      opt.zero_grad()
      loss.backward()
      opt.step()

  return run


def bench_protonet_omniglot(args) -> dict:
  """ProtoNet training episodes/s (60-way 5-shot 5-query, Conv-4): jaxmeta vs PyTorch."""
  import jax
  import torch

  images = _data()
  scan_length = EPISODES_PER_ROUND
  impls = {"jaxmeta_scan": _jaxmeta_protonet(images, scan_length)}
  torch_run = _torch_protonet(images)
  threads = args.torch_threads
  threads = sorted(set(threads) if isinstance(threads, (tuple, list)) else {threads, 1}, reverse=True)
  for n in threads:
    def run(steps, n=n):
      torch.set_num_threads(n)
      torch_run(steps)
    impls[f"torch_{n}thr"] = run
  t_compile = time.perf_counter()
  impls["jaxmeta_scan"](scan_length)
  compile_s = time.perf_counter() - t_compile
  for name, fn in impls.items():
    if name != "jaxmeta_scan":
      fn(1)
  rounds = {name: [] for name in impls}
  for r in range(args.rounds):
    for name, fn in impls.items():
      t0 = time.perf_counter()
      fn(EPISODES_PER_ROUND)
      rounds[name].append(EPISODES_PER_ROUND / (time.perf_counter() - t0))
    if not args.quiet:
      print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}/s" for k, v in rounds.items()),
            file=sys.stderr)
  best = {k: max(v) for k, v in rounds.items()}
  median = {k: float(np.median(v)) for k, v in rounds.items()}
  torch_best = max((k for k in best if k.startswith("torch")), key=best.get)
  return {"setting": dict(SETTING, episodes_per_round=EPISODES_PER_ROUND),
          "episodes_per_s_best": best, "episodes_per_s_median": median, "rounds": rounds,
          "torch_baseline": torch_best, "first_call_s_incl_compile": compile_s,
          "ratio_vs_torch": best["jaxmeta_scan"] / best[torch_best],
          "ratio_vs_torch_median": median["jaxmeta_scan"] / max(median[k] for k in median
                                                                 if k.startswith("torch")),
          "cpu_load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
          "versions": {"jax": jax.__version__, "torch": torch.__version__}}


def _print(res: dict):
  b, m = res["episodes_per_s_best"], res["episodes_per_s_median"]
  print("ProtoNet Omniglot (60-way 5-shot 5-query, Conv-4 pool): training episodes/s, best [median]")
  for name in b:
    print(f"  {name:<14} {b[name]:>7.2f}  [{m[name]:.2f}]")
  print(f"  jaxmeta / {res['torch_baseline']} = {res['ratio_vs_torch']:.2f}x "
        f"(medians {res['ratio_vs_torch_median']:.2f}x); first call incl. compile "
        f"{res['first_call_s_incl_compile']:.0f} s")
  if res.get("cpu_load_1min") is not None:
    print(f"  (1-min load average at the end: {res['cpu_load_1min']:.1f} on {os.cpu_count()} CPUs)")


BENCHMARKS = {"protonet_omniglot": (bench_protonet_omniglot, _print)}
