"""Reptile (Nichol, Achiam & Schulman 2018)."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxmeta.algorithms.common import (check_inner_lr, check_inner_steps, check_model,
                                      check_task, finetune_curve, model_init, model_loss,
                                      pre_adaptation_loss, query_batch, support_batch)
from jaxmeta.inner_loop import adapt, sgd
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode, TaskDistribution


def reptile(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
            inner_steps: int = 5) -> Algorithm:
  """Reptile: ``W = SGD(L_task, theta, k)``; the meta-"gradient" is ``(theta - W) / alpha``.

  That vector (the reference text's ``g_Reptile``) is handed to optax as a gradient, so
  any optimizer works: plain SGD with learning rate ``epsilon * alpha`` is the paper's
  ``theta <- theta + epsilon (W - theta)``, and the train step's mean over tasks is the
  batched version. The inner steps, ``jaxmeta.inner_loop.sgd(inner_lr)``, use the support
  set of each task; evaluation fine-tunes with the same rule.

  ``(theta - W) / alpha`` is the sum of the k inner gradients along the SGD path, so with
  ``inner_steps=0`` (``W = theta``) the meta-gradient is exactly zero: the empty sum, and
  Reptile's update ``theta + epsilon (W - theta)`` leaves ``theta`` where it is. That is
  what the definition gives; training then changes nothing (a control, not a method).
  The metrics are the query and support losses at ``theta``.

  Args:
    model: a flax module.
    task: supplies ``loss`` and ``metric``.
    inner_lr: alpha, the inner SGD step size, a positive finite number.
    inner_steps: k >= 0.

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Raises:
    ConfigError: naming the bad argument (``inner_lr``, ``inner_steps``, ``model``, ...).
  """
  check_model(model)
  check_task(task)
  inner_lr = check_inner_lr(inner_lr)
  inner_steps = check_inner_steps(inner_steps)
  loss_fn = model_loss(model, task)
  rule = sgd(inner_lr)

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    support = support_batch(episode)
    adapted, losses = adapt(loss_fn, params, support, update=rule, steps=inner_steps,
                            first_order=True)
    adapted = jax.lax.stop_gradient(adapted)
    grads = jax.tree.map(lambda p, w: (p - w) / inner_lr, params, adapted)
    query_loss = loss_fn(adapted, query_batch(model, episode))
    return grads, {"loss": query_loss,
                   "pre_adaptation_loss": pre_adaptation_loss(losses, loss_fn, params, support)}

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array) -> jax.Array:
    del key
    return finetune_curve(model, task, params, episode, rule, num_steps)

  return Algorithm("reptile", model_init(model, task), meta_grad, evaluate)


def _from_config(config, model, task) -> Algorithm:
  return reptile(model, task, inner_lr=config.inner_lr, inner_steps=config.inner_steps)


REGISTRATION = Registration(
    "reptile", _from_config, reads=("inner_lr", "inner_steps"),
    description="Reptile (Nichol et al. 2018): k SGD steps, meta-gradient (theta - W) / alpha.")
