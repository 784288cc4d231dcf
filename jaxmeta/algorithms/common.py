"""Pieces shared by the gradient-based algorithms: init from an episode, the task loss of
a flax model, the query loss after adaptation, and THE evaluation by adaptation,
:func:`adaptation_curve`, over any :class:`~jaxmeta.inner_loop.UpdateRule`.

The methods differ only in the rule they hand to :func:`~jaxmeta.inner_loop.adapt`:
``sgd(inner_lr)`` (MAML, FOMAML, Reptile, pretrained), ``sgd(alpha)`` with learned
per-parameter ``alpha`` (Meta-SGD), ``sgd(inner_lr)`` on the head's weights over the
body's features (ANIL)."""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta.inner_loop import LossFn, UpdateRule, adapt
from jaxmeta.types import Episode, Params, PyTree, TaskDistribution


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


def support_batch(episode: Episode):
  """The support set as a batch of :func:`model_loss`: ``(x, y)``."""
  return (episode.support_x, episode.support_y)


def query_metric(model: nn.Module, task: TaskDistribution, episode: Episode):
  """``params -> task.metric`` of ``model`` on the episode's query set (the ``observe``
  of :func:`adaptation_curve`)."""
  return lambda p: task.metric(apply_model(model, p, episode.query_x, episode.support_x),
                               episode.query_y)


def adapted_query_loss(model: nn.Module, task: TaskDistribution, params: Params,
                       episode: Episode, update: UpdateRule, *, steps: int,
                       first_order: bool = False, remat: bool = False):
  """``(query loss after adaptation, metrics)``: ``steps`` steps of ``update`` on the
  support set from ``params``, then the task loss on the query set; what MAML-style
  methods differentiate (``jax.grad(..., has_aux=True)``).

  Returns:
    ``(loss, {"loss": loss, "pre_adaptation_loss": support loss before the first step})``.
  """
  loss_fn = model_loss(model, task)
  adapted, losses = adapt(loss_fn, params, support_batch(episode), update=update, steps=steps,
                          first_order=first_order, remat=remat)
  loss = loss_fn(adapted, query_batch(model, episode))
  return loss, {"loss": loss, "pre_adaptation_loss": losses[0]}


def adaptation_curve(loss_fn: LossFn, params: Params, support: PyTree,
                     observe: Callable[[Params], jax.Array], update: UpdateRule,
                     num_steps: int) -> jax.Array:
  """The one evaluation by adaptation: ``observe`` after 0..``num_steps`` steps of ``update``.

  Args:
    loss_fn: ``(params, batch) -> scalar``, the inner loss.
    params: the parameters that adapt (the whole model, or e.g. ANIL's head).
    support: the batch ``loss_fn`` adapts on.
    observe: ``params -> scalar``, the query metric.
    update: the :class:`~jaxmeta.inner_loop.UpdateRule`; run first order (evaluation
      needs no meta-gradient; the values are the same).
    num_steps: static number of steps.

  Returns:
    ``metric[num_steps + 1]``, entry ``k`` the metric after ``k`` steps.

  Example:
    >>> import jax.numpy as jnp
    >>> from jaxmeta.inner_loop import sgd
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> curve = adaptation_curve(loss, jnp.zeros(1), jnp.ones(1), lambda w: w[0], sgd(0.25), 2)
    >>> curve.tolist()
    [0.0, 0.5, 0.75]
  """
  adapted, (_, curve) = adapt(loss_fn, params, support, update=update, steps=num_steps,
                              first_order=True, observe=observe)
  return jnp.concatenate([curve, observe(adapted)[None]])


def finetune_curve(model: nn.Module, task: TaskDistribution, params: Params, episode: Episode,
                   update: UpdateRule, num_steps: int) -> jax.Array:
  """:func:`adaptation_curve` of a whole flax model: ``update`` on the support set, the
  task metric on the query set."""
  return adaptation_curve(model_loss(model, task), params, support_batch(episode),
                          query_metric(model, task, episode), update, num_steps)
