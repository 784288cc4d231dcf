"""jaxmeta.identities in float64: exact identities, A/B against explicit Hessians, alpha^2."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxmeta
from jaxmeta import identities as I
from jaxmeta.errors import ConfigError


@pytest.fixture(autouse=True)
def x64():
  with jax.enable_x64(True):
    yield


class TanhMLP(nn.Module):
  hidden: tuple = (8, 8)

  @nn.compact
  def __call__(self, x):
    for width in self.hidden:
      x = jnp.tanh(nn.Dense(width)(x))
    return nn.Dense(1)(x)


def tiny_problem(hidden=(4,), n_draws=None, n_batches=2, seed=0, points=6, smooth=False):
  """An MLP on sinusoid points (float64); (4,) is small enough for a Hessian.

  ``smooth``: tanh instead of the library's ReLU MLP. The alpha^2 law needs a loss that is
  smooth along the inner step; with ReLU an activation flip inside the step adds a jump.
  """
  model = TanhMLP(hidden) if smooth else jaxmeta.models.MLP(hidden, 1)
  params = model.init(jax.random.key(seed), jnp.zeros((1, 1)))
  params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), params)

  def loss_fn(p, batch):
    x, y = batch
    return jnp.mean((model.apply(p, x) - y) ** 2)

  task = jaxmeta.tasks.sinusoid(shots=points, query=points)
  keys = jax.random.split(jax.random.key(seed + 1), (n_draws or 1) * n_batches)
  eps = jax.vmap(task.sample)(keys)
  xs = eps.support_x.astype(jnp.float64).reshape((n_draws or 1, n_batches, points, 1))
  ys = eps.support_y.astype(jnp.float64).reshape((n_draws or 1, n_batches, points, 1))
  if n_draws is None:
    batches = [(xs[0, i], ys[0, i]) for i in range(n_batches)]
  else:
    batches = [(xs[:, i], ys[:, i]) for i in range(n_batches)]
  return loss_fn, params, batches


@functools.partial(jax.jit, static_argnums=0)
def explicit_meta_gradients(loss_fn, params, batches, alpha):
  """Unrolled reference for general k: theta_j, then the products of (I - alpha H_j)."""
  grad = jax.grad(loss_fn)
  k = len(batches) - 1
  thetas, theta = [params], params
  for j in range(k + 1):
    theta = jax.tree.map(lambda p, g: p - alpha * g, theta, grad(theta, batches[j]))
    thetas.append(theta)
  fomaml = grad(thetas[k], batches[k])
  maml = fomaml
  for j in reversed(range(k)):   # (I - a H_0^(0)) ... (I - a H_{k-1}^(k-1)) g_k^(k)
    hv = jax.jvp(lambda p: grad(p, batches[j]), (thetas[j],), (maml,))[1]
    maml = jax.tree.map(lambda v, h: v - alpha * h, maml, hv)
  reptile = jax.tree.map(lambda *gs: sum(gs), *[grad(thetas[j], batches[j]) for j in range(k + 1)])
  return {"maml": maml, "fomaml": fomaml, "reptile": reptile}


def test_exact_identities_k1_match_closed_forms():
  loss_fn, params, batches = tiny_problem(hidden=(16, 16))
  alpha = 0.05
  got = I.meta_gradients(loss_fn, params, batches, alpha)
  want = I.closed_forms(loss_fn, params, *batches, alpha)
  for name in I.ALGORITHMS:
    assert float(I.relative_error(got[name], want[name])) < 1e-10, name
  # The three are genuinely different vectors.
  assert float(I.relative_error(got["maml"], got["fomaml"])) > 1e-3
  # Reptile (two steps) = g_0^(0) + FOMAML.
  g00 = jax.grad(loss_fn)(params, batches[0])
  diff = jax.tree.map(jnp.subtract, got["reptile"], got["fomaml"])
  assert float(I.relative_error(diff, g00)) < 1e-10


@pytest.mark.parametrize("k", [3])
def test_exact_identities_general_k(k):
  loss_fn, params, batches = tiny_problem(hidden=(8, 8), n_batches=k + 1)
  got = I.meta_gradients(loss_fn, params, batches, 0.03)
  want = explicit_meta_gradients(loss_fn, params, batches, 0.03)
  for name in I.ALGORITHMS:
    assert float(I.relative_error(got[name], want[name])) < 1e-10, name


@pytest.mark.parametrize("n_batches", [2, 3])
def test_taylor_terms_against_materialised_hessian(n_batches):
  loss_fn, params, batches = tiny_problem(hidden=(4,), n_batches=n_batches)
  flat, unravel = ravel_pytree(params)
  assert flat.size == 13
  flat_loss = lambda v, b: loss_fn(unravel(v), b)
  grad, hessian = jax.jit(jax.grad(flat_loss)), jax.jit(jax.hessian(flat_loss))
  gs = [grad(flat, b) for b in batches]
  hs = [hessian(flat, b) for b in batches]
  n = n_batches
  a = sum(gs) / n
  b = sum(hs[j] @ gs[i] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  terms = I.taylor_terms(loss_fn, params, *batches)
  assert float(jnp.linalg.norm(ravel_pytree(terms.a)[0] - a) / jnp.linalg.norm(a)) < 1e-12
  assert float(jnp.linalg.norm(ravel_pytree(terms.b)[0] - b) / jnp.linalg.norm(b)) < 1e-10
  if n == 2:   # B_hat = 1/2 grad(g_0^(0) . g_0^(1))
    half_grad = 0.5 * jax.jit(jax.grad(lambda v: gs_dot(flat_loss, v, batches)))(flat)
    assert float(jnp.linalg.norm(half_grad - b) / jnp.linalg.norm(b)) < 1e-10


def gs_dot(flat_loss, v, batches):
  return jnp.vdot(jax.grad(flat_loss)(v, batches[0]), jax.grad(flat_loss)(v, batches[1]))


@pytest.mark.parametrize("k", [1, 2])
def test_residual_scales_like_alpha_squared(k):
  loss_fn, params, batches = tiny_problem(hidden=(8, 8), n_draws=8, n_batches=k + 1, smooth=True)
  alphas = np.logspace(-4, -2, 5)
  res = I.expansion_residuals(loss_fn, params, batches, alphas)
  for name in I.ALGORITHMS:
    slope = I.fit_slope(alphas, res[name])
    assert 1.8 < slope < 2.2, (name, slope, res[name])
    assert res[name][0] < 1e-3 * res["scale"], name
  # Not vacuous: dropping the B term (c_B = 0) leaves an O(alpha) residual.
  terms, coef = res["terms"], I.expansion_coefficients(k)
  first = jax.vmap(lambda gi: I.tree_norm(jax.tree.map(
      lambda x, a: x - coef["maml"][0] * a, gi, terms.a)))(res["expected"]["maml"])
  assert 0.8 < I.fit_slope(alphas, np.asarray(first)) < 1.2


def test_symmetrised_mean_matches_prediction_for_quadratic_loss():
  # For a quadratic loss in w the expansion has no remainder beyond what products of
  # Hessians contribute; with diagonal commuting Hessians the k=1 FOMAML one is exact.
  loss = lambda w, b: 0.5 * jnp.sum(b * w ** 2)
  w = jnp.array([1.0, -2.0])
  batches = [jnp.array([1.0, 2.0]), jnp.array([3.0, 0.5])]
  g = I.symmetrised_meta_gradients(loss, w, batches, 0.1)
  pred = I.predicted(I.taylor_terms(loss, w, *batches), 0.1, k=1)
  assert float(I.relative_error(g["fomaml"], pred["fomaml"])) < 1e-14
  assert float(I.relative_error(g["reptile"], pred["reptile"])) < 1e-14


def test_expectation_helpers_match_python_loops():
  loss_fn, params, batches = tiny_problem(hidden=(4,), n_draws=3, n_batches=3)
  alpha = 0.02
  got = I.expected_meta_gradients(loss_fn, params, batches, alpha, symmetrise=False)
  draws = [[jax.tree.map(lambda v: v[d], b) for b in batches] for d in range(3)]
  per = [I.meta_gradients(loss_fn, params, bs, alpha) for bs in draws]
  for name in I.ALGORITHMS:
    want = jax.tree.map(lambda *vs: sum(vs) / 3, *[p[name] for p in per])
    assert float(I.relative_error(got[name], want)) < 1e-12
  terms = I.expected_taylor_terms(loss_fn, params, batches)
  per_t = [I.taylor_terms(loss_fn, params, *bs) for bs in draws]
  for field in ("a", "b"):
    want = jax.tree.map(lambda *vs: sum(vs) / 3, *[getattr(t, field) for t in per_t])
    assert float(I.relative_error(getattr(terms, field), want)) < 1e-12


def test_expansion_coefficients_general_k():
  assert I.expansion_coefficients(1) == {"maml": (1, 2), "fomaml": (1, 1), "reptile": (2, 1)}
  assert I.expansion_coefficients(3) == {"maml": (1, 6), "fomaml": (1, 3), "reptile": (4, 6)}


def test_cosine_and_relative_error():
  x = {"a": jnp.array([1.0, 0.0])}
  assert float(I.cosine(x, {"a": jnp.array([0.0, 2.0])})) == 0.0
  assert float(I.relative_error(x, x)) == 0.0


# ----------------------------------------------------------------------------- bad input


def _argument(excinfo):
  return excinfo.value.argument


def test_bad_input_errors_name_the_argument():
  loss_fn, params, batches = tiny_problem(hidden=(4,))
  with pytest.raises(ConfigError, match="at least 2") as e:
    I.meta_gradients(loss_fn, params, batches[:1], 0.1)
  assert _argument(e) == "batches"
  with pytest.raises(ConfigError) as e:
    I.meta_gradients(loss_fn, params, batches[0][0], 0.1)   # an array, not a list of batches
  assert _argument(e) == "batches"
  with pytest.raises(ConfigError, match="structure") as e:
    I.meta_gradients(loss_fn, params, [batches[0], {"x": batches[1][0]}], 0.1)
  assert _argument(e) == "batches"
  for lr in (0.0, -0.1, float("nan"), True):
    with pytest.raises(ConfigError) as e:
      I.meta_gradients(loss_fn, params, batches, lr)
    assert _argument(e) == "inner_lr"
  with pytest.raises(ConfigError, match="scalar") as e:
    I.meta_gradients(lambda p, b: jax.tree.leaves(p)[0] * 1.0, params, batches, 0.1)
  assert _argument(e) == "loss_fn"
  with pytest.raises(ConfigError, match="scalar") as e:
    I.taylor_terms(lambda p, b: (b[0] - b[1]) ** 2, params, *batches)
  assert _argument(e) == "loss_fn"
  with pytest.raises(TypeError, match="batch1"):
    I.taylor_terms(loss_fn, params, batches[0])   # one batch
  grads = jax.grad(loss_fn)(params, batches[0])
  with pytest.raises(ConfigError, match="structure") as e:
    I.relative_error({"wrong": grads}, params)
  assert _argument(e) == "estimate"
  with pytest.raises(ConfigError, match="structure") as e:
    I.check_same_structure("gradients", jax.tree.leaves(grads), params)
  assert _argument(e) == "gradients"
  with pytest.raises(ConfigError) as e:
    I.predicted(I.TaylorTerms(params, jax.tree.leaves(grads)), 0.1)
  assert _argument(e) == "terms.b"
  with pytest.raises(ConfigError) as e:
    I.expansion_residuals(loss_fn, params, batches, [0.1, -1.0])
  assert _argument(e) == "inner_lrs"
  with pytest.raises(ConfigError) as e:
    I.expansion_coefficients(0)
  assert _argument(e) == "k"
