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


def apply_model(model: nn.Module, params, x, support=None):
  """``model.apply(params, x)``; a model with ``norm="support"`` (:class:`~jaxmeta.models.Conv4`)
  also gets the support inputs, whose statistics then normalise ``x`` (non-transductive)."""
  if support is not None and getattr(model, "norm", None) == "support":
    return model.apply(params, x, support=support)
  return model.apply(params, x)


def query_batch(model: nn.Module, episode: Episode):
  """The query batch for :func:`model_loss`: ``(x, y)``, plus the support inputs when the
  model normalises with support-set statistics."""
  if getattr(model, "norm", None) == "support":
    return (episode.query_x, episode.query_y, episode.support_x)
  return (episode.query_x, episode.query_y)


def model_loss(model: nn.Module, task: TaskDistribution):
  """``(params, (x, y)) -> scalar`` task loss of ``model``; the ``loss_fn`` of :func:`adapt`.

  The batch may be ``(x, y, support_x)`` (see :func:`query_batch`)."""
  def loss_fn(params, batch):
    x, y, *support = batch
    return task.loss(apply_model(model, params, x, *support), y)
  return loss_fn


def finetune_evaluate(model: nn.Module, task: TaskDistribution, inner_lr, first_order=True):
  """Evaluation by SGD on the support set: the metric on the query set after 0..n steps.

  ``inner_lr`` is a scalar, or a callable ``params -> lr`` for learned rates (Meta-SGD).
  """
  loss_fn = model_loss(model, task)

  def evaluate(params, episode: Episode, num_steps: int) -> jax.Array:
    lr = inner_lr(params) if callable(inner_lr) else inner_lr
    net = params["model"] if callable(inner_lr) else params
    observe = lambda p: task.metric(apply_model(model, p, episode.query_x, episode.support_x),
                                    episode.query_y)
    adapted, (_, curve) = adapt(loss_fn, net, (episode.support_x, episode.support_y), lr=lr,
                                steps=num_steps, first_order=first_order, observe=observe)
    return jnp.concatenate([curve, observe(adapted)[None]])

  return evaluate
