"""The one inner loop: k steps of an update rule with ``jax.lax.scan``.

Training (MAML, FOMAML, Meta-SGD, ANIL, Reptile, the pretrained baseline's fine-tuning),
evaluation and :mod:`jaxmeta.identities` all adapt through :func:`adapt`; there is no
second copy. What one inner step does is a value, an :class:`UpdateRule` in the style of
optax: ``init(params) -> state`` and ``update(grads, state, params, loss) -> (new_params,
new_state)``, the state carried through the scan. :func:`adapt` computes the loss and
its gradient; the rule turns them into the next parameters.

The rules here are built by factories of this module, ``jaxmeta.inner_loop.sgd`` and so
on; they are deliberately not exported as ``jaxmeta.sgd``, which would read like
``optax.sgd`` (an outer optimizer, a different interface; :func:`from_optax` wraps one):

* :func:`sgd` -- ``theta - lr * grad`` (MAML eq. 1), ``lr`` a scalar or a params-shaped
  pytree of per-parameter rates (Meta-SGD, Li et al. 2017 eq. 3: ``theta - alpha o grad``);
* :func:`masked` -- another rule applied to some leaves, the others left unchanged;
* :func:`from_optax` -- an optax ``GradientTransformation`` as an inner rule (its state,
  e.g. Adam's moments, created fresh by :func:`adapt` for every task);
* :func:`named` -- the rule ``--inner-optimizer`` names (``sgd`` or ``adam``).

A learned rule (e.g. an LSTM meta-learner) is an :class:`UpdateRule` whose functions close
over its meta-parameters; ``jax.grad`` of anything computed from :func:`adapt`'s result
reaches them.

Example:
  >>> import jax.numpy as jnp
  >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
  >>> w, losses = adapt(loss, jnp.zeros(2), jnp.ones(2), update=sgd(0.25), steps=2)
  >>> w.tolist(), losses.tolist()
  ([0.75, 0.75], [2.0, 0.5])
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax

from jaxmeta.errors import ConfigError
from jaxmeta.types import Params, PyTree

LossFn = Callable[[Params, PyTree], jax.Array]
State = Any


class UpdateRule(NamedTuple):
  """One inner-loop step as a pair of pure functions (cf. ``optax.GradientTransformation``).

  Attributes:
    init: ``params -> state``, the rule's state before the first step (``()`` for a
      stateless rule).
    update: ``(grads, state, params, loss) -> (new_params, new_state)``: ``grads`` and
      ``loss`` are the inner loss's gradient and value at ``params``. Unlike optax's
      ``update`` it returns the new parameters, not an increment, and it sees the loss
      (a learned optimizer, e.g. Ravi & Larochelle's LSTM, takes both as input).
  """
  init: Callable[[Params], State]
  update: Callable[[Params, State, Params, jax.Array], tuple[Params, State]]


def _is_scalar(lr) -> bool:
  return isinstance(lr, (int, float)) or (hasattr(lr, "ndim") and lr.ndim == 0)


def _sgd(params: Params, grads: Params, lr) -> Params:
  """``theta - lr * g`` (MAML eq. 1), or ``theta - alpha o g`` (Meta-SGD eq. 3)."""
  if _is_scalar(lr):
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)
  return jax.tree.map(lambda p, g, a: p - a * g, params, grads, lr)


def _loss_and_grads(loss_fn: LossFn, params: Params, batch: PyTree, first_order: bool):
  loss, grads = jax.value_and_grad(loss_fn)(params, batch)
  if first_order:
    grads = jax.lax.stop_gradient(grads)
  return loss, grads


def sgd(lr) -> UpdateRule:
  """Plain SGD, ``theta' = theta - lr * grad L(theta)`` (MAML eq. 1); stateless.

  Args:
    lr: a scalar (Python number or 0-d array, possibly a traced meta-parameter), or a
      pytree of the structure of ``params`` holding per-parameter rates: Meta-SGD's
      ``theta - alpha o grad`` (Li et al. 2017, eq. 3).

  Returns:
    An :class:`UpdateRule` with state ``()``.

  Example:
    >>> import jax.numpy as jnp
    >>> rule = sgd({"a": jnp.array([0.5, 1.0]), "b": 0.1})
    >>> params, grads = {"a": jnp.zeros(2), "b": 1.0}, {"a": jnp.ones(2), "b": 2.0}
    >>> p, _ = rule.update(grads, rule.init(params), params, None)
    >>> p["a"].tolist(), round(float(p["b"]), 6)
    ([-0.5, -1.0], 0.8)
  """
  if lr is None:
    raise ValueError("sgd: lr must be a scalar or a params-shaped pytree of rates, got None")

  def init(params):
    del params
    return ()

  def update(grads, state, params, loss):
    del loss
    return _sgd(params, grads, lr), state

  return UpdateRule(init, update)


def masked(rule: UpdateRule, mask) -> UpdateRule:
  """``rule`` on the leaves where ``mask`` is True; the other leaves stay unchanged.

  The inner rule still sees (and its state covers) the whole parameter tree; only its
  result is discarded where the mask is False, so e.g. a per-parameter ``lr`` keeps the
  structure of ``params``. Adapting only a network's head this way (ANIL's rule) costs a
  forward pass of the body per step; :func:`jaxmeta.algorithms.anil` instead applies the
  body once and adapts the head on its features, with the same result.

  Args:
    rule: the update rule of the adapted leaves.
    mask: a pytree of Python bools of the structure of ``params``, or a function
      ``params -> such a pytree``.

  Returns:
    An :class:`UpdateRule` with the state of ``rule``.

  Example:
    >>> import jax.numpy as jnp
    >>> rule = masked(sgd(0.5), {"body": False, "head": True})
    >>> p, _ = rule.update({"body": 1.0, "head": 1.0}, (), {"body": 0.0, "head": 0.0}, None)
    >>> float(p["body"]), float(p["head"])
    (0.0, -0.5)
  """
  def update(grads, state, params, loss):
    new_params, new_state = rule.update(grads, state, params, loss)
    m = mask(params) if callable(mask) else mask
    return jax.tree.map(lambda keep, n, p: n if keep else p, m, new_params, params), new_state

  return UpdateRule(rule.init, update)


def scaled_loss(rule: UpdateRule, factor) -> UpdateRule:
  """``rule`` applied to the loss ``factor * L``: gradients and loss scaled before it sees them.

  The MAML authors' inner loss is the per-example cross-entropy divided by K and summed
  over the N K support examples (their ``utils.xent`` and ``tf.gradients``), i.e. N times
  the mean that jaxmeta's tasks return; ``scaled_loss(sgd(alpha), N)`` takes their step
  (for SGD the same as ``sgd(N * alpha)``; Adam is nearly invariant to the scale).

  Args:
    rule: the update rule.
    factor: a positive number (a Python number, so the rule stays hashable-free and static).

  Returns:
    An :class:`UpdateRule` with the state of ``rule``.

  Example:
    >>> p, _ = scaled_loss(sgd(0.1), 5).update(1.0, (), 0.0, 2.0)
    >>> round(float(p), 6)
    -0.5
  """
  def update(grads, state, params, loss):
    grads = jax.tree.map(lambda g: g * factor, grads)
    return rule.update(grads, state, params, None if loss is None else loss * factor)

  return UpdateRule(rule.init, update)


def from_optax(optimizer) -> UpdateRule:
  """An optax ``GradientTransformation`` as an inner update rule.

  ``update`` is ``optax.apply_updates(params, optimizer.update(grads, state, params))``;
  the optimizer's state (e.g. Adam's moments) is carried through the inner loop and is
  differentiated through like everything else.

  Example:
    >>> import jax.numpy as jnp, optax
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> w, _ = adapt(loss, jnp.zeros(1), jnp.ones(1), update=from_optax(optax.sgd(0.25)), steps=2)
    >>> w.tolist()
    [0.75]
  """
  def update(grads, state, params, loss):
    del loss
    updates, new_state = optimizer.update(grads, state, params)
    return optax.apply_updates(params, updates), new_state

  return UpdateRule(optimizer.init, update)


# The inner optimizers a run can name (``--inner-optimizer``); :func:`named` builds them.
INNER_OPTIMIZERS = ("sgd", "adam")


def named(name: str, lr, *, beta1: float = 0.9, beta2: float = 0.999,
          eps_root: float = 0.0) -> UpdateRule:
  """The rule ``--inner-optimizer`` names: ``sgd(lr)``, or Adam as an optax transformation.

  ``"sgd"`` is exactly :func:`sgd` (``beta1``, ``beta2`` and ``eps_root`` unused);
  ``"adam"`` is ``from_optax(optax.adam(lr, b1=beta1, b2=beta2, eps_root=eps_root))``, its
  moments created fresh by :func:`adapt` for every task. ``eps_root > 0`` keeps Adam's
  ``sqrt(v)`` differentiable where a gradient entry is exactly zero (``v = 0``): second-order
  MAML through Adam otherwise gets ``0 * inf = nan`` there (a dead ReLU unit is enough).

  Raises:
    ConfigError: an unknown name (naming ``inner_optimizer``).

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> w, _ = adapt(loss, jnp.zeros(1), jnp.ones(1), update=named("adam", 0.1), steps=1)
    >>> round(float(w[0]), 4)     # Adam's first step is about lr * sign(g)
    0.1
  """
  if name == "sgd":
    return sgd(lr)
  if name == "adam":
    return from_optax(optax.adam(lr, b1=beta1, b2=beta2, eps_root=eps_root))
  raise ConfigError("inner_optimizer", f"must be one of {', '.join(INNER_OPTIMIZERS)}, got {name!r}")


def sgd_step(loss_fn: LossFn, params: Params, batch: PyTree, lr, first_order: bool = False):
  """One inner SGD step ``theta' = theta - lr * grad L(theta)`` (MAML eq. 1).

  The same arithmetic as one step of ``adapt(..., update=sgd(lr))``.

  Args:
    loss_fn: ``(params, batch) -> scalar``.
    params: current parameters.
    batch: whatever ``loss_fn`` takes.
    lr: a scalar, or a pytree of the structure of ``params`` (Meta-SGD's learned
      per-parameter rates).
    first_order: stop the gradient through the inner gradient, so differentiating the
      result w.r.t. ``params`` gives the identity instead of ``I - lr * H`` (FOMAML).

  Returns:
    ``(new_params, loss_before_step)``.
  """
  loss, grads = _loss_and_grads(loss_fn, params, batch, first_order)
  return _sgd(params, grads, lr), loss


def observe_only_at(observe: Callable[[Params], PyTree], observe_at: Sequence[int] | None,
                    steps: int) -> Callable[[jax.Array, Params], PyTree]:
  """``(step, params) -> observe(params)`` at the steps in ``observe_at`` (all when
  ``None``), NaN at the others (zeros for integer outputs) without computing ``observe``.

  ``step`` may be traced: the choice is a ``lax.cond`` whose predicate depends on the step
  alone, so under ``vmap`` over tasks it stays a branch and the skipped steps cost nothing.

  Raises:
    ValueError: a step of ``observe_at`` outside ``0..steps``.

  Example:
    >>> import jax.numpy as jnp
    >>> f = observe_only_at(lambda w: 2.0 * w, (0, 2), steps=2)
    >>> [float(f(jnp.int32(k), jnp.float32(1.0))) for k in range(3)]
    [2.0, nan, 2.0]
  """
  if observe_at is None:
    return lambda step, params: observe(params)
  points = sorted({int(k) for k in observe_at})
  if points and not 0 <= points[0] <= points[-1] <= steps:
    raise ValueError(f"observe_at must lie in 0..{steps} (the steps), got {tuple(observe_at)}")
  wanted = jnp.zeros((steps + 1,), bool).at[jnp.asarray(points, jnp.int32)].set(True)

  def skipped(params):
    return jax.tree.map(lambda v: jnp.full(v.shape, jnp.nan if jnp.issubdtype(v.dtype, jnp.inexact)
                                           else 0, v.dtype), jax.eval_shape(observe, params))

  return lambda step, params: jax.lax.cond(wanted[step], observe, skipped, params)


def adapt(loss_fn: LossFn, params: Params, batch: PyTree, *, update: UpdateRule | None = None,
          lr=None, steps: int | None = None, first_order: bool = False,
          per_step_batches: bool = False, remat: bool = False,
          observe: Callable[[Params], PyTree] | None = None,
          observe_at: Sequence[int] | None = None, return_state: bool = False):
  """Runs ``steps`` steps of an update rule with ``lax.scan``; differentiable end to end.

  Step ``i``: ``loss_i, g_i = value_and_grad(loss_fn)(theta_i, batch_i)``, then
  ``theta_{i+1}, s_{i+1} = update.update(g_i, s_i, theta_i, loss_i)`` with
  ``s_0 = update.init(theta_0)``. With SGD, ``jax.grad`` through this function gives
  MAML's second-order meta-gradient ``prod_i (I - lr H_i)`` (reference text, "MAML");
  ``first_order=True`` drops the Hessian terms (FOMAML).

  Args:
    loss_fn: ``(params, batch) -> scalar``.
    params: initial parameters ``theta``.
    batch: one batch reused at every step, or (``per_step_batches=True``) a pytree whose
      leaves have a leading axis of length ``steps``, batch ``i`` used at step ``i``.
    update: the :class:`UpdateRule` of one step.
    lr: shorthand for ``update=sgd(lr)``: a scalar or a params-shaped pytree. Give
      exactly one of ``update`` and ``lr``.
    steps: number of steps (inferred from the batches when ``per_step_batches``).
    first_order: FOMAML / Reptile style: the gradients and the loss reach the rule under
      ``stop_gradient``, so no derivative flows through the inner gradients (for SGD,
      ``d theta_k / d theta_0 = I``).
    per_step_batches: scan over the leading axis of ``batch``.
    remat: recompute each step's activations in the backward pass
      (``jax.checkpoint``) so memory does not grow with ``steps``.
    observe: optional ``params -> pytree`` evaluated before every step (e.g. the query
      metric, for learning curves over adaptation steps).
    observe_at: with ``observe``, the steps to observe before (static); the others skip
      ``observe`` (a ``lax.cond`` on the step number, so skipping saves its compute under
      ``vmap`` too) and give NaN. ``None``: every step.
    return_state: also return the rule's state after the last step.

  Returns:
    ``(adapted_params, losses)`` where ``losses[i]`` is the loss before step ``i``; with
    ``observe``, ``(adapted_params, (losses, observations))``, observations stacked
    over steps. With ``return_state`` a third element, the rule's final state.

  Raises:
    ValueError: neither or both of ``update`` and ``lr``; ``update`` not an
      :class:`UpdateRule`; a negative or missing ``steps``, or one that disagrees with
      the batches.

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> w, losses = adapt(loss, jnp.zeros(2), jnp.ones(2), lr=0.25, steps=2)
    >>> w.tolist(), losses.tolist()
    ([0.75, 0.75], [2.0, 0.5])
  """
  if (update is None) == (lr is None):
    raise ValueError("adapt takes exactly one of update= (an UpdateRule) and lr= (shorthand for "
                     f"update=sgd(lr)); got update={update!r}, lr={lr!r}")
  if update is None:
    update = sgd(lr)
  elif not isinstance(update, UpdateRule):
    raise ValueError(f"update= must be a jaxmeta.inner_loop.UpdateRule, got {type(update).__name__}"
                     " (wrap an optax optimizer with jaxmeta.inner_loop.from_optax)")
  if per_step_batches:
    n = jax.tree.leaves(batch)[0].shape[0]
    if steps is not None and steps != n:
      raise ValueError(f"steps={steps} but the batches have a leading axis of {n}")
    steps = n
  if steps is None or steps < 0:
    raise ValueError(f"steps must be a non-negative integer, got {steps}")
  state = update.init(params)
  if steps == 0:
    losses = jnp.zeros((0,), jnp.float32)
    if observe is None:
      out = (params, losses)
    else:
      empty = jax.tree.map(lambda v: jnp.zeros((0,) + jnp.shape(v), jnp.result_type(v)),
                           jax.eval_shape(observe, params))
      out = (params, (losses, empty))
    return out + (state,) if return_state else out

  observed = None if observe is None else observe_only_at(observe, observe_at, steps)

  def body(carry, xs):
    p, s = carry
    i, step_batch = xs
    b = step_batch if per_step_batches else batch
    loss, grads = _loss_and_grads(loss_fn, p, b, first_order)
    rule_loss = jax.lax.stop_gradient(loss) if first_order else loss
    new_p, new_s = update.update(grads, s, p, rule_loss)
    if observed is None:
      return (new_p, new_s), loss
    return (new_p, new_s), (loss, observed(i, p))

  if remat:
    body = jax.checkpoint(body)
  xs = (jnp.arange(steps), batch if per_step_batches else None)
  (adapted, state), out = jax.lax.scan(body, (params, state), xs)
  return (adapted, out, state) if return_state else (adapted, out)
