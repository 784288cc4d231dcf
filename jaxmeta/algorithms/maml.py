"""MAML and first-order MAML (Finn et al. 2017)."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxmeta.algorithms.common import finetune_evaluate, model_init, model_loss, query_batch
from jaxmeta.inner_loop import adapt
from jaxmeta.types import Algorithm, Episode, TaskDistribution


def maml(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
         inner_steps: int = 1, first_order: bool = False, remat: bool = False) -> Algorithm:
  """Model-Agnostic Meta-Learning.

  Per task: ``theta' = adapt(theta, support)`` with ``inner_steps`` SGD steps of size
  ``inner_lr``; the meta-gradient is ``jax.grad`` of the query loss at ``theta'`` through
  the ``lax.scan`` inner loop, i.e. ``grad L_q(theta') prod_i (I - alpha H_i)``
  (reference text, "MAML"). With ``first_order`` the inner gradients are stopped and the
  meta-gradient is ``grad L_q(theta')`` (FOMAML).

  Args:
    model: a flax module applied as ``model.apply(params, x)``.
    task: supplies ``loss`` and ``metric``.
    inner_lr: alpha, the inner SGD step size.
    inner_steps: k, inner steps during meta-training.
    first_order: FOMAML.
    remat: rematerialise each inner step in the backward pass (constant memory in k).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Example:
    >>> import jax, optax, jaxmeta
    >>> task = jaxmeta.tasks.sinusoid()
    >>> algo = maml(jaxmeta.models.MLP((40, 40), 1), task)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> grads, metrics = algo.meta_grad(params, task.sample(jax.random.key(2)), jax.random.key(3))
    >>> sorted(metrics)
    ['loss', 'pre_adaptation_loss']
  """
  loss_fn = model_loss(model, task)

  def query_loss_after_adaptation(params, episode: Episode):
    adapted, losses = adapt(loss_fn, params, (episode.support_x, episode.support_y),
                            lr=inner_lr, steps=inner_steps, first_order=first_order, remat=remat)
    loss = loss_fn(adapted, query_batch(model, episode))
    return loss, {"loss": loss, "pre_adaptation_loss": losses[0]}

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key  # deterministic given the episode
    grads, metrics = jax.grad(query_loss_after_adaptation, has_aux=True)(params, episode)
    return grads, metrics

  name = "fomaml" if first_order else "maml"
  return Algorithm(name, model_init(model), meta_grad,
                   finetune_evaluate(model, task, inner_lr))


def fomaml(model: nn.Module, task: TaskDistribution, **kwargs) -> Algorithm:
  """First-order MAML: :func:`maml` with ``first_order=True``."""
  return maml(model, task, first_order=True, **kwargs)
