"""The Siamese twin network of Koch, Zemel & Salakhutdinov (2015) for 105x105 Omniglot."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta.models.conv import conv2d


class _ValidConv(nn.Module):
  """``nn.Conv(features, (k, k), padding="VALID")`` (same parameter names, shapes and
  initialisers) through :func:`~jaxmeta.models.conv.conv2d`, so ``conv_impl`` applies."""
  features: int
  kernel_size: int
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    return conv2d(x, kernel.astype(x.dtype), 1, self.conv_impl, padding="VALID") + bias


class KochNet(nn.Module):
  """conv 64@10x10 - pool - conv 128@7x7 - pool - conv 128@4x4 - pool - conv 256@4x4 -
  dense 4096 (sigmoid): the embedding ``f_theta`` of Koch et al. 2015, fig. 4 (ReLU
  after each conv, VALID padding, 2x2 max-pool). ``features`` scales every width (1.0:
  the paper; smaller for CPU experiments). ``conv_impl`` as in
  :class:`~jaxmeta.models.conv.Conv4` (``"auto"``: patches except on TPU).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> net = KochNet(features=0.125)
    >>> params = net.init(jax.random.key(0), jnp.zeros((2, 105, 105, 1)))
    >>> net.apply(params, jnp.zeros((2, 105, 105, 1))).shape
    (2, 512)
  """
  features: float = 1.0
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    width = lambda n: max(1, int(round(n * self.features)))
    conv = lambda n, k, i: _ValidConv(width(n), k, self.conv_impl, name=f"Conv_{i}")
    for i, (n, k) in enumerate(((64, 10), (128, 7), (128, 4))):
      x = nn.max_pool(nn.relu(conv(n, k, i)(x)), (2, 2), (2, 2))
    x = nn.relu(conv(256, 4, 3)(x))
    return nn.sigmoid(nn.Dense(width(4096))(x.reshape(x.shape[0], -1)))
