"""Episodes per second: the on-device jax.random sampler vs a straightforward numpy host sampler.

Omniglot "small-sets" train split (688 classes with rotations, 20 examples, 28x28),
5-way 1-shot 15-query, meta-batch 32. Measured side by side in one process:

* ``device, one meta-batch per call``: ``jit(vmap(task.sample))`` on 32 keys, blocked on;
* ``device, 100 meta-batches per call``: the same inside ``lax.scan`` (how the train loop
  runs it: several steps per dispatch); a pixel sum is kept so nothing is optimised away;
* ``host numpy``: ``rng.choice`` of classes and examples, fancy-index gather, stack;
* ``host numpy + device_put``: the same, then copied to the device (what a host data
  pipeline costs per step).

Usage:
  python benchmarks/episodes.py --data-dir /work/shared/data/omniglot [--seconds 3]
"""
from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta.data.omniglot import omniglot_splits
from jaxmeta.tasks.episodes import few_shot_task


def host_sampler(images, counts, ways, shots, query, batch, rng):
  xs, ys = [], []
  for _ in range(batch):
    classes = rng.choice(len(images), ways, replace=False)
    support, queries = [], []
    for c in classes:
      idx = rng.choice(counts[c], shots + query, replace=False)
      support.append(images[c, idx[:shots]])
      queries.append(images[c, idx[shots:]])
    xs.append((np.concatenate(support), np.concatenate(queries)))
  sy = np.repeat(np.arange(ways, dtype=np.int32), shots)
  qy = np.repeat(np.arange(ways, dtype=np.int32), query)
  return (np.stack([s for s, _ in xs]), np.broadcast_to(sy, (batch, ways * shots)),
          np.stack([q for _, q in xs]), np.broadcast_to(qy, (batch, ways * query)))


def rate(fn, seconds, per_call):
  fn()  # warm up / compile
  n, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    fn()
    n += 1
  return n * per_call / (time.perf_counter() - t0)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data-dir", default="/work/shared/data/omniglot")
  p.add_argument("--cache-dir", default=None)
  p.add_argument("--seconds", type=float, default=3.0)
  p.add_argument("--ways", type=int, default=5)
  p.add_argument("--shots", type=int, default=1)
  p.add_argument("--query", type=int, default=15)
  p.add_argument("--batch", type=int, default=32)
  args = p.parse_args()
  t0 = time.perf_counter()
  train = omniglot_splits("small-sets", data_dir=args.data_dir, cache_dir=args.cache_dir)["train"]
  load_s = time.perf_counter() - t0
  ways, shots, query, batch = args.ways, args.shots, args.query, args.batch
  task = few_shot_task(train, ways, shots, query)
  keys = jax.random.split(jax.random.key(0), batch)
  one = jax.jit(jax.vmap(task.sample))
  state = {"k": 0}

  def device_one():
    state["k"] += 1
    jax.block_until_ready(one(jax.random.split(jax.random.key(state["k"]), batch)))

  inner = 100

  @jax.jit
  def many(key):
    def body(acc, k):
      ep = jax.vmap(task.sample)(jax.random.split(k, batch))
      return acc + ep.support_x.sum() + ep.query_x.sum(), None
    return jax.lax.scan(body, jnp.zeros(()), jax.random.split(key, inner))[0]

  def device_many():
    state["k"] += 1
    jax.block_until_ready(many(jax.random.key(state["k"])))

  rng = np.random.default_rng(0)
  images, counts = train.images, train.counts

  def host():
    host_sampler(images, counts, ways, shots, query, batch, rng)

  def host_put():
    jax.block_until_ready(jax.device_put(host_sampler(images, counts, ways, shots, query, batch, rng)))

  del keys
  results = {
      "setting": f"Omniglot small-sets train ({train.num_classes} classes), {ways}-way {shots}-shot "
                 f"{query}-query, meta-batch {batch}",
      "backend": jax.default_backend(), "device": str(jax.devices()[0]),
      "load_seconds": round(load_s, 2),
  }
  for name, fn, per_call in (("device, 1 meta-batch per call", device_one, batch),
                             (f"device, {inner} meta-batches per call (lax.scan)", device_many, batch * inner),
                             ("host numpy", host, batch),
                             ("host numpy + device_put", host_put, batch)):
    results[name] = round(rate(fn, args.seconds, per_call), 1)
  base = results["host numpy + device_put"]
  results["speedup (scan vs host+put)"] = round(results[f"device, {inner} meta-batches per call (lax.scan)"] / base, 1)
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  main()
