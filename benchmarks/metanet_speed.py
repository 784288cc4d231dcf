"""MetaNet speed: seconds per training episode (one jitted meta-step of one episode) and the
achieved GFLOP/s (XLA's own FLOP count of the compiled step / measured time).

  PYTHONPATH=. /work/cpu python benchmarks/metanet_speed.py [--ways 5] [--query 10] [--steps 20]

Random 28x28 images (speed does not depend on the pixels); the step is the one `jaxmeta train`
runs (jaxmeta.train.make_train_step with meta-batch 1, Adam 1e-3).
"""
import argparse
import time

import jax
import jax.numpy as jnp
import optax

import jaxmeta
from jaxmeta.algorithms.metanet import metanet
from jaxmeta.tasks.episodes import few_shot_task


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--ways", type=int, default=5)
  ap.add_argument("--shots", type=int, default=1)
  ap.add_argument("--query", type=int, default=10)
  ap.add_argument("--size", type=int, default=28)
  ap.add_argument("--steps", type=int, default=20)
  ap.add_argument("--loss", default="ce")
  args = ap.parse_args()
  images = jax.random.uniform(jax.random.key(0), (40, 20, args.size, args.size, 1))
  task = few_shot_task(images, args.ways, args.shots, args.query, rotation="per-task")
  algo = metanet(args.ways, loss=args.loss)
  opt = optax.adam(1e-3)
  state = jaxmeta.init_state(jax.random.key(1), task, algo, opt)
  step = jaxmeta.make_train_step(task, algo, opt, 1, task_axis="map", donate=False)
  compiled = step.lower(state, jax.random.key(2)).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", float("nan")))
  state, m = compiled(state, jax.random.key(3))
  jax.block_until_ready(state)
  t0 = time.perf_counter()
  for i in range(args.steps):
    state, m = compiled(state, jax.random.key(10 + i))
  jax.block_until_ready(state)
  dt = (time.perf_counter() - t0) / args.steps
  print(f"{args.ways}-way {args.shots}-shot {args.query} queries/class, {args.size}x{args.size}: "
        f"{dt:.3f} s/episode, {flops / 1e9:.2f} GFLOP/episode (XLA count), "
        f"{flops / dt / 1e9:.1f} GFLOP/s; loss {float(m['loss'][()] if m['loss'].ndim == 0 else m['loss']):.3f}")


if __name__ == "__main__":
  main()
