"""Conv-4 backbones (MAML / ProtoNets), with a fast convolution path for XLA:CPU.

Two architectures from the papers, both ``4 x [3x3 conv, normalisation, ReLU, ...]``:

* MAML's Omniglot network (Finn et al. 2017, code ``forward_conv``): stride-2 convolutions,
  no pooling, features averaged over space (``Conv4(stride=2, pool=False, readout="mean")``).
* ProtoNets' / mini-ImageNet MAML's network: stride-1 convolutions each followed by a 2x2
  max-pool (``Conv4(stride=1, pool=True)``), features flattened.

Convolutions are computed either with ``lax.conv_general_dilated`` (``conv_impl="lax"``,
the straightforward path for GPU/TPU) or as patch extraction followed by one matmul
(``conv_impl="patches"``). On XLA:CPU a ``vmap`` over tasks of a convolution whose kernel
differs per task becomes a grouped convolution that is very slow; the patches path turns
it into a batched matmul with the task axis as batch dimension, which XLA:CPU runs at near
matmul peak, and whose first and second derivatives are matmuls and strided slices too.
A GPU has the same problem: on an H200 the patches path ran second-order MAML 5.7x faster
than ``lax`` on the Omniglot Conv-4 and 2.1x on the mini-ImageNet one (``benchmarks/
RESULTS.md``, "On a GPU"). ``conv_impl="auto"`` picks ``patches`` on CPU and GPU and ``lax``
on TPU (not measured there; its convolution units want ``lax``). The parameter pytree
is the same for both, so a run trained with one can be evaluated with the other.

Normalisation (``norm``) is explicit because it changes results:

* ``"batch"``: statistics of the batch being processed, at training *and* test time, as in
  the MAML and Reptile code (transductive: the query set's own statistics are used on the
  query set). No running averages.
* ``"none"``: no normalisation (convolutions get a bias instead).
* ``"support"``: non-transductive: when called as ``apply(params, x, support=s)`` the
  statistics of every layer are those of the support set ``s``; called without
  ``support`` (adaptation on the support set itself) the batch's own statistics are used.
"""
from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

NORMS = ("batch", "none", "support")
CONV_IMPLS = ("auto", "lax", "patches")
READOUTS = ("flatten", "mean", "map")  # "map": issue 6 (Relation Networks need the feature map)
_EPS = 1e-5


def resolve_conv_impl(conv_impl: str) -> str:
  """``"auto"`` -> ``"patches"`` on CPU and GPU, ``"lax"`` on TPU; other values unchanged."""
  if conv_impl == "auto":
    return "lax" if jax.default_backend() == "tpu" else "patches"
  if conv_impl not in CONV_IMPLS:
    raise ValueError(f"conv_impl must be one of {CONV_IMPLS}, got {conv_impl!r}")
  return conv_impl


def _same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
  """TF/XLA "SAME" padding: output ``ceil(size / stride)``, extra pixel at the end."""
  out = -(-size // stride)
  total = max((out - 1) * stride + k - size, 0)
  return total // 2, total - total // 2


def extract_patches(x: jax.Array, kh: int, kw: int, stride: int,
                    padding: str = "SAME") -> jax.Array:
  """``[N, H, W, C] -> [N, Ho, Wo, kh * kw * C]`` "SAME" (or "VALID") patches, ordered like
  an HWIO kernel.

  Built from ``kh * kw`` strided slices of the padded input (no identity convolution), so
  its transpose is a cheap pad/add.
  """
  n, h, w, c = x.shape
  if padding == "VALID":
    xp, ho, wo = x, (h - kh) // stride + 1, (w - kw) // stride + 1
  else:
    ph, pw = _same_padding(h, kh, stride), _same_padding(w, kw, stride)
    xp = jnp.pad(x, ((0, 0), ph, pw, (0, 0)))
    ho, wo = -(-h // stride), -(-w // stride)
  cols = [lax.slice(xp, (0, i, j, 0), (n, i + (ho - 1) * stride + 1, j + (wo - 1) * stride + 1, c),
                    (1, stride, stride, 1))
          for i in range(kh) for j in range(kw)]
  return jnp.concatenate(cols, axis=-1)


def conv2d(x: jax.Array, kernel: jax.Array, stride: int = 1, conv_impl: str = "auto",
           padding: str = "SAME") -> jax.Array:
  """"SAME" (or "VALID") 2-D convolution, NHWC input, HWIO kernel, either implementation.

  On XLA:CPU ``lax`` convolutions inside a ``lax.scan`` (the training loop's several steps
  per call) ran 30x slower than the same step outside one (Koch et al.'s network: 174 s
  against 5.4 s per meta-step); ``patches`` (a matmul) does not have that cliff.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
    >>> k = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
    >>> a = conv2d(x, k, 2, "lax"); b = conv2d(x, k, 2, "patches")
    >>> a.shape, bool(jnp.allclose(a, b, atol=1e-4))
    ((2, 5, 5, 4), True)
  """
  impl = resolve_conv_impl(conv_impl)
  if padding not in ("SAME", "VALID"):
    raise ValueError(f"padding must be SAME or VALID, got {padding!r}")
  if impl == "lax":
    return lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
  kh, kw, cin, cout = kernel.shape
  patches = extract_patches(x, kh, kw, stride, padding)
  n, ho, wo, p = patches.shape
  out = patches.reshape(n * ho * wo, p) @ kernel.reshape(p, cout)
  return out.reshape(n, ho, wo, cout)


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max-pool, stride 2, "VALID" (odd sizes are cropped), as the elementwise maximum
  of the four strided sub-grids.

  Its gradient is an elementwise select, far cheaper on XLA:CPU than the
  select-and-scatter of ``lax.reduce_window``'s gradient (and its second derivative).
  (A reshape + ``max`` over the window axes computes the same values, but its second
  derivative disagreed with finite differences in MAML with ``norm="support"``.)
  """
  n, h, w, c = x.shape
  x = x[:, :h - h % 2, :w - w % 2]
  return jnp.maximum(jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]),
                     jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]))


def batch_moments(h: jax.Array):
  """Mean and (biased) variance of ``h`` over every axis but the last (channels)."""
  axes = tuple(range(h.ndim - 1))
  mean = jnp.mean(h, axes)
  var = jnp.mean(jnp.square(h - mean), axes)
  return mean, var


class Conv4(nn.Module):
  """``layers x [3x3 conv, norm, ReLU, (2x2 max-pool)]`` then an optional linear head.

  Attributes:
    filters: channels of every convolution (64 for Omniglot, 32 or 64 for mini-ImageNet).
    stride: convolution stride (2 in MAML's Omniglot network, 1 with pooling).
    pool: 2x2 max-pool after every block (ProtoNets / mini-ImageNet).
    pool_layers: with ``pool``, only the first ``pool_layers`` blocks pool (``None``: all).
      Relation Networks' encoder pools after the first two of its four blocks, keeping a
      7x7 feature map at 28x28 for the relation module.
    norm: ``"batch"``, ``"none"`` or ``"support"`` (see the module docstring).
    output_size: ``None`` returns the feature vector (an embedding network); an int
      adds a linear layer with that many outputs (logits).
    layers: number of conv blocks.
    readout: ``"flatten"`` the last feature map, or average it over space (``"mean"``,
      MAML's Omniglot code), or keep the ``"map"`` ``[N, h, w, filters]`` (Relation
      Networks; use with ``output_size=None``).
    conv_impl: ``"auto"``, ``"lax"`` or ``"patches"`` (see :func:`conv2d`).
    valid_layers: the first ``valid_layers`` convolutions use no padding ("VALID": the
      map shrinks by 2), the rest "SAME". Relation Networks' code pads its first two
      blocks with 0: 5x5 maps at 28x28, 19x19 at 84x84. Stride 1 only.

  Inputs are ``[N, H, W, C]`` images (``[N, H, W]`` is read as one channel).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> model = Conv4(filters=8, output_size=5)
    >>> x = jnp.zeros((10, 28, 28, 1))
    >>> params = model.init(jax.random.key(0), x)
    >>> model.apply(params, x).shape
    (10, 5)
    >>> Conv4(filters=8).apply(Conv4(filters=8).init(jax.random.key(0), x), x).shape
    (10, 32)
  """
  filters: int = 64
  stride: int = 2
  pool: bool = False
  pool_layers: Optional[int] = None
  norm: str = "batch"
  output_size: Optional[int] = None
  layers: int = 4
  readout: str = "flatten"
  conv_impl: str = "auto"
  valid_layers: int = 0

  @nn.compact
  def __call__(self, x: jax.Array, support: Optional[jax.Array] = None) -> jax.Array:
    if self.norm not in NORMS:
      raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
    if self.readout not in READOUTS:
      raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")
    if self.valid_layers and self.stride != 1:
      raise ValueError(f"valid_layers needs stride 1, got stride {self.stride}")
    if x.ndim == 3:
      x = x[..., None]
    n_stats = 0
    if self.norm == "support" and support is not None:
      # Run the support set alongside; its rows alone supply the statistics.
      if support.ndim == 3:
        support = support[..., None]
      n_stats = support.shape[0]
      x = jnp.concatenate([support.astype(x.dtype), x])
    h = x
    for i in range(self.layers):
      cin = h.shape[-1]
      kernel = self.param(f"conv{i}_kernel", nn.initializers.glorot_uniform(),
                          (3, 3, cin, self.filters), jnp.float32)
      h = conv2d(h, kernel.astype(h.dtype), self.stride, self.conv_impl)
      if i < self.valid_layers:
        # A stride-1 3x3 "SAME" conv without its border ring is the "VALID" conv.
        h = h[:, 1:-1, 1:-1]
      if self.norm == "none":
        h = h + self.param(f"conv{i}_bias", nn.initializers.zeros, (self.filters,), jnp.float32)
      else:
        # Batch normalisation with the current statistics (no running averages).
        mean, var = batch_moments(h[:n_stats] if n_stats else h)
        scale = self.param(f"norm{i}_scale", nn.initializers.ones, (self.filters,), jnp.float32)
        bias = self.param(f"norm{i}_bias", nn.initializers.zeros, (self.filters,), jnp.float32)
        h = (h - mean) * (scale * lax.rsqrt(var + _EPS)) + bias
      h = nn.relu(h)
      if self.pool and (self.pool_layers is None or i < self.pool_layers):
        h = max_pool_2x2(h)
    if self.readout == "mean":
      h = jnp.mean(h, axis=(1, 2))
    elif self.readout == "flatten":
      h = h.reshape(h.shape[0], -1)
    if n_stats:
      h = h[n_stats:]
    if self.output_size is None:
      return h
    return nn.Dense(self.output_size, name="head")(h)
