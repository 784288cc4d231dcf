"""ANIL, "almost no inner loop" (Raghu, Raghu, Bengio & Vinyals 2020): adapt only the head."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxmeta.algorithms.common import (INNER_OPTIMIZER_OPTIONS, adaptation_curve, check_flag,
                                      check_inner_lr, check_inner_steps, check_model, check_task,
                                      check_update, inner_rule, model_init, pre_adaptation_loss)
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import UpdateRule, adapt
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode, TaskDistribution


def _split(params):
  """``{"params": {..., "head": h}}`` -> (body params, head params)."""
  inner = dict(params["params"])
  head = inner.pop("head")
  return {"params": inner}, head


def _linear(head, features):
  return features @ head["kernel"] + head["bias"]


def anil(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
         inner_steps: int = 1, first_order: bool = False, remat: bool = False,
         update: UpdateRule | None = None) -> Algorithm:
  """MAML whose inner loop adapts only the final linear layer (the "head").

  The body is applied once per task (its output does not change during adaptation);
  :func:`~jaxmeta.inner_loop.adapt` runs the update rule ``jaxmeta.inner_loop.sgd(inner_lr)``
  on the head's weights over the support features (the same result as
  ``masked(sgd(inner_lr), head only)`` on the whole network, without re-applying the body
  at every step), and the meta-gradient flows to the body through the features and, second
  order, through the head's adaptation (Raghu et al. 2020, sec. 4).

  With ``inner_steps=0`` the head does not adapt: the meta-gradient is ``grad L_q(theta)``
  of the whole network, and ``pre_adaptation_loss`` the support loss at ``theta``.

  Args:
    model: a flax module with an ``output_size`` attribute whose last layer is a
      ``nn.Dense`` named ``"head"`` and that returns features when ``output_size=None``
      (:class:`~jaxmeta.models.Conv4`).
    task: supplies ``loss`` and ``metric``.
    inner_lr: alpha, a positive finite number (the rule is ``sgd(inner_lr)`` unless
      ``update`` is given).
    inner_steps: k >= 0 during meta-training.
    first_order: drop second-order terms.
    remat: rematerialise inner steps in the backward pass.
    update: an :class:`~jaxmeta.inner_loop.UpdateRule` for the head's adaptation in place of
      ``sgd(inner_lr)`` (its state covers the head only, fresh per task).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`; evaluation also adapts only the head.

  Raises:
    ConfigError: naming the bad argument (``inner_lr``, ``inner_steps``, ``model``, ...);
      at ``init``, a model without a ``"head"`` layer or that cannot take the task's inputs.

  Example:
    >>> import jax, jax.numpy as jnp, jaxmeta
    >>> from jaxmeta.types import Episode, TaskDistribution
    >>> from jaxmeta.tasks.episodes import accuracy, cross_entropy
    >>> ep = Episode(jnp.ones((2, 8, 8, 1)), jnp.arange(2), jnp.ones((4, 8, 8, 1)), jnp.arange(4) % 2)
    >>> task = TaskDistribution("toy", lambda k: ep, cross_entropy, accuracy, "accuracy", 2)
    >>> algo = anil(jaxmeta.models.Conv4(filters=4, output_size=2), task, inner_lr=0.1)
    >>> params = algo.init(jax.random.key(0), ep)
    >>> algo.evaluate(params, ep, 3, jax.random.key(1)).shape
    (4,)
  """
  check_model(model)
  check_task(task)
  inner_lr = check_inner_lr(inner_lr)
  inner_steps = check_inner_steps(inner_steps)
  first_order = check_flag("first_order", first_order)
  remat = check_flag("remat", remat)
  rule = check_update(update, inner_lr)
  if not hasattr(model, "output_size") or getattr(model, "output_size") is None:
    raise ConfigError("model", "ANIL needs a model with a linear head (output_size set), "
                      "e.g. conv4 or conv4-pool")
  init_model = model_init(model, task)

  def init(key: jax.Array, episode: Episode):
    params = init_model(key, episode)
    if "head" not in params.get("params", {}):
      raise ConfigError("model", f"ANIL needs a model whose last layer is a Dense named 'head' "
                        f"(as in Conv4); {type(model).__name__} has none, its layers are "
                        f"{sorted(params.get('params', {}))}")
    return params

  body = model.clone(output_size=None)
  support_norm = getattr(model, "norm", None) == "support"

  def features(body_params, episode: Episode):
    fs = body.apply(body_params, episode.support_x)
    if support_norm:
      fq = body.apply(body_params, episode.query_x, support=episode.support_x)
    else:
      fq = body.apply(body_params, episode.query_x)
    return fs, fq

  head_loss = lambda head, batch: task.loss(_linear(head, batch[0]), batch[1])

  def query_loss_after_adaptation(params, episode: Episode):
    body_params, head = _split(params)
    fs, fq = features(body_params, episode)
    adapted, losses = adapt(head_loss, head, (fs, episode.support_y), update=rule,
                            steps=inner_steps, first_order=first_order, remat=remat)
    loss = head_loss(adapted, (fq, episode.query_y))
    return loss, {"loss": loss, "pre_adaptation_loss": pre_adaptation_loss(
        losses, head_loss, head, (fs, episode.support_y))}

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    return jax.grad(query_loss_after_adaptation, has_aux=True)(params, episode)

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del key
    body_params, head = _split(params)
    fs, fq = features(body_params, episode)
    observe = lambda h: task.metric(_linear(h, fq), episode.query_y)
    return adaptation_curve(head_loss, head, (fs, episode.support_y), observe, rule, num_steps,
                            observe_at)

  return Algorithm("fomaml-anil" if first_order else "anil", init, meta_grad, evaluate)


def _from_config(config, model, task) -> Algorithm:
  return anil(model, task, inner_lr=config.inner_lr, inner_steps=config.inner_steps,
              remat=config.remat, update=inner_rule(config, differentiated=True, task=task))


REGISTRATION = Registration(
    "anil", _from_config,
    reads=("inner_lr", "inner_steps", "remat", "inner_loss_scale") + INNER_OPTIMIZER_OPTIONS,
    description="ANIL (Raghu et al. 2020): MAML adapting only the head.")
