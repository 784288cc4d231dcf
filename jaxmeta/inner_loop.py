"""The one inner loop: k SGD steps with ``jax.lax.scan``.

Training (MAML, FOMAML, Reptile, the pretrained baseline's fine-tuning), evaluation and
:mod:`jaxmeta.identities` all adapt through :func:`adapt`; there is no second copy.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxmeta.types import Params, PyTree

LossFn = Callable[[Params, PyTree], jax.Array]


def sgd_step(loss_fn: LossFn, params: Params, batch: PyTree, lr, first_order: bool = False):
  """One inner SGD step ``theta' = theta - lr * grad L(theta)`` (MAML eq. 1).

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
  loss, grads = jax.value_and_grad(loss_fn)(params, batch)
  if first_order:
    grads = jax.lax.stop_gradient(grads)
  if isinstance(lr, (int, float)) or (hasattr(lr, "ndim") and lr.ndim == 0):
    new_params = jax.tree.map(lambda p, g: p - lr * g, params, grads)
  else:
    new_params = jax.tree.map(lambda p, g, a: p - a * g, params, grads, lr)
  return new_params, loss


def adapt(loss_fn: LossFn, params: Params, batch: PyTree, *, lr, steps: int | None = None,
          first_order: bool = False, per_step_batches: bool = False, remat: bool = False,
          observe: Callable[[Params], PyTree] | None = None):
  """Runs ``steps`` inner SGD steps with ``lax.scan``; differentiable end to end.

  ``jax.grad`` through this function gives MAML's second-order meta-gradient
  ``prod_i (I - lr H_i)`` (reference text, "MAML"); ``first_order=True`` drops the
  Hessian terms (FOMAML).

  Args:
    loss_fn: ``(params, batch) -> scalar``.
    params: initial parameters ``theta``.
    batch: one batch reused at every step, or (``per_step_batches=True``) a pytree whose
      leaves have a leading axis of length ``steps``, batch ``i`` used at step ``i``.
    lr: inner learning rate, scalar or params-shaped pytree.
    steps: number of steps (inferred from the batches when ``per_step_batches``).
    first_order: FOMAML / Reptile style: no gradient through inner gradients.
    per_step_batches: scan over the leading axis of ``batch``.
    remat: recompute each step's activations in the backward pass
      (``jax.checkpoint``) so memory does not grow with ``steps``.
    observe: optional ``params -> pytree`` evaluated before every step (e.g. the query
      metric, for learning curves over adaptation steps).

  Returns:
    ``(adapted_params, losses)`` where ``losses[i]`` is the loss before step ``i``; with
    ``observe``, ``(adapted_params, (losses, observations))``, observations stacked
    over steps.

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> w, losses = adapt(loss, jnp.zeros(2), jnp.ones(2), lr=0.25, steps=2)
    >>> w.tolist(), losses.tolist()
    ([0.75, 0.75], [2.0, 0.5])
  """
  if per_step_batches:
    n = jax.tree.leaves(batch)[0].shape[0]
    if steps is not None and steps != n:
      raise ValueError(f"steps={steps} but the batches have a leading axis of {n}")
    steps = n
  if steps is None or steps < 0:
    raise ValueError(f"steps must be a non-negative integer, got {steps}")
  if steps == 0:
    losses = jnp.zeros((0,), jnp.float32)
    if observe is None:
      return params, losses
    empty = jax.tree.map(lambda v: jnp.zeros((0,) + jnp.shape(v), jnp.result_type(v)),
                         jax.eval_shape(observe, params))
    return params, (losses, empty)

  def body(p, step_batch):
    b = step_batch if per_step_batches else batch
    new_p, loss = sgd_step(loss_fn, p, b, lr, first_order)
    if observe is None:
      return new_p, loss
    return new_p, (loss, observe(p))

  if remat:
    body = jax.checkpoint(body)
  xs = batch if per_step_batches else None
  return jax.lax.scan(body, params, xs, length=None if per_step_batches else steps)
