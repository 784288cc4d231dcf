"""Conv-4: the patches+matmul convolution equals lax.conv (values and meta-gradients)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.models.conv import Conv4, conv2d, max_pool_2x2


@pytest.mark.parametrize("stride,size", [(1, 7), (2, 7), (2, 8), (2, 28)])
def test_patches_conv_equals_lax_conv(stride, size):
  x = jax.random.normal(jax.random.key(0), (3, size, size, 4))
  k = jax.random.normal(jax.random.key(1), (3, 3, 4, 5))
  np.testing.assert_allclose(conv2d(x, k, stride, "patches"), conv2d(x, k, stride, "lax"),
                             rtol=1e-5, atol=1e-4)


def test_max_pool_matches_reduce_window():
  x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
  ref = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
  np.testing.assert_array_equal(max_pool_2x2(x), ref)


@pytest.mark.parametrize("kw", [dict(), dict(stride=1, pool=True), dict(norm="none"),
                                dict(norm="support"), dict(readout="mean")])
def test_conv4_forward_same_for_both_impls(kw):
  x = jax.random.normal(jax.random.key(0), (6,) + ((28, 28) if kw.get("pool") else (14, 14)) + (1,))
  params = jax.jit(Conv4(filters=8, output_size=3, **kw).init)(jax.random.key(1), x)
  out = {impl: Conv4(filters=8, output_size=3, conv_impl=impl, **kw).apply(params, x)
         for impl in ("lax", "patches")}
  assert out["lax"].shape == (6, 3)
  np.testing.assert_allclose(out["patches"], out["lax"], rtol=1e-4, atol=1e-4)


def test_embedding_and_support_norm_is_non_transductive():
  model = Conv4(filters=8, norm="support")
  s = jax.random.normal(jax.random.key(0), (5, 14, 14, 1))
  q = jax.random.normal(jax.random.key(1), (7, 14, 14, 1))
  params = jax.jit(model.init)(jax.random.key(2), s)   # jitted: op by op compiles ~100 ops
  apply = jax.jit(model.apply)
  emb = apply(params, q, support=s)
  assert emb.shape == (7, 8)  # 14 -> 7 -> 4 -> 2 -> 1 pixel x 8 channels, flattened
  # One query's embedding does not depend on the other queries (support statistics only).
  one = apply(params, q[:1], support=s)
  np.testing.assert_allclose(one, emb[:1], rtol=1e-5, atol=1e-5)
  # Transductive batch norm does depend on them.
  batch = jax.jit(Conv4(filters=8, norm="batch").apply)
  assert not np.allclose(batch(params, q[:1]), batch(params, q)[:1], atol=1e-3)


def test_koch_net_patches_path_equals_lax_and_keeps_nn_conv_parameters():
  """KochNet's VALID convolutions run through conv2d (patches on CPU: lax convolutions in
  the training loop's scan were 30x slower there); the parameters are nn.Conv's."""
  from jaxmeta.models import KochNet
  x = jax.random.normal(jax.random.key(1), (2, 105, 105, 1))
  params = jax.jit(KochNet(features=0.125).init)(jax.random.key(0), x)
  layer = params["params"]["Conv_1"]
  assert layer["kernel"].shape == (7, 7, 8, 16) and layer["bias"].shape == (16,)
  lax_out = jax.jit(KochNet(features=0.125, conv_impl="lax").apply)(params, x)
  patches_out = jax.jit(KochNet(features=0.125, conv_impl="patches").apply)(params, x)
  assert lax_out.shape == (2, 512)
  np.testing.assert_allclose(patches_out, lax_out, atol=1e-5)
  valid = conv2d(x[:, :9, :9], jnp.ones((4, 4, 1, 2)), 1, "patches", padding="VALID")
  np.testing.assert_allclose(valid, conv2d(x[:, :9, :9], jnp.ones((4, 4, 1, 2)), 1, "lax",
                                           padding="VALID"), atol=1e-5)
  assert valid.shape == (2, 6, 6, 2)
