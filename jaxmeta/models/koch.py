"""The Siamese twin network of Koch, Zemel & Salakhutdinov (2015) for 105x105 Omniglot."""
from __future__ import annotations

import flax.linen as nn
import jax


class KochNet(nn.Module):
  """conv 64@10x10 - pool - conv 128@7x7 - pool - conv 128@4x4 - pool - conv 256@4x4 -
  dense 4096 (sigmoid): the embedding ``f_theta`` of Koch et al. 2015, fig. 4 (ReLU
  after each conv, VALID padding, 2x2 max-pool). ``features`` scales every width (1.0:
  the paper; smaller for CPU experiments).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> net = KochNet(features=0.125)
    >>> params = net.init(jax.random.key(0), jnp.zeros((2, 105, 105, 1)))
    >>> net.apply(params, jnp.zeros((2, 105, 105, 1))).shape
    (2, 512)
  """
  features: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    width = lambda n: max(1, int(round(n * self.features)))
    for n, k in ((64, 10), (128, 7), (128, 4)):
      x = nn.max_pool(nn.relu(nn.Conv(width(n), (k, k), padding="VALID")(x)), (2, 2), (2, 2))
    x = nn.relu(nn.Conv(width(256), (4, 4), padding="VALID")(x))
    return nn.sigmoid(nn.Dense(width(4096))(x.reshape(x.shape[0], -1)))
