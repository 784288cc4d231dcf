"""The gradient-identity remainder ``|E[g_X] - (c_A A - c_B alpha B)|`` against alpha, for
the figure of benchmarks/RESULTS.md's "Gradient identities" section.

The same computation as notebooks/gradient_identities.ipynb (section 2), on its tanh MLP
1-40-40-1 and 16 sinusoid tasks in float64, shrunk to what takes seconds: the remainder
of MAML, FOMAML and Reptile at 6 alphas from 1e-4 to 10^-1.5, relative to ``|A|``, with the
fitted log-log slopes (2 expected). Cached as JSON; ``compute`` reruns it.

Usage:
  python benchmarks/identity_remainders.py --json benchmarks/results/identities/remainders.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

TASKS = 16
ALPHAS = (1e-4, 10 ** -3.5, 1e-3, 10 ** -2.5, 1e-2, 10 ** -1.5)


def compute() -> dict:
  """Remainders (relative to ``|A|``) and slopes for the tanh MLP, as a JSON-ready dict."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp

  import jaxmeta
  from jaxmeta import identities as I

  class TanhMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
      for width in (40, 40):
        x = jnp.tanh(nn.Dense(width)(x))
      return nn.Dense(1)(x)

  # float64 for this computation only: the remainder at alpha = 1e-4 is ~1e-5 of |A|.
  with jax.enable_x64(True):
    f64 = lambda tree: jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), tree)
    sample = jax.vmap(jaxmeta.tasks.sinusoid(shots=10, query=10).sample)
    eps = jax.jit(sample)(jax.random.split(jax.random.key(1), TASKS))
    batches = [f64((eps.support_x, eps.support_y)), f64((eps.query_x, eps.query_y))]
    mlp = TanhMLP()
    params = f64(mlp.init(jax.random.key(0), jnp.zeros((1, 1))))

    def loss(p, batch):
      x, y = batch
      return jnp.mean((mlp.apply(p, x) - y) ** 2)

    r = I.expansion_residuals(loss, params, batches, ALPHAS)
    relative = {a: [float(v) / r["scale"] for v in r[a]] for a in I.ALGORITHMS}
    slopes = {a: I.fit_slope(ALPHAS, r[a]) for a in I.ALGORITHMS}
  return {"model": "tanh MLP 1-40-40-1, 16 sinusoid tasks (10 support + 10 query points), "
                   "float64, k = 1",
          "alphas": list(ALPHAS), "relative_remainder": relative, "slopes": slopes,
          "scale": r["scale"]}


def cached(path: Path) -> dict:
  """The cached remainders at ``path``, computed (seconds) and written when missing."""
  import json

  from results_io import write_json
  path = Path(path)
  if path.exists():
    return json.loads(path.read_text())
  data = compute()
  write_json(path, data)
  return data


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--json", type=Path, required=True, help="where to write the remainders")
  args = p.parse_args(argv)
  from results_io import write_json
  data = compute()
  write_json(args.json, data)
  print("slopes (expected 2):", {a: round(s, 3) for a, s in data["slopes"].items()})
  return 0


if __name__ == "__main__":
  sys.exit(main())
