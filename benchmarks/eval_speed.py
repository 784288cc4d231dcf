"""Omniglot-shaped evaluation speed: jaxmeta vs PyTorch peers (torch.func, higher,
learn2learn), side by side in one process. Registered in ``benchmarks/speed.py``:

  python benchmarks/speed.py --only omniglot_eval --rounds 3
  python benchmarks/eval_speed.py --tasks 20 --rounds 1        # a smoke run, standalone

Setting: the network and task shape of ``OMNIGLOT`` in ``omniglot_speed.py`` (stride-2
Conv-4 with 64 filters, batch-statistics normalisation, 5-way 1-shot, 15 queries per
class, 28x28x1 random images, freshly initialised parameters) at evaluation: ``NUM_TASKS``
(600) test tasks, each adapted with ``EVAL_STEPS`` (10) plain SGD steps (alpha 0.4) on its
5 support images, first order (no meta-gradient), then the accuracy on its 75 queries.
A round is the seconds to evaluate all the tasks, random images drawn included (jaxmeta
inside jit, the peers with ``torch.rand``); with random images the accuracy is ~20 %.

* ``jaxmeta``: ``jaxmeta.train.make_evaluator`` (the jitted, vmapped program that
  ``jaxmeta.evaluate`` runs) built and compiled once, called on ``EVAL_BATCH`` tasks at a
  time, tasks sampled inside jit; compilation is reported apart and not timed.
* ``jaxmeta_evaluate``: the public ``jaxmeta.evaluate(task, algo, params, key, num_tasks,
  num_steps)`` called as a user would (it keeps its compiled evaluator between calls; it
  used to build and compile a fresh one on every call, 12-19 s here).
* ``torch_func_vmap``: ``vmap`` over ``EVAL_BATCH`` tasks of 10 ``grad`` steps, under
  ``torch.no_grad()``; ``higher``: ``innerloop_ctx(..., track_higher_grads=False)``;
  ``learn2learn``: ``MAML(..., first_order=True).clone().adapt(...)``; the last two loop
  over tasks in Python, as their users do.

Both jaxmeta variants observe the accuracy after the last step only (``observe_at``), as
the peers compute it. The PyTorch networks pad their convolutions with ``padding=1`` (the
same FLOPs as XLA's "SAME").
"""
from __future__ import annotations

import importlib.metadata
import os
import sys
import time

import numpy as np

from omniglot_speed import (OMNIGLOT, _random_task, _torch_batch, _torch_forward, _torch_init,
                            _torch_module)

NUM_TASKS = 600     # test tasks per round
EVAL_STEPS = 10     # adaptation steps per task
EVAL_BATCH = 100    # tasks per jitted jaxmeta call / per torch.func vmap (jaxmeta's eval_batch)

EVAL = dict(ways=OMNIGLOT["ways"], shots=OMNIGLOT["shots"], query=OMNIGLOT["query"],
            inner_lr=OMNIGLOT["inner_lr"], filters=OMNIGLOT["filters"],
            image_size=OMNIGLOT["image_size"], num_tasks=NUM_TASKS, eval_steps=EVAL_STEPS,
            batch_size=EVAL_BATCH)


# ----------------------------------------------------------------------------- jaxmeta
def _jaxmeta_setup():
  import jax
  import jaxmeta
  from jaxmeta.models.conv import Conv4
  s = OMNIGLOT
  task = _random_task()
  model = Conv4(s["filters"], stride=s["stride"], pool=s["pool"], norm="batch",
                output_size=s["ways"], readout=s["readout"])
  # evaluate is the same first-order fine-tuning curve for maml and fomaml.
  algo = jaxmeta.algorithms.maml(model, task, inner_lr=s["inner_lr"])
  params = jax.jit(algo.init)(jax.random.key(0), task.sample(jax.random.key(1)))
  return task, algo, params


def _jaxmeta_eval(num_steps: int, batch_size: int):
  """(run(num_tasks) -> mean accuracy, compile_seconds): the evaluator compiled once."""
  import jax
  import jax.numpy as jnp
  from jaxmeta.train import make_evaluator
  task, algo, params = _jaxmeta_setup()
  evaluator = make_evaluator(task, algo, num_steps, batch_size, observe_at=(num_steps,))
  keys = jax.random.split(jax.random.key(2), batch_size)
  t0 = time.perf_counter()
  compiled = evaluator.lower(params, keys).compile()
  compile_s = time.perf_counter() - t0
  holder = {"round": 0}

  def run(num_tasks):
    holder["round"] += 1
    key = jax.random.fold_in(jax.random.key(3), holder["round"])
    n_batches = -(-num_tasks // batch_size)   # as jaxmeta.evaluate: the extra tasks are dropped
    every = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_batches * batch_size))
    out = [compiled(params, every[b * batch_size:(b + 1) * batch_size]) for b in range(n_batches)]
    return float(np.concatenate([np.asarray(o) for o in out])[:num_tasks, num_steps].mean())

  return run, compile_s


def _jaxmeta_public_evaluate(num_steps: int, batch_size: int):
  """run(num_tasks) -> mean accuracy through ``jaxmeta.evaluate``."""
  import jax
  import jaxmeta
  task, algo, params = _jaxmeta_setup()
  holder = {"round": 0}

  def run(num_tasks):
    holder["round"] += 1
    curve = jaxmeta.evaluate(task, algo, params, jax.random.fold_in(jax.random.key(4), holder["round"]),
                             num_tasks, num_steps, batch_size=batch_size, observe_at=(num_steps,))
    return float(curve[:, num_steps].mean())

  return run


# ----------------------------------------------------------------------------- PyTorch
def _torch_tasks(torch, b: int):
  return _torch_batch(torch, dict(OMNIGLOT, meta_batch_size=b))


def _torch_func_eval(num_steps: int, batch_size: int):
  """torch.func: ``vmap`` over a batch of tasks of ``num_steps`` ``grad`` steps, no_grad."""
  import torch
  import torch.nn.functional as F
  from torch.func import grad, vmap
  s = OMNIGLOT
  params = _torch_init(torch)
  loss = lambda p, x, y: F.cross_entropy(_torch_forward(F, p, x), y)

  def task_accuracy(p, xs, ys, xq, yq):
    for _ in range(num_steps):
      g = grad(loss)(p, xs, ys)
      p = {k: p[k] - s["inner_lr"] * g[k] for k in p}
    return (_torch_forward(F, p, xq).argmax(dim=-1) == yq).float().mean()

  batched = vmap(task_accuracy, in_dims=(None, 0, 0, 0, 0))

  def run(num_tasks):
    accs = []
    with torch.no_grad():   # torch.func.grad differentiates anyway; nothing else records a graph
      for start in range(0, num_tasks, batch_size):
        accs.append(batched(params, *_torch_tasks(torch, min(batch_size, num_tasks - start))))
    return float(torch.cat(accs).mean())

  return run


def _higher_eval(num_steps: int, batch_size: int):
  """higher: ``innerloop_ctx(track_higher_grads=False)`` per task, Python loop over tasks."""
  import higher
  import torch
  import torch.nn.functional as F
  model = _torch_module()
  inner_opt = torch.optim.SGD(model.parameters(), lr=OMNIGLOT["inner_lr"])

  def run(num_tasks):
    correct = []
    for start in range(0, num_tasks, batch_size):
      xs, ys, xq, yq = _torch_tasks(torch, min(batch_size, num_tasks - start))
      for t in range(xs.shape[0]):
        with higher.innerloop_ctx(model, inner_opt, track_higher_grads=False) as (fmodel, diffopt):
          for _ in range(num_steps):
            diffopt.step(F.cross_entropy(fmodel(xs[t]), ys[t]))
          with torch.no_grad():
            correct.append((fmodel(xq[t]).argmax(dim=-1) == yq[t]).float().mean())
    return float(torch.stack(correct).mean())

  return run


def _learn2learn_eval(num_steps: int, batch_size: int):
  """learn2learn: ``MAML(first_order=True).clone().adapt(loss)`` per task, Python loop."""
  import learn2learn as l2l
  import torch
  import torch.nn.functional as F
  maml = l2l.algorithms.MAML(_torch_module(), lr=OMNIGLOT["inner_lr"], first_order=True)

  def run(num_tasks):
    correct = []
    for start in range(0, num_tasks, batch_size):
      xs, ys, xq, yq = _torch_tasks(torch, min(batch_size, num_tasks - start))
      for t in range(xs.shape[0]):
        learner = maml.clone()
        for _ in range(num_steps):
          learner.adapt(F.cross_entropy(learner(xs[t]), ys[t]))
        with torch.no_grad():
          correct.append((learner(xq[t]).argmax(dim=-1) == yq[t]).float().mean())
    return float(torch.stack(correct).mean())

  return run


# ----------------------------------------------------------------------------- benchmark
def _eval_rounds(impls: dict, num_tasks: int, rounds: int, quiet: bool):
  """(seconds, accuracies): each implementation once per round, the order reversed on
  odd rounds so that drifting load from other processes hits all alike."""
  seconds = {name: [] for name in impls}
  accuracy = {name: [] for name in impls}
  for r in range(rounds):
    for name in (list(impls) if r % 2 == 0 else list(reversed(impls))):
      t0 = time.perf_counter()
      accuracy[name].append(impls[name](num_tasks))
      seconds[name].append(time.perf_counter() - t0)
    if not quiet:
      print(f"  round {r + 1}: " + ", ".join(f"{n} {v[-1]:.3g} s" for n, v in seconds.items()),
            file=sys.stderr)
  return seconds, accuracy


def bench_omniglot_eval(args, num_tasks: int = NUM_TASKS, batch_size: int = EVAL_BATCH,
                        num_steps: int = EVAL_STEPS, public_evaluate: bool = True) -> dict:
  """Evaluation, 600 Omniglot 5w1s tasks x 10 SGD steps, stride-2 Conv-4: jaxmeta vs torch peers."""
  import jax
  import torch
  torch.set_num_threads(args.torch_threads)
  batch_size = min(batch_size, num_tasks)
  impls, skipped = {}, {}
  run, compile_s = _jaxmeta_eval(num_steps, batch_size)
  impls["jaxmeta"] = run
  if public_evaluate:
    impls["jaxmeta_evaluate"] = _jaxmeta_public_evaluate(num_steps, batch_size)
  versions = {"jax": jax.__version__, "torch": torch.__version__}
  peers = {"torch_func_vmap": (_torch_func_eval, None), "higher": (_higher_eval, "higher"),
           "learn2learn": (_learn2learn_eval, "learn2learn")}
  for name, (make, module) in peers.items():
    try:
      impls[name] = make(num_steps, batch_size)
      if module:
        versions[module] = importlib.metadata.version(module)
    except ImportError as e:
      skipped[name] = f"not importable: {e}"
  for name, fn in impls.items():  # warm up (jaxmeta_evaluate: its first call compiles)
    fn(1 if name in peers else batch_size)
  seconds, accs = _eval_rounds(impls, num_tasks, args.rounds, args.quiet)
  best = {n: min(v) for n, v in seconds.items()}
  median = {n: float(np.median(v)) for n, v in seconds.items()}
  peer_names = [n for n in best if not n.startswith("jaxmeta")]
  res = {"setting": dict(EVAL, num_tasks=num_tasks, eval_steps=num_steps, batch_size=batch_size,
                         norm="batch", stride=2, first_order=True,
                         torch_threads=args.torch_threads),
         "seconds_best": best, "seconds_median": median, "rounds": seconds,
         "accuracy": {n: float(np.mean(v)) for n, v in accs.items()},
         "compile_seconds": {"jaxmeta": compile_s}, "skipped": skipped,
         "backend": jax.default_backend(),
         "cpu_load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
         "versions": versions}
  if peer_names:
    peer_best = min(best[n] for n in peer_names)
    peer_median = min(median[n] for n in peer_names)
    res["best_peer"] = min(peer_names, key=best.get)
    res["ratio_peer_vs_jaxmeta"] = peer_best / best["jaxmeta"]
    res["ratio_peer_vs_jaxmeta_median"] = peer_median / median["jaxmeta"]
    if public_evaluate:
      res["ratio_peer_vs_jaxmeta_evaluate"] = peer_best / best["jaxmeta_evaluate"]
  return res


def print_omniglot_eval(res: dict):
  b, m, s = res["seconds_best"], res["seconds_median"], res["setting"]
  print(f"Omniglot evaluation ({s['num_tasks']} tasks, {s['ways']}w{s['shots']}s, "
        f"{s['query']} query, {s['eval_steps']} SGD steps, first order, stride-2 Conv-4 "
        f"{s['filters']}): seconds, best [median] of rounds")
  for name in b:
    extra = ""
    if name in res["compile_seconds"]:
      extra = f"  compile {res['compile_seconds'][name]:.1f} s (not timed)"
    print(f"  {name:<17} {b[name]:>8.2f}  [{m[name]:.2f}]  accuracy {res['accuracy'][name]:.3f}{extra}")
  for name, why in res["skipped"].items():
    print(f"  {name:<17} skipped ({why})")
  if "ratio_peer_vs_jaxmeta" in res:
    line = (f"  best peer ({res['best_peer']}) / jaxmeta = {res['ratio_peer_vs_jaxmeta']:.2f}x "
            f"(median rounds {res['ratio_peer_vs_jaxmeta_median']:.2f}x)")
    if "ratio_peer_vs_jaxmeta_evaluate" in res:
      line += f"; / jaxmeta.evaluate {res['ratio_peer_vs_jaxmeta_evaluate']:.2f}x"
    print(line)
  if res.get("cpu_load_1min") is not None:
    print(f"  (1-min load average at the end: {res['cpu_load_1min']:.1f} on {os.cpu_count()} CPUs)")


BENCHMARKS = {"omniglot_eval": (bench_omniglot_eval, print_omniglot_eval)}


if __name__ == "__main__":
  import argparse
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--tasks", type=int, default=NUM_TASKS)
  p.add_argument("--batch-size", type=int, default=EVAL_BATCH)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--torch-threads", type=int, default=2)
  p.add_argument("--no-public-evaluate", action="store_true", help="skip jaxmeta.evaluate")
  p.add_argument("--quiet", action="store_true")
  a = p.parse_args()
  print_omniglot_eval(bench_omniglot_eval(a, a.tasks, a.batch_size,
                                          public_evaluate=not a.no_public_evaluate))
