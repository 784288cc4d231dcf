"""Reptile (Nichol, Achiam & Schulman 2018)."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxmeta.algorithms.common import finetune_evaluate, model_init, model_loss, query_batch
from jaxmeta.inner_loop import adapt
from jaxmeta.types import Algorithm, Episode, TaskDistribution


def reptile(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
            inner_steps: int = 5) -> Algorithm:
  """Reptile: ``W = SGD(L_task, theta, k)``; the meta-"gradient" is ``(theta - W) / alpha``.

  That vector (the reference text's ``g_Reptile``) is handed to optax as a gradient, so
  any optimizer works: plain SGD with learning rate ``epsilon * alpha`` is the paper's
  ``theta <- theta + epsilon (W - theta)``, and the train step's mean over tasks is the
  batched version. The inner steps use the support set of each task.

  Args:
    model: a flax module.
    task: supplies ``loss`` and ``metric``.
    inner_lr: alpha, the inner SGD step size.
    inner_steps: k.

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.
  """
  loss_fn = model_loss(model, task)

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    support = (episode.support_x, episode.support_y)
    adapted, losses = adapt(loss_fn, params, support, lr=inner_lr, steps=inner_steps,
                            first_order=True)
    adapted = jax.lax.stop_gradient(adapted)
    grads = jax.tree.map(lambda p, w: (p - w) / inner_lr, params, adapted)
    query_loss = loss_fn(adapted, query_batch(model, episode))
    return grads, {"loss": query_loss, "pre_adaptation_loss": losses[0]}

  return Algorithm("reptile", model_init(model), meta_grad,
                   finetune_evaluate(model, task, inner_lr))
