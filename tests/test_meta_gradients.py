"""MAML / FOMAML / Reptile meta-gradients against explicit formulas and finite differences."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxmeta
from jaxmeta.algorithms.common import model_loss

ALPHA = 0.05


def _setup(shots=7, query=9, hidden=(8,)):
  task = jaxmeta.tasks.sinusoid(shots=shots, query=query)
  model = jaxmeta.models.MLP(hidden, 1)
  episode = jax.tree.map(lambda v: v.astype(jnp.float64), task.sample(jax.random.key(3)))
  params = jax.tree.map(lambda v: v.astype(jnp.float64),
                        jax.jit(model.init)(jax.random.key(4), episode.support_x))
  return task, model, episode, params


def _unrolled_sgd(loss, params, batch, steps):
  """Reference inner loop: a Python loop, independent of the lax.scan in jaxmeta.adapt."""
  for _ in range(steps):
    params = jax.tree.map(lambda a, g: a - ALPHA * g, params, jax.grad(loss)(params, batch))
  return params


def test_maml_k1_equals_explicit_hessian_formula(x64):
  task, model, ep, params = _setup()
  algo = jaxmeta.algorithms.maml(model, task, inner_lr=ALPHA, inner_steps=1)
  grads, _ = algo.meta_grad(params, ep, jax.random.key(0))

  flat, unravel = ravel_pytree(params)
  loss = model_loss(model, task)
  support = lambda f: loss(unravel(f), (ep.support_x, ep.support_y))
  query = lambda f: loss(unravel(f), (ep.query_x, ep.query_y))
  adapted = flat - ALPHA * jax.grad(support)(flat)
  hessian = jax.hessian(support)(flat)
  expected = (jnp.eye(flat.size) - ALPHA * hessian) @ jax.grad(query)(adapted)
  np.testing.assert_allclose(ravel_pytree(grads)[0], expected, rtol=1e-10, atol=1e-12)


def test_maml_k2_matches_finite_differences(x64):
  task, model, ep, params = _setup()
  algo = jaxmeta.algorithms.maml(model, task, inner_lr=ALPHA, inner_steps=2)
  grads, _ = algo.meta_grad(params, ep, jax.random.key(0))
  flat, unravel = ravel_pytree(params)
  loss = model_loss(model, task)

  def objective(f):
    p = _unrolled_sgd(loss, unravel(f), (ep.support_x, ep.support_y), 2)
    return loss(p, (ep.query_x, ep.query_y))

  eps = 1e-6
  rng = np.random.default_rng(0)
  g = ravel_pytree(grads)[0]
  for _ in range(6):  # directional derivatives along random directions
    v = jnp.asarray(rng.standard_normal(flat.size))
    fd = (objective(flat + eps * v) - objective(flat - eps * v)) / (2 * eps)
    np.testing.assert_allclose(jnp.dot(g, v), fd, rtol=1e-6)


def test_fomaml_is_query_gradient_at_adapted_params(x64):
  task, model, ep, params = _setup()
  loss = model_loss(model, task)
  algo = jaxmeta.algorithms.fomaml(model, task, inner_lr=ALPHA, inner_steps=3)
  grads, _ = algo.meta_grad(params, ep, jax.random.key(0))
  p = _unrolled_sgd(loss, params, (ep.support_x, ep.support_y), 3)
  chex.assert_trees_all_close(grads, jax.grad(loss)(p, (ep.query_x, ep.query_y)), rtol=1e-10)


def test_reptile_update_is_theta_minus_w_over_alpha(x64):
  task, model, ep, params = _setup()
  loss = model_loss(model, task)
  algo = jaxmeta.algorithms.reptile(model, task, inner_lr=ALPHA, inner_steps=4)
  grads, _ = algo.meta_grad(params, ep, jax.random.key(0))
  w = _unrolled_sgd(loss, params, (ep.support_x, ep.support_y), 4)
  chex.assert_trees_all_close(grads, jax.tree.map(lambda t, u: (t - u) / ALPHA, params, w), rtol=1e-9)
  # Plain SGD with learning rate epsilon * alpha is the paper's theta + epsilon (W - theta).
  eps = 0.3
  stepped = jax.tree.map(lambda t, g: t - eps * ALPHA * g, params, grads)
  chex.assert_trees_all_close(stepped, jax.tree.map(lambda t, u: t + eps * (u - t), params, w), rtol=1e-9)


def test_pretrained_gradient_is_joint_loss_gradient(x64):
  task, model, ep, params = _setup()
  loss = model_loss(model, task)
  grads, _ = jaxmeta.algorithms.pretrained(model, task).meta_grad(params, ep, jax.random.key(0))
  x = jnp.concatenate([ep.support_x, ep.query_x])
  y = jnp.concatenate([ep.support_y, ep.query_y])
  chex.assert_trees_all_close(grads, jax.grad(loss)(params, (x, y)), rtol=1e-10)


def test_remat_gives_identical_gradients():
  task = jaxmeta.tasks.sinusoid(shots=7, query=9)
  model = jaxmeta.models.MLP((8,), 1)
  ep = task.sample(jax.random.key(3))
  params = jax.jit(model.init)(jax.random.key(4), ep.support_x)
  plain = jaxmeta.algorithms.maml(model, task, inner_lr=ALPHA, inner_steps=5)
  remat = jaxmeta.algorithms.maml(model, task, inner_lr=ALPHA, inner_steps=5, remat=True)
  chex.assert_trees_all_close(plain.meta_grad(params, ep, None)[0],
                              remat.meta_grad(params, ep, None)[0], rtol=1e-6, atol=1e-7)


def test_adapt_per_step_batches_and_observe():
  loss = lambda w, b: jnp.sum((w - b) ** 2)
  batches = jnp.array([[1.0], [3.0]])
  w, (losses, seen) = jaxmeta.adapt(loss, jnp.zeros(1), batches, lr=0.25, per_step_batches=True,
                                    observe=lambda p: p[0])
  # step 0: w=0 -> 0.5 (grad -2); step 1: w=0.5 -> 0.5 - 0.25*2*(0.5-3) = 1.75
  np.testing.assert_allclose(w, [1.75])
  np.testing.assert_allclose(losses, [1.0, 6.25])
  np.testing.assert_allclose(seen, [0.0, 0.5])
  with pytest.raises(ValueError, match="steps"):
    jaxmeta.adapt(loss, jnp.zeros(1), batches, lr=0.1, steps=3, per_step_batches=True)
