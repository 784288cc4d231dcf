"""Exact MAML / FOMAML / Reptile meta-gradients and their Taylor terms ``A`` and ``B``.

The reference text ("Reptile vs FOMAML") writes, with ``g_j^(i) = grad L^(i)(theta_j)``
and ``H_j^(i) = hess L^(i)(theta_j)`` on mini-batches ``(0)`` and ``(1)`` of one task::

  g_FOMAML  = g_1^(1)
  g_MAML    = g_1^(1) - alpha H_0^(0) g_1^(1)
  g_Reptile = g_0^(0) + g_1^(1)                     (two SGD steps)

and, to first order in ``alpha``, with ``A = E[g_0]`` and
``B = E[H_0^(1) g_0^(0)] = 1/2 E[grad(g_0^(0) . g_0^(1))]``::

  E[g_FOMAML]  =  A -   alpha B + O(alpha^2)
  E[g_MAML]    =  A - 2 alpha B + O(alpha^2)
  E[g_Reptile] = 2A -   alpha B + O(alpha^2)

**General k.** With ``k + 1`` mini-batches ``(0) .. (k)``, MAML and FOMAML take ``k``
inner steps on ``(0) .. (k-1)`` and score ``(k)``; Reptile takes ``k + 1`` steps on all of
them. Expanding ``theta_j - theta_0 = -alpha sum_{i<j} g_0^(i) + O(alpha^2)``::

  g_FOMAML  = g_0^(k) - alpha sum_{i<k} H_0^(k) g_0^(i)                            + O(alpha^2)
  g_MAML    = g_FOMAML - alpha sum_{j<k} H_0^(j) g_0^(k)                           + O(alpha^2)
  g_Reptile = sum_{j<=k} g_0^(j) - alpha sum_{i<j<=k} H_0^(j) g_0^(i)              + O(alpha^2)

so, with exchangeable batches (``E[H^(j) g^(i)] = B`` for every ``i != j``)::

  E[g_FOMAML]  =        A -          k alpha B + O(alpha^2)
  E[g_MAML]    =        A -         2k alpha B + O(alpha^2)
  E[g_Reptile] =  (k+1) A - k(k+1)/2 alpha B + O(alpha^2)

(:func:`expansion_coefficients`). For k = 1 these are the three lines above.

**Pair by pair.** The expansions hold for every tuple of batches before the expectation
is taken. Averaging the meta-gradients over the ``2(k+1)`` dihedral orderings of one tuple
(its cyclic shifts and their reverses; for k = 1 both orders of the pair) turns the sums
above into exact sample averages: the mean equals ``c_A A_hat - c_B alpha B_hat + O(alpha^2)``
with ``A_hat`` the mean of the ``k + 1`` gradients and ``B_hat`` the mean of
``H_0^(j) g_0^(i)`` over ordered pairs ``i != j`` (:func:`taylor_terms`). The residual is then
the pure ``O(alpha^2)`` remainder, with no sampling noise (:func:`expansion_residuals`).

Everything adapts through :func:`jaxmeta.inner_loop.adapt`, the training code's inner loop.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta import checks
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import UpdateRule, adapt
from jaxmeta.types import Params, PyTree

LossFn = Callable[[Params, PyTree], jax.Array]
ALGORITHMS = ("maml", "fomaml", "reptile")


class TaylorTerms(NamedTuple):
  """Sample estimates of the first-order terms, each a params-shaped pytree.

  Attributes:
    a: ``A_hat``, the mean of the batch gradients ``g_0^(i)``.
    b: ``B_hat``, the mean of ``H_0^(j) g_0^(i)`` over ordered pairs ``i != j``; for two
      batches ``(H_0^(1) g_0^(0) + H_0^(0) g_0^(1)) / 2 = 1/2 grad(g_0^(0) . g_0^(1))``.
  """
  a: Params
  b: Params


# --------------------------------------------------------------------------- checks


_SGD_ONLY = ("the identities hold for plain SGD with one scalar step size alpha (not for "
             "per-parameter rates, Adam or any other update rule)")


def _check_inner_lr(inner_lr):
  """A positive finite scalar; a traced one (e.g. ``vmap`` over alphas) is let through.

  The expansions are those of plain SGD, ``theta - alpha g``: an
  :class:`~jaxmeta.inner_loop.UpdateRule` (Adam, say) or a pytree of per-parameter rates
  is refused, naming ``inner_lr``.

  Example:
    >>> import optax
    >>> from jaxmeta.inner_loop import from_optax
    >>> _check_inner_lr(from_optax(optax.adam(1e-3)))
    Traceback (most recent call last):
    ...
    jaxmeta.errors.ConfigError: inner_lr: must be a positive finite scalar: the identities hold for plain SGD with one scalar step size alpha (not for per-parameter rates, Adam or any other update rule); got an UpdateRule
  """
  if isinstance(inner_lr, UpdateRule):
    raise ConfigError("inner_lr", f"must be a positive finite scalar: {_SGD_ONLY}; got an UpdateRule")
  if isinstance(inner_lr, (dict, list, tuple)):
    raise ConfigError("inner_lr", f"must be a positive finite scalar: {_SGD_ONLY}; got a "
                      f"{type(inner_lr).__name__}")
  if isinstance(inner_lr, bool):
    raise ConfigError("inner_lr", f"must be a positive scalar, got {inner_lr!r}")
  try:
    value = np.asarray(inner_lr, dtype=float)
  except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
    return
  except (TypeError, ValueError):
    raise ConfigError("inner_lr", f"must be a positive scalar, got {inner_lr!r}") from None
  if value.ndim != 0:
    raise ConfigError("inner_lr", f"must be a positive finite scalar: {_SGD_ONLY}; got an array "
                      f"of shape {value.shape}")
  if not np.isfinite(value) or value <= 0:
    raise ConfigError("inner_lr", f"must be a positive finite scalar, got {inner_lr!r}")


def _leaf_specs(tree):
  return [(jnp.shape(v), jnp.result_type(v)) for v in jax.tree.leaves(tree)]


def _check_batches(batches, minimum: int = 2):
  if not isinstance(batches, (list, tuple)):
    raise ConfigError("batches", f"must be a list of at least {minimum} mini-batches, "
                      f"got {type(batches).__name__}")
  if len(batches) < minimum:
    raise ConfigError("batches", f"must hold at least {minimum} mini-batches, got {len(batches)}")
  structure, specs = jax.tree.structure(batches[0]), _leaf_specs(batches[0])
  for i, b in enumerate(batches[1:], 1):
    if jax.tree.structure(b) != structure:
      raise ConfigError("batches", f"mini-batch {i} has pytree structure {jax.tree.structure(b)}, "
                        f"mini-batch 0 has {structure}")
    if _leaf_specs(b) != specs:
      raise ConfigError("batches", f"mini-batch {i} has leaf shapes/dtypes {_leaf_specs(b)}, "
                        f"mini-batch 0 has {specs}")


def _check_loss(loss_fn: LossFn, params: Params, batch: PyTree):
  if not callable(loss_fn):
    raise ConfigError("loss_fn", f"must be a callable (params, batch) -> scalar, got {loss_fn!r}")
  if not jax.tree.leaves(params):
    raise ConfigError("params", "must be a pytree with at least one array leaf, got no leaves")
  for leaf in jax.tree.leaves(params):
    if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      raise ConfigError("params", f"leaves must be floating point, got dtype {jnp.result_type(leaf)}")
  out = jax.eval_shape(loss_fn, params, batch)
  if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != ():
    shape = getattr(out, "shape", type(out).__name__)
    raise ConfigError("loss_fn", f"must return a scalar, returned {shape}")


def check_same_structure(name: str, tree: PyTree, reference: PyTree, reference_name: str = "params"):
  """Raises ``ConfigError(name, ...)`` unless ``tree`` and ``reference`` have the same pytree
  structure and leaf shapes (e.g. a gradient and the parameters it belongs to)."""
  s, r = jax.tree.structure(tree), jax.tree.structure(reference)
  if s != r:
    raise ConfigError(name, f"pytree structure {s} does not match {reference_name}'s {r}")
  shapes = [jnp.shape(v) for v in jax.tree.leaves(tree)]
  ref_shapes = [jnp.shape(v) for v in jax.tree.leaves(reference)]
  if shapes != ref_shapes:
    raise ConfigError(name, f"leaf shapes {shapes} do not match {reference_name}'s {ref_shapes}")


def _stack(batches):
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *batches)


# --------------------------------------------------------------------------- pytree arithmetic


def tree_vdot(x: PyTree, y: PyTree) -> jax.Array:
  """``sum_leaves <x, y>``."""
  return sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y)))


def tree_norm(x: PyTree) -> jax.Array:
  """Global Euclidean norm of a pytree."""
  return jnp.sqrt(tree_vdot(x, x))


def relative_error(estimate: PyTree, reference: PyTree) -> jax.Array:
  """``|estimate - reference| / |reference|`` in the global Euclidean norm.

  Example:
    >>> import jax.numpy as jnp
    >>> float(relative_error({"w": jnp.array([1.0, 1.0])}, {"w": jnp.array([1.0, 0.0])}))
    1.0
  """
  check_same_structure("estimate", estimate, reference, "reference")
  diff = jax.tree.map(jnp.subtract, estimate, reference)
  ref = tree_norm(reference)
  return tree_norm(diff) / jnp.where(ref > 0, ref, 1.0)


def cosine(x: PyTree, y: PyTree) -> jax.Array:
  """Cosine of the angle between two pytrees of one structure."""
  check_same_structure("x", x, y, "y")
  return tree_vdot(x, y) / (tree_norm(x) * tree_norm(y))


# --------------------------------------------------------------------------- meta-gradients


def _meta_gradients(loss_fn: LossFn, params: Params, stacked: PyTree, inner_lr) -> dict:
  """``stacked``: the k+1 batches stacked along a leading axis (no input checks)."""
  k = jax.tree.leaves(stacked)[0].shape[0] - 1
  inner = jax.tree.map(lambda v: v[:k], stacked)
  outer = jax.tree.map(lambda v: v[k], stacked)

  def outer_loss(p, first_order):
    # MAML eq. 1 for k steps, then the outer loss L^(k)(theta_k).
    adapted, _ = adapt(loss_fn, p, inner, lr=inner_lr, per_step_batches=True,
                       first_order=first_order)
    return loss_fn(adapted, outer)

  # MAML: grad through the scan = (I - a H_0^(0)) ... (I - a H_{k-1}^(k-1)) g_k^(k).
  maml = jax.grad(outer_loss)(params, False)
  # FOMAML: inner gradients stopped, d theta_k / d theta_0 = I, so this is g_k^(k).
  fomaml = jax.grad(outer_loss)(params, True)
  # Reptile: k+1 SGD steps on all batches, (theta_0 - theta_{k+1}) / alpha.
  final, _ = adapt(loss_fn, params, stacked, lr=inner_lr, per_step_batches=True, first_order=True)
  reptile = jax.tree.map(lambda p, w: (p - w) / inner_lr, params, final)
  return {"maml": maml, "fomaml": fomaml, "reptile": reptile}


def meta_gradients(loss_fn: LossFn, params: Params, batches: Sequence[PyTree], inner_lr) -> dict:
  """The exact MAML, FOMAML and Reptile meta-gradients of one tuple of mini-batches.

  With ``batches = [b_0, ..., b_k]``: MAML and FOMAML take ``k`` inner SGD steps of size
  ``inner_lr`` on ``b_0 .. b_{k-1}`` and differentiate the loss on ``b_k`` (MAML through
  the inner loop, FOMAML with the inner gradients stopped); Reptile takes ``k + 1`` steps
  on ``b_0 .. b_k`` and returns ``(theta_0 - theta_{k+1}) / inner_lr``. For k = 1 these are
  ``g_1^(1)``, ``g_1^(1) - alpha H_0^(0) g_1^(1)`` and ``g_0^(0) + g_1^(1)``
  (reference text, "Reptile vs FOMAML"; :func:`closed_forms`).

  Args:
    loss_fn: ``(params, batch) -> scalar``.
    params: ``theta_0``, any pytree of floating arrays.
    batches: a list of ``k + 1 >= 2`` mini-batches of one structure, each what ``loss_fn``
      takes as ``batch``.
    inner_lr: alpha > 0 (a traced scalar is accepted, e.g. to ``vmap`` over alphas).

  Returns:
    ``{"maml": ..., "fomaml": ..., "reptile": ...}``, each a pytree shaped like ``params``.

  Raises:
    ConfigError: naming ``batches``, ``loss_fn``, ``params`` or ``inner_lr``.

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: 0.5 * jnp.sum(b * w ** 2)
    >>> g = meta_gradients(loss, jnp.ones(2), [jnp.ones(2), 2 * jnp.ones(2)], 0.1)
    >>> [round(float(g[n][0]), 6) for n in ("fomaml", "maml", "reptile")]
    [1.8, 1.62, 2.8]
  """
  _check_inner_lr(inner_lr)
  _check_batches(batches)
  _check_loss(loss_fn, params, batches[0])
  return _meta_gradients_jit(loss_fn, params, _stack(batches), inner_lr)


_meta_gradients_jit = jax.jit(_meta_gradients, static_argnums=0)


def _dihedral_orders(n: int) -> np.ndarray:
  """The cyclic shifts of ``0..n-1`` and their reverses (both orders of a pair for n=2)."""
  shifts = np.stack([np.roll(np.arange(n), -s) for s in range(n)])
  orders = np.concatenate([shifts, shifts[:, ::-1]])
  return np.unique(orders, axis=0)


def _symmetrised(loss_fn, params, stacked, inner_lr) -> dict:
  n = jax.tree.leaves(stacked)[0].shape[0]
  orders = jnp.asarray(_dihedral_orders(n))
  per_order = jax.vmap(lambda o: _meta_gradients(
      loss_fn, params, jax.tree.map(lambda v: v[o], stacked), inner_lr))(orders)
  return jax.tree.map(lambda v: jnp.mean(v, axis=0), per_order)


_symmetrised_jit = jax.jit(_symmetrised, static_argnums=0)


def symmetrised_meta_gradients(loss_fn: LossFn, params: Params, batches: Sequence[PyTree],
                               inner_lr) -> dict:
  """:func:`meta_gradients` averaged over the dihedral orderings of ``batches``.

  The cyclic shifts and their reverses (for two batches: both orders). Over these
  orderings every ordered pair ``(i, j)`` appears equally often in each role of the
  expansion, so the result equals ``c_A A_hat - c_B alpha B_hat + O(alpha^2)`` exactly, with
  ``A_hat, B_hat = taylor_terms(loss_fn, params, *batches)`` and ``c_A, c_B`` from
  :func:`expansion_coefficients`.

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: 0.5 * jnp.sum(b * w ** 2)
    >>> g = symmetrised_meta_gradients(loss, jnp.ones(1), [jnp.ones(1), 3 * jnp.ones(1)], 0.1)
    >>> round(float(g["fomaml"][0]), 6)   # (3 * 0.9 + 1 * 0.7) / 2
    1.7
  """
  _check_inner_lr(inner_lr)
  _check_batches(batches)
  _check_loss(loss_fn, params, batches[0])
  return _symmetrised_jit(loss_fn, params, _stack(batches), inner_lr)


def closed_forms(loss_fn: LossFn, params: Params, batch0: PyTree, batch1: PyTree, inner_lr) -> dict:
  """The k = 1 formulas of the reference text, written out without the inner loop.

  ``theta_1 = theta_0 - alpha g_0^(0)``; ``g_FOMAML = g_1^(1)``,
  ``g_MAML = g_1^(1) - alpha H_0^(0) g_1^(1)`` (a Hessian-vector product),
  ``g_Reptile = g_0^(0) + g_1^(1)``. :func:`meta_gradients` must agree to round-off.
  """
  _check_inner_lr(inner_lr)
  _check_batches([batch0, batch1])
  _check_loss(loss_fn, params, batch0)
  return _closed_forms(loss_fn, params, batch0, batch1, inner_lr)


@functools.partial(jax.jit, static_argnums=0)
def _closed_forms(loss_fn, params, batch0, batch1, inner_lr):
  grad = jax.grad(loss_fn)
  g00 = grad(params, batch0)
  theta1 = jax.tree.map(lambda p, g: p - inner_lr * g, params, g00)
  g11 = grad(theta1, batch1)
  h00_g11 = _hvp(loss_fn, params, batch0, g11)
  return {"fomaml": g11,
          "maml": jax.tree.map(lambda g, hg: g - inner_lr * hg, g11, h00_g11),
          "reptile": jax.tree.map(jnp.add, g00, g11)}


# --------------------------------------------------------------------------- Taylor terms


def _hvp(loss_fn, params, batch, vector):
  """``H(params) @ vector`` by forward-over-reverse; the Hessian is never materialised."""
  return jax.jvp(lambda p: jax.grad(loss_fn)(p, batch), (params,), (vector,))[1]


def _taylor_terms(loss_fn, params, stacked) -> TaylorTerms:
  n = jax.tree.leaves(stacked)[0].shape[0]
  grads = jax.vmap(lambda b: jax.grad(loss_fn)(params, b))(stacked)
  a = jax.tree.map(lambda g: jnp.mean(g, axis=0), grads)
  total = jax.tree.map(lambda g: jnp.sum(g, axis=0), grads)
  # sum_{i != j} H^(j) g^(i) = sum_j H^(j) (G - g^(j)),  G = sum_i g^(i): n HVPs.
  others = jax.tree.map(lambda t, g: t[None] - g, total, grads)
  hvps = jax.vmap(lambda b, v: _hvp(loss_fn, params, b, v))(stacked, others)
  b = jax.tree.map(lambda h: jnp.sum(h, axis=0) / (n * (n - 1)), hvps)
  return TaylorTerms(a, b)


_taylor_terms_jit = jax.jit(_taylor_terms, static_argnums=0)


def taylor_terms(loss_fn: LossFn, params: Params, batch0: PyTree, batch1: PyTree,
                 *more_batches: PyTree) -> TaylorTerms:
  """``A_hat`` and ``B_hat`` of the reference text's expansion, from one pair of batches.

  ``A_hat = (g_0^(0) + g_0^(1)) / 2`` and
  ``B_hat = (H_0^(1) g_0^(0) + H_0^(0) g_0^(1)) / 2 = 1/2 grad(g_0^(0) . g_0^(1))``, with the
  Hessian-vector products by forward-over-reverse differentiation (no Hessian is built).
  Further batches give the general-k terms: the mean of the ``k + 1`` gradients and the mean
  of ``H_0^(j) g_0^(i)`` over the ``k(k+1)`` ordered pairs ``i != j``.

  Args:
    loss_fn: ``(params, batch) -> scalar``.
    params: ``theta_0``.
    batch0, batch1, *more_batches: mini-batches of one structure.

  Returns:
    :class:`TaylorTerms` ``(a, b)``, both shaped like ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: 0.5 * jnp.sum(b * w ** 2)     # g = b w, H = diag(b)
    >>> t = taylor_terms(loss, jnp.ones(1), jnp.ones(1), 3 * jnp.ones(1))
    >>> float(t.a[0]), float(t.b[0])                     # (1 + 3) / 2, (3*1 + 1*3) / 2
    (2.0, 3.0)
  """
  batches = [batch0, batch1, *more_batches]
  _check_batches(batches)
  _check_loss(loss_fn, params, batch0)
  return _taylor_terms_jit(loss_fn, params, _stack(batches))


def expansion_coefficients(k: int) -> dict:
  """``{name: (c_A, c_B)}`` with ``E[g_name] = c_A A - c_B alpha B + O(alpha^2)`` for k steps.

  Example:
    >>> expansion_coefficients(1)
    {'maml': (1, 2), 'fomaml': (1, 1), 'reptile': (2, 1)}
  """
  k = checks.integer("k", k)
  return {"maml": (1, 2 * k), "fomaml": (1, k), "reptile": (k + 1, k * (k + 1) // 2)}


def predicted(terms: TaylorTerms, inner_lr, k: int = 1) -> dict:
  """The first-order predictions ``c_A A - c_B alpha B`` of the three meta-gradients."""
  check_same_structure("terms.b", terms.b, terms.a, "terms.a")
  return {name: jax.tree.map(lambda a, b: ca * a - cb * inner_lr * b, terms.a, terms.b)
          for name, (ca, cb) in expansion_coefficients(k).items()}


# --------------------------------------------------------------------------- expectations


def _check_sampled(loss_fn, params, batches):
  """``batches``: k+1 pytrees whose leaves have a leading sample axis of one length."""
  _check_batches(batches)
  sizes = {jnp.shape(v)[0] if jnp.ndim(v) else None for v in jax.tree.leaves(batches)}
  if len(sizes) != 1 or None in sizes:
    raise ConfigError("batches", "every leaf must have the same leading sample axis (one row per "
                      f"task or batch tuple), got leading sizes {sorted(map(str, sizes))}")
  one = jax.tree.map(lambda v: jax.ShapeDtypeStruct(jnp.shape(v)[1:], jnp.result_type(v)),
                     batches[0])
  _check_loss(loss_fn, params, one)


def expected_meta_gradients(loss_fn: LossFn, params: Params, batches: Sequence[PyTree], inner_lr,
                            *, symmetrise: bool = True) -> dict:
  """Monte Carlo ``E[g_X]`` over independent draws, ``vmap``-ped over the sample axis.

  Args:
    loss_fn, params, inner_lr: as in :func:`meta_gradients`.
    batches: ``k + 1`` pytrees; every leaf has a leading axis of ``N`` draws (a task and its
      ``k + 1`` mini-batches per row).
    symmetrise: average each draw over its dihedral orderings
      (:func:`symmetrised_meta_gradients`) so that the sample means of the expansions are
      exactly ``A_hat`` and ``B_hat`` of :func:`expected_taylor_terms`.

  Returns:
    ``{"maml", "fomaml", "reptile"}`` -> mean over the ``N`` draws.
  """
  _check_inner_lr(inner_lr)
  _check_sampled(loss_fn, params, batches)
  return _expected_meta_gradients(loss_fn, params, _stack(batches), inner_lr, symmetrise)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _expected_meta_gradients(loss_fn, params, stacked, inner_lr, symmetrise):
  fn = _symmetrised if symmetrise else _meta_gradients
  per_draw = jax.vmap(lambda s: fn(loss_fn, params, s, inner_lr), in_axes=1)(stacked)
  return jax.tree.map(lambda v: jnp.mean(v, axis=0), per_draw)


def expected_taylor_terms(loss_fn: LossFn, params: Params, batches: Sequence[PyTree]) -> TaylorTerms:
  """``A`` and ``B`` estimated over ``N`` draws (mean of :func:`taylor_terms`), with ``vmap``.

  ``batches`` as in :func:`expected_meta_gradients`.
  """
  _check_sampled(loss_fn, params, batches)
  return _expected_taylor_terms(loss_fn, params, _stack(batches))


@functools.partial(jax.jit, static_argnums=0)
def _expected_taylor_terms(loss_fn, params, stacked):
  per_draw = jax.vmap(lambda s: _taylor_terms(loss_fn, params, s), in_axes=1)(stacked)
  return jax.tree.map(lambda v: jnp.mean(v, axis=0), per_draw)


def expansion_residuals(loss_fn: LossFn, params: Params, batches: Sequence[PyTree],
                        inner_lrs) -> dict:
  """``|E[g_X](alpha) - (c_A A - c_B alpha B)|`` for each alpha in ``inner_lrs``.

  ``E`` is the symmetrised sample mean over the ``N`` draws in ``batches`` (as in
  :func:`expected_meta_gradients`) and ``A``, ``B`` come from the same draws, so the residual
  is the pure ``O(alpha^2)`` remainder of the expansion. All alphas run in one compiled
  ``lax.map``; the draws are ``vmap``-ped.

  The ``alpha^2`` law needs a loss that is smooth along the inner steps. A ReLU network is
  only piecewise smooth: an inner step that flips an activation makes the gradient jump,
  which happens with probability ``~alpha`` and so adds an ``O(alpha)`` part to the mean
  remainder (the notebook ``notebooks/gradient_identities.ipynb`` shows it). The exact
  identities of :func:`meta_gradients` hold for any network.

  Returns:
    ``{"maml", "fomaml", "reptile"}`` -> numpy array of residual norms, one per alpha;
    ``"scale"`` -> ``|A|`` (to make them relative); ``"expected"`` -> the symmetrised means
    ``{name: pytree stacked over alphas}``; ``"terms"`` -> :class:`TaylorTerms` of the draws.

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: jnp.sum(jnp.cos(b * w))
    >>> batches = [jnp.array([[1.0], [0.5]]), jnp.array([[2.0], [1.5]])]   # 2 draws, k = 1
    >>> r = expansion_residuals(loss, jnp.array([0.3]), batches, [1e-3, 1e-2])
    >>> round(fit_slope([1e-3, 1e-2], r["maml"]), 1)
    2.0
  """
  inner_lrs = np.asarray(inner_lrs, dtype=float)
  if inner_lrs.ndim != 1 or inner_lrs.size == 0 or not np.all(inner_lrs > 0):
    raise ConfigError("inner_lrs", f"must be a non-empty 1-D array of positive alphas, got {inner_lrs}")
  _check_sampled(loss_fn, params, batches)
  dtype = jnp.result_type(*jax.tree.leaves(params))
  res, scale, expected, terms = _residuals(loss_fn, params, _stack(batches), jnp.asarray(inner_lrs, dtype),
                          len(batches) - 1)
  out = {n: np.asarray(v) for n, v in res.items()}
  out.update(scale=float(scale), expected=expected, terms=terms)
  return out


@functools.partial(jax.jit, static_argnums=(0, 4))
def _residuals(loss_fn, params, stacked, alphas, k):
  terms = jax.vmap(lambda s: _taylor_terms(loss_fn, params, s), in_axes=1)(stacked)
  terms = jax.tree.map(lambda v: jnp.mean(v, axis=0), terms)

  def at(alpha):
    per_draw = jax.vmap(lambda s: _symmetrised(loss_fn, params, s, alpha), in_axes=1)(stacked)
    mean = jax.tree.map(lambda v: jnp.mean(v, axis=0), per_draw)
    pred = predicted(terms, alpha, k)
    return {n: tree_norm(jax.tree.map(jnp.subtract, mean[n], pred[n])) for n in ALGORITHMS}, mean

  # lax.map over alphas: one draw-batch of meta-gradients in memory at a time.
  res, expected = jax.lax.map(at, alphas)
  return res, tree_norm(terms.a), expected, terms


def fit_slope(x, y) -> float:
  """Least-squares slope of ``log y`` against ``log x`` (2 for an ``O(x^2)`` remainder).

  Example:
    >>> round(fit_slope([1e-3, 1e-2, 1e-1], [3e-6, 3e-4, 3e-2]), 6)
    2.0
  """
  x, y = np.asarray(x, float), np.asarray(y, float)
  if x.shape != y.shape or x.ndim != 1 or x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
    raise ConfigError("x", "fit_slope needs two 1-D arrays of equal length >= 2 with positive values")
  return float(np.polyfit(np.log(x), np.log(y), 1)[0])


__all__ = [
    "ALGORITHMS", "TaylorTerms", "check_same_structure", "closed_forms", "cosine",
    "expansion_coefficients", "expansion_residuals", "expected_meta_gradients",
    "expected_taylor_terms", "fit_slope", "meta_gradients", "predicted", "relative_error",
    "symmetrised_meta_gradients", "taylor_terms", "tree_norm", "tree_vdot",
]
