"""One meta-step of Koch et al.'s Siamese network, as a single jitted step and inside the
training loop's ``lax.scan`` (what ``jaxmeta train`` runs), with each convolution path.

On XLA:CPU the ``lax`` convolutions lost a factor of ~30 inside the loop (174 s against
5.4 s per meta-step); ``patches`` (``conv_impl="auto"`` on CPU) does not. The preset's config
is built as the CLI builds it (``jaxmeta.registry``, the real small sets, Korean held out).

  python benchmarks/koch_loop.py --data-dir /work/shared/data/omniglot --impl patches
  python benchmarks/koch_loop.py --data-dir /work/shared/data/omniglot --impl lax   # slow

Results: benchmarks/RESULTS.md, "Where the time goes (issue 14)".
"""
from __future__ import annotations

import argparse
import os
import time

import jax

import jaxmeta
from jaxmeta import registry
from jaxmeta.config import from_preset, validate


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--data-dir", required=True)
  p.add_argument("--impl", default="patches", choices=("lax", "patches"))
  p.add_argument("--meta-batch-size", type=int, default=1)
  p.add_argument("--repeats", type=int, default=2)
  args = p.parse_args(argv)
  config = validate(from_preset("siamese-koch-omniglot", data_dir=args.data_dir,
                                split="holdout:Korean", meta_batch_size=args.meta_batch_size,
                                conv_impl=args.impl))
  task = registry.build_task(config, "train")
  algo = registry.build_algorithm(config, task)
  opt = registry.build_optimizer(config)
  state = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  mb = config.meta_batch_size
  ways = {"single jitted step": jaxmeta.make_train_step(task, algo, opt, mb),
          "loop (lax.scan), 1 step per call": jaxmeta.make_train_loop(task, algo, opt, mb, 1)}
  print(f"--impl {args.impl}, meta-batch {mb}; load average {os.getloadavg()[0]:.2f}", flush=True)
  for name, fn in ways.items():
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(state, jax.random.key(1)).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    print(f"  {name}: compile {time.perf_counter() - t:.1f} s, "
          f"{cost.get('flops', 0) / 1e9:.0f} GFLOP", flush=True)
    for r in range(args.repeats):
      t = time.perf_counter()
      jax.block_until_ready(compiled(state, jax.random.key(2 + r)))
      print(f"    meta-step {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
  main()
