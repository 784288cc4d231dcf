"""The MAML paper's "pretrained" baseline: one network trained on all tasks jointly."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta.algorithms.common import (INNER_OPTIMIZER_OPTIONS, check_inner_lr, check_model,
                                      check_task, check_update, finetune_curve, inner_rule,
                                      model_init, model_loss)
from jaxmeta.inner_loop import UpdateRule
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode, TaskDistribution


def pretrained(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
               update: UpdateRule | None = None) -> Algorithm:
  """Joint training on every task's points, then fine-tuning with SGD at test time.

  The training gradient is the plain loss gradient on the union of support and query
  points of each task (no inner loop); evaluation fine-tunes on the support set with
  the update rule ``jaxmeta.inner_loop.sgd(inner_lr)``, exactly as MAML is evaluated.

  Args:
    model: a flax module.
    task: supplies ``loss`` and ``metric``.
    inner_lr: the fine-tuning step size, a positive finite number (the rule is
      ``sgd(inner_lr)`` unless ``update`` is given).
    update: an :class:`~jaxmeta.inner_loop.UpdateRule` to fine-tune with instead.

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Raises:
    ConfigError: naming the bad argument (``inner_lr``, ``model``, ``task``).
  """
  check_model(model)
  check_task(task)
  inner_lr = check_inner_lr(inner_lr)
  rule = check_update(update, inner_lr)
  loss_fn = model_loss(model, task)

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    x = jnp.concatenate([episode.support_x, episode.query_x])
    y = jnp.concatenate([episode.support_y, episode.query_y])
    loss, grads = jax.value_and_grad(loss_fn)(params, (x, y))
    return grads, {"loss": loss, "pre_adaptation_loss": loss}

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del key
    return finetune_curve(model, task, params, episode, rule, num_steps, observe_at)

  return Algorithm("pretrained", model_init(model, task), meta_grad, evaluate)


def _from_config(config, model, task) -> Algorithm:
  return pretrained(model, task, inner_lr=config.inner_lr, update=inner_rule(config))


REGISTRATION = Registration(
    "pretrained", _from_config, reads=("inner_lr",) + INNER_OPTIMIZER_OPTIONS,
    description="the MAML paper's baseline: one network trained on all tasks, fine-tuned with "
                "SGD at test.")
