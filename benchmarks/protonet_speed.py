"""ProtoNet training speed: jaxmeta vs a straightforward PyTorch implementation and
learn2learn's ProtoNet recipe.

Snell et al. 2017's Omniglot training episode: 60-way 5-shot 5-query, Conv-4 (64 filters,
3x3 conv, batch norm with the episode's statistics, ReLU, 2x2 max-pool) on 28x28 images,
squared Euclidean distances to class means, Adam 1e-3, one episode per step. All sides
sample episodes from the same random Omniglot-shaped array, jaxmeta on the device inside
its jitted ``lax.scan`` loop, PyTorch by indexing with ``torch.randint``/``randperm``.
Every PyTorch peer runs with ``--torch-threads`` and with 1 thread; the baseline is the
fastest configuration of any peer. A peer that cannot be imported is recorded under
``"skipped"``. Registered in benchmarks/speed.py as ``protonet_omniglot``.

The PyTorch peers differ from jaxmeta's Conv-4 only where the FLOPs are negligible: their
convolutions carry a bias (cancelled by the batch norm that follows; jaxmeta has none),
``nn.BatchNorm2d`` also updates running averages it never uses in training, the data are
NCHW instead of NHWC, and the initialisations differ.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from omniglot_speed import fastest_peer_ratios

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


def _torch_episode(torch, data):
  """One episode sampled with torch from ``data`` [C, E, 1, H, W]: the support (class-major,
  K per class) and query images as one batch [N*K + N*Q, 1, H, W], and the query labels."""
  s = SETTING
  n, k, q = s["ways"], s["shots"], s["query"]
  classes = torch.randperm(data.shape[0])[:n]
  picks = torch.stack([torch.randperm(data.shape[1])[:k + q] for _ in range(n)])
  x = data[classes[:, None], picks]                                    # [N, K+Q, 1, H, W]
  support, query = x[:, :k].reshape(n * k, *x.shape[2:]), x[:, k:].reshape(n * q, *x.shape[2:])
  return torch.cat([support, query]), torch.arange(n).repeat_interleave(q)


def _torch_data(torch, images):
  return torch.from_numpy(images).permute(0, 1, 4, 2, 3).contiguous()   # [C, E, 1, H, W]


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
  data = _torch_data(torch, images)
  n, k = s["ways"], s["shots"]

  def run(steps):
    for _ in range(steps):
      x, labels = _torch_episode(torch, data)
      emb = net(x)
      protos = emb[:n * k].reshape(n, k, -1).mean(1)
      logits = -torch.cdist(emb[n * k:], protos) ** 2
      loss = nn.functional.cross_entropy(logits, labels)
      opt.zero_grad()
      loss.backward()
      opt.step()

  return run


def _learn2learn_protonet(images):
  """learn2learn's ProtoNet recipe (its vision ProtoNet examples): the library's Conv-4
  ``l2l.vision.models.CNN4Backbone`` and logits ``-sum((query - prototype)^2)`` by broadcasting.

  ``CNN4Backbone(hidden_size=64, channels=1, max_pool=True, layers=4)`` is 4 x [3x3 conv
  (stride 1, padding 1, bias), BatchNorm2d, ReLU, 2x2 max-pool] flattened: 28 -> 14 -> 7 ->
  3 -> 1, a 64-d embedding, the layer order and shapes of the other two. (``OmniglotCNN``,
  used by learn2learn's older Omniglot ProtoNet example, has no pooling, a spatial mean and
  a linear head: not this benchmark's network.) Its batch norm starts with uniform(0, 1)
  scales and its convolutions with Xavier-uniform weights. The broadcast distances
  materialise a [300, 60, 64] difference where jaxmeta (and ``cdist``) use the matmul form
  ``|x|^2 - 2 x.y + |y|^2``: a few MFLOP either way against ~35 GFLOP of convolutions
  (forward + backward) per episode, so the same work up to noise.
  """
  import learn2learn as l2l
  import torch
  from torch import nn

  s = SETTING
  net = l2l.vision.models.CNN4Backbone(hidden_size=s["filters"], layers=4, channels=1,
                                       max_pool=True)
  net.train()
  opt = torch.optim.Adam(net.parameters(), lr=s["outer_lr"])
  data = _torch_data(torch, images)
  n, k = s["ways"], s["shots"]

  def run(steps):
    for _ in range(steps):
      x, labels = _torch_episode(torch, data)
      emb = net(x)
      support, query = emb[:n * k], emb[n * k:]
      protos = support.reshape(n, k, -1).mean(dim=1)
      logits = -((query[:, None, :] - protos[None, :, :]) ** 2).sum(dim=2)
      loss = nn.functional.cross_entropy(logits, labels)
      opt.zero_grad()
      loss.backward()
      opt.step()

  return run


# PyTorch peers: name -> builder(images) -> run(steps).
PEERS = {"torch": _torch_protonet, "learn2learn": _learn2learn_protonet}


def bench_protonet_omniglot(args) -> dict:
  """ProtoNet training episodes/s (60-way 5-shot, Conv-4): jaxmeta vs PyTorch, learn2learn."""
  import jax
  import torch

  images = _data()
  scan_length = EPISODES_PER_ROUND
  impls = {"jaxmeta_scan": _jaxmeta_protonet(images, scan_length)}
  threads = args.torch_threads
  threads = sorted(set(threads) if isinstance(threads, (tuple, list)) else {threads, 1}, reverse=True)
  skipped, peer_configs = {}, {}
  for peer, make in PEERS.items():
    try:
      peer_run = make(images)
    except ImportError as e:
      skipped[peer] = f"not importable: {e}"
      continue
    peer_configs[peer] = [f"{peer}_{n}thr" for n in threads]
    for n, name in zip(threads, peer_configs[peer]):
      def run(steps, n=n, peer_run=peer_run):
        torch.set_num_threads(n)
        peer_run(steps)
      impls[name] = run
  t_compile = time.perf_counter()
  impls["jaxmeta_scan"](scan_length)
  compile_s = time.perf_counter() - t_compile
  # The second call compiles the loop again (its state is now committed to the device, the
  # initial one was not), so it is a warm-up call too; it is not timed.
  impls["jaxmeta_scan"](scan_length)
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
  r = fastest_peer_ratios(best, median, "jaxmeta_scan", peer_configs)
  versions = {"jax": jax.__version__, "torch": torch.__version__}
  if "learn2learn" in peer_configs:
    import learn2learn
    versions["learn2learn"] = learn2learn.__version__
  # ratio_vs_torch(_median): against the best peer (the key predates the learn2learn peer).
  return {"setting": dict(SETTING, episodes_per_round=EPISODES_PER_ROUND, torch_threads=threads),
          "episodes_per_s_best": best, "episodes_per_s_median": median, "rounds": rounds,
          "skipped": skipped, "torch_baseline": r["baseline"],
          "peer_baselines": r["peer_baselines"], "first_call_s_incl_compile": compile_s,
          "ratio_vs_torch": r["ratio"], "ratio_vs_torch_median": r["ratio_median"],
          "ratio_vs_peer": r["ratio_vs_peer"], "ratio_vs_peer_median": r["ratio_vs_peer_median"],
          "cpu_load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
          "versions": versions}


def _print(res: dict):
  b, m = res["episodes_per_s_best"], res["episodes_per_s_median"]
  print("ProtoNet Omniglot (60-way 5-shot 5-query, Conv-4 pool): training episodes/s, best [median]")
  for name in b:
    print(f"  {name:<16} {b[name]:>7.2f}  [{m[name]:.2f}]")
  for name, why in res.get("skipped", {}).items():
    print(f"  {name:<16} skipped ({why})")
  peers = res.get("ratio_vs_peer", {})
  if peers:
    medians = res.get("ratio_vs_peer_median", {})
    print("  jaxmeta / each peer's faster thread setting: " + ", ".join(
        f"{p} {r:.2f}x (medians {medians.get(p, float('nan')):.2f}x)" for p, r in peers.items()))
  print(f"  jaxmeta / best PyTorch peer ({res['torch_baseline']}) = {res['ratio_vs_torch']:.2f}x "
        f"(medians {res['ratio_vs_torch_median']:.2f}x); first call incl. compile "
        f"{res['first_call_s_incl_compile']:.0f} s")
  if res.get("cpu_load_1min") is not None:
    print(f"  (1-min load average at the end: {res['cpu_load_1min']:.1f} on {os.cpu_count()} CPUs)")


BENCHMARKS = {"protonet_omniglot": (bench_protonet_omniglot, _print)}
