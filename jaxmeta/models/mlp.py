"""Multi-layer perceptron (the MAML sinusoid network is ``MLP((40, 40), 1)``)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh}


class MLP(nn.Module):
  """MLP on flattened inputs, ReLU (or tanh) hidden layers.

  Attributes:
    hidden: widths of the hidden layers.
    output_size: width of the output layer (no activation).
    activation: the hidden layers' nonlinearity, a name of :data:`ACTIVATIONS` (``"tanh"``:
      the Reptile sinusoid demo's network).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = MLP((40, 40), 1)
    >>> params = model.init(jax.random.key(0), jnp.zeros((3, 1)))
    >>> model.apply(params, jnp.zeros((3, 1))).shape
    (3, 1)
  """
  hidden: Sequence[int] = (40, 40)
  output_size: int = 1
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.reshape((x.shape[0], -1))
    activation = ACTIVATIONS[self.activation]
    for width in self.hidden:
      x = activation(nn.Dense(width)(x))
    return nn.Dense(self.output_size)(x)
