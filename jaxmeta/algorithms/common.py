"""Pieces shared by the gradient-based algorithms: init from an episode, the task loss of
a flax model, and evaluation by fine-tuning on the support set."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta.inner_loop import adapt
from jaxmeta.types import Episode, TaskDistribution


def model_init(model: nn.Module):
  """``(key, episode) -> params`` for a model applied to the support inputs."""
  def init(key: jax.Array, episode: Episode):
    return model.init(key, episode.support_x)
  return init


def model_loss(model: nn.Module, task: TaskDistribution):
  """``(params, (x, y)) -> scalar`` task loss of ``model``; the ``loss_fn`` of :func:`adapt`."""
  def loss_fn(params, batch):
    x, y = batch
    return task.loss(model.apply(params, x), y)
  return loss_fn


def finetune_evaluate(model: nn.Module, task: TaskDistribution, inner_lr, first_order=True):
  """Evaluation by SGD on the support set: the metric on the query set after 0..n steps.

  ``inner_lr`` is a scalar, or a callable ``params -> lr`` for learned rates (Meta-SGD).
  """
  loss_fn = model_loss(model, task)

  def evaluate(params, episode: Episode, num_steps: int) -> jax.Array:
    lr = inner_lr(params) if callable(inner_lr) else inner_lr
    net = params["model"] if callable(inner_lr) else params
    observe = lambda p: task.metric(model.apply(p, episode.query_x), episode.query_y)
    adapted, (_, curve) = adapt(loss_fn, net, (episode.support_x, episode.support_y), lr=lr,
                                steps=num_steps, first_order=first_order, observe=observe)
    return jnp.concatenate([curve, observe(adapted)[None]])

  return evaluate
