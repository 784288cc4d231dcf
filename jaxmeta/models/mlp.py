"""Multi-layer perceptron (the MAML sinusoid network is ``MLP((40, 40), 1)``)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax


class MLP(nn.Module):
  """ReLU MLP on flattened inputs.

  Attributes:
    hidden: widths of the hidden layers.
    output_size: width of the output layer (no activation).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = MLP((40, 40), 1)
    >>> params = model.init(jax.random.key(0), jnp.zeros((3, 1)))
    >>> model.apply(params, jnp.zeros((3, 1))).shape
    (3, 1)
  """
  hidden: Sequence[int] = (40, 40)
  output_size: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.reshape((x.shape[0], -1))
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.output_size)(x)
