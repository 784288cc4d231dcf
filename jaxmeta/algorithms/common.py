"""Pieces shared by the gradient-based algorithms: init from an episode, the task loss of
a flax model, the query loss after adaptation, and THE evaluation by adaptation,
:func:`adaptation_curve`, over any :class:`~jaxmeta.inner_loop.UpdateRule`.

The methods differ only in the rule they hand to :func:`~jaxmeta.inner_loop.adapt`:
``sgd(inner_lr)`` (MAML, FOMAML, Reptile, pretrained), ``sgd(alpha)`` with learned
per-parameter ``alpha`` (Meta-SGD), ``sgd(inner_lr)`` on the head's weights over the
body's features (ANIL). Every method but Meta-SGD also takes ``update=``, any
:class:`~jaxmeta.inner_loop.UpdateRule` in place of ``sgd(inner_lr)``; from a run config
the rule is :func:`inner_rule` (``--inner-optimizer sgd|adam``).

The factories check their arguments with the ``check_*`` functions here before building
anything, raising :class:`~jaxmeta.errors.ConfigError` named after the argument, and
:func:`model_init` checks that the model can take the task's inputs before tracing it.

``inner_steps=0`` is allowed and means no adaptation: the adapted parameters are
``theta`` itself, so MAML's (and FOMAML's, Meta-SGD's, ANIL's) meta-gradient is
``grad L_q(theta)``, and ``pre_adaptation_loss`` is the support loss at ``theta``
(:func:`pre_adaptation_loss`)."""
from __future__ import annotations

import itertools
import math
from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta import checks
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import (LossFn, UpdateRule, adapt, named, observe_only_at, scaled_loss,
                                sgd)
from jaxmeta.models.conv import Conv4
from jaxmeta.models.koch import KochNet
from jaxmeta.types import Episode, Params, PyTree, TaskDistribution


# --------------------------------------------------------------------------- argument checks


def check_inner_lr(value, name: str = "inner_lr"):
  """``value`` if it is a positive finite scalar step size, else :class:`ConfigError`.

  A Python (or numpy) number, or a 0-d array; a traced value (``vmap`` over step sizes,
  say) cannot be inspected and is let through. The value is returned unchanged, so the
  arithmetic that uses it is the same as without the check.

  Example:
    >>> import jax.numpy as jnp
    >>> check_inner_lr(0.4), float(check_inner_lr(jnp.float32(0.1)))
    (0.4, 0.10000000149011612)
    >>> check_inner_lr(-1.0)
    Traceback (most recent call last):
    ...
    jaxmeta.errors.ConfigError: inner_lr: must be a positive finite number, got -1.0
  """
  if isinstance(value, jax.core.Tracer):
    return value
  if isinstance(value, (jax.Array, np.ndarray, np.generic)) and not isinstance(value, np.bool_):
    if value.ndim != 0 or not (jnp.issubdtype(value.dtype, jnp.floating)
                               or jnp.issubdtype(value.dtype, jnp.integer)):
      raise ConfigError(name, f"must be a positive finite number (a scalar), got an array of "
                        f"shape {tuple(value.shape)} and dtype {value.dtype}")
    number = float(value)
    if not math.isfinite(number) or not number > 0:
      raise ConfigError(name, f"must be a positive finite number, got {number!r}")
    return value
  checks.positive_number(name, value)
  return value


def check_inner_steps(value, name: str = "inner_steps") -> int:
  """A non-negative int (0: no adaptation); static, so never a traced value."""
  return checks.integer(name, value, minimum=0)


def check_update(value, inner_lr, name: str = "update") -> UpdateRule:
  """The inner rule of a method: ``value``, a :class:`~jaxmeta.inner_loop.UpdateRule`, or
  for ``None`` plain SGD at ``inner_lr`` (``theta - alpha grad L_s(theta)``, MAML eq. 1)."""
  if value is None:
    return sgd(inner_lr)
  if not isinstance(value, UpdateRule):
    raise ConfigError(name, f"must be a jaxmeta.inner_loop.UpdateRule (wrap an optax optimizer "
                      f"with jaxmeta.inner_loop.from_optax), got {type(value).__name__}")
  return value


# The options of the inner optimizer a run names; the methods that build their inner rule
# from the config list them in their ``Registration.reads``.
INNER_OPTIMIZER_OPTIONS = ("inner_optimizer", "inner_beta1", "inner_beta2")
# How a batch-norm model is scored (``--eval-norm``): ``episode`` normalises support and
# query together (transductive), ``support`` with the support set's statistics alone.
EVAL_NORMS = ("episode", "support")
# Adam's eps_root when the meta-gradient is differentiated through the inner loop (MAML,
# ANIL): keeps d sqrt(v) finite where a gradient entry is exactly zero.
DIFFERENTIATED_ADAM_EPS_ROOT = 1e-8


def inner_rule(config, *, differentiated: bool = False,
               task: Optional[TaskDistribution] = None) -> UpdateRule:
  """The inner :class:`~jaxmeta.inner_loop.UpdateRule` a run names: ``--inner-optimizer``
  with ``--inner-lr`` (and ``--inner-beta1``, ``--inner-beta2`` for Adam).

  ``sgd`` gives ``jaxmeta.inner_loop.sgd(inner_lr)``, the rule of every method before
  ``--inner-optimizer`` existed (bit-identical). ``adam`` gives
  ``from_optax(optax.adam(inner_lr, b1=inner_beta1, b2=inner_beta2))``, with
  ``eps_root=1e-8`` when ``differentiated`` (second-order MAML / ANIL: see
  :func:`jaxmeta.inner_loop.named`). A config written before these options existed reads
  as SGD. Given the ``task``, ``--inner-loss-scale ways`` steps on ``N`` times the mean
  loss, ``N = task.output_size`` (:func:`jaxmeta.inner_loop.scaled_loss`, the MAML
  authors' reduction).

  Example:
    >>> from jaxmeta.config import Config
    >>> rule = inner_rule(Config(inner_optimizer="adam", inner_lr=0.001, inner_beta1=0.0))
    >>> type(rule).__name__
    'UpdateRule'
  """
  rule = named(getattr(config, "inner_optimizer", "sgd"), config.inner_lr,
               beta1=getattr(config, "inner_beta1", 0.9), beta2=getattr(config, "inner_beta2", 0.999),
               eps_root=DIFFERENTIATED_ADAM_EPS_ROOT if differentiated else 0.0)
  if task is not None and getattr(config, "inner_loss_scale", "mean") == "ways":
    rule = scaled_loss(rule, task.output_size)
  return rule


def check_flag(name: str, value) -> bool:
  """``True`` or ``False`` (a string such as ``"False"`` would silently be truthy)."""
  if not isinstance(value, (bool, np.bool_)):
    raise ConfigError(name, f"must be True or False, got {value!r}")
  return bool(value)


def check_model(model, name: str = "model") -> nn.Module:
  """A flax module (applied as ``model.apply(params, x)``)."""
  if not isinstance(model, nn.Module):
    raise ConfigError(name, f"must be a flax.linen Module, got {type(model).__name__}")
  return model


def check_task(task) -> TaskDistribution:
  """A :class:`~jaxmeta.types.TaskDistribution` (anything with callable ``loss`` and
  ``metric``)."""
  if not (callable(getattr(task, "loss", None)) and callable(getattr(task, "metric", None))):
    raise ConfigError("task", "must be a jaxmeta.types.TaskDistribution (with loss and metric), "
                      f"got {type(task).__name__}")
  return task


def _shape_text(shape) -> str:
  return "[n, " + ", ".join(str(d) for d in shape[1:]) + "]" if len(shape) > 1 else "[n]"


def _conv4_side(model: Conv4, side: int) -> int:
  """The side of Conv4's last feature map for inputs ``side`` pixels wide."""
  for i in range(model.layers):
    side = -(-side // model.stride)                                   # SAME padding
    if i < model.valid_layers:
      side -= 2                                                       # VALID (stride 1)
    if model.pool and (model.pool_layers is None or i < model.pool_layers):
      side //= 2                                                      # VALID 2x2 pool
  return side


def _koch_side(side: int) -> int:
  """The side of KochNet's last feature map: VALID convs 10, 7, 4, 4, 2x2 pools after 3."""
  for k in (10, 7, 4):
    side = (side - k + 1) // 2
  return side - 3


def _min_side(side_fn: Callable[[int], int]) -> int:
  """The least input side whose last feature map is not empty (``side_fn`` is monotone)."""
  return next(s for s in itertools.count(1) if side_fn(s) >= 1)


def check_model_inputs(model: nn.Module, x, name: str = "model") -> None:
  """Raises :class:`ConfigError` when ``model`` cannot take inputs of ``x``'s shape.

  A cheap check on shapes alone (``x`` may be traced), for the models whose needs are
  known: :class:`~jaxmeta.models.Conv4` takes images ``[n, H, W, C]`` (or ``[n, H, W]``)
  large enough for its strides and pools, :class:`~jaxmeta.models.KochNet` images of at
  least 65x65, ``flax.linen.Conv`` ``[n, spatial..., C]``. Other models are not checked.

  Example:
    >>> import jax.numpy as jnp
    >>> check_model_inputs(Conv4(), jnp.zeros((10, 28, 28, 1)))   # fine
    >>> try:
    ...   check_model_inputs(Conv4(), jnp.zeros((10, 1)))         # sinusoid inputs
    ... except ConfigError as e:
    ...   print(e.parameter, "|", e.message[:63])
    model | Conv4 expects images [n, H, W, C]; the task's inputs are [n, 1]
  """
  shape = tuple(jnp.shape(x))
  kind = type(model).__name__
  if isinstance(model, (Conv4, KochNet)):
    rank_ok = len(shape) in (3, 4) if isinstance(model, Conv4) else len(shape) == 4
    if not rank_ok:
      hint = " (a regression task?)" if len(shape) == 2 else ""
      raise ConfigError(name, f"{kind} expects images [n, H, W, C]; the task's inputs are "
                        f"{_shape_text(shape)}{hint}: use a model for vectors, such as MLP "
                        "(--model mlp), or an image task")
    h, w = shape[1], shape[2]
    if isinstance(model, Conv4):
      side_fn = lambda side: _conv4_side(model, side)
      pools = "" if not model.pool else " and 2x2 max-pools" + (
          "" if model.pool_layers is None else f" after the first {model.pool_layers}")
      what = f"{kind} with {model.layers} blocks of stride {model.stride}{pools}"
    else:
      side_fn, what = _koch_side, kind
    if min(side_fn(h), side_fn(w)) < 1:
      need = _min_side(side_fn)
      raise ConfigError(name, f"{what} needs images of at least {need}x{need}; the task's "
                        f"are {h}x{w} (--image-size)")
  elif isinstance(model, nn.Conv) and isinstance(model.kernel_size, (tuple, list)):
    if len(shape) < len(model.kernel_size) + 2:
      raise ConfigError(name, f"{kind} with a {len(model.kernel_size)}-d kernel expects "
                        f"[n, {', '.join('S' * len(model.kernel_size))}, C] inputs; the task's "
                        f"are {_shape_text(shape)}")


def check_model_outputs(model: nn.Module, outputs, task: TaskDistribution,
                        name: str = "model") -> None:
  """Raises :class:`ConfigError` when ``model``'s outputs ``[n, d]`` do not have the width
  ``task.output_size`` that the task's loss takes (other shapes are not checked)."""
  size = getattr(task, "output_size", None)
  shape = tuple(getattr(outputs, "shape", ()))
  if checks.is_int(size) and len(shape) == 2 and shape[1] != size:
    raise ConfigError(name, f"{type(model).__name__} outputs [n, {shape[1]}] but the task "
                      f"{getattr(task, 'name', '')!r} needs [n, {size}] (its output_size): build "
                      f"the model with output_size={size}")


# --------------------------------------------------------------------------- pieces


def model_init(model: nn.Module, task: Optional[TaskDistribution] = None):
  """``(key, episode) -> params`` for a model applied to the support inputs.

  Checks first that the model can take the episode's inputs (:func:`check_model_inputs`)
  and, given ``task``, that its outputs have the task's width
  (:func:`check_model_outputs`); the parameters are those of ``model.init``.
  """
  def init(key: jax.Array, episode: Episode):
    check_model_inputs(model, episode.support_x)
    outputs, params = model.init_with_output(key, episode.support_x)
    if task is not None:
      check_model_outputs(model, outputs, task)
    return params
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
    ``(loss, {"loss": loss, "pre_adaptation_loss": support loss before the first step})``;
    with ``steps=0`` nothing adapts: the query loss at ``params`` and the support loss at
    ``params``.
  """
  loss_fn = model_loss(model, task)
  support = support_batch(episode)
  adapted, losses = adapt(loss_fn, params, support, update=update, steps=steps,
                          first_order=first_order, remat=remat)
  loss = loss_fn(adapted, query_batch(model, episode))
  return loss, {"loss": loss,
                "pre_adaptation_loss": pre_adaptation_loss(losses, loss_fn, params, support)}


def pre_adaptation_loss(losses: jax.Array, loss_fn: LossFn, params: Params, support: PyTree):
  """The support loss before the first inner step: ``losses[0]`` of :func:`adapt`, or with
  no steps (``losses`` empty) ``loss_fn(params, support)``; a metric, not differentiated.

  Example:
    >>> import jax.numpy as jnp
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> float(pre_adaptation_loss(jnp.zeros((0,)), loss, jnp.zeros(2), jnp.ones(2)))
    2.0
  """
  if losses.shape[0] > 0:
    return losses[0]
  return jax.lax.stop_gradient(loss_fn(params, support))


def adaptation_curve(loss_fn: LossFn, params: Params, support: PyTree,
                     observe: Callable[[Params], jax.Array], update: UpdateRule,
                     num_steps: int, observe_at: Sequence[int] | None = None, *,
                     per_step_batches: bool = False) -> jax.Array:
  """The one evaluation by adaptation: ``observe`` after 0..``num_steps`` steps of ``update``.

  Args:
    loss_fn: ``(params, batch) -> scalar``, the inner loss.
    params: the parameters that adapt (the whole model, or e.g. ANIL's head).
    support: the batch ``loss_fn`` adapts on.
    observe: ``params -> scalar``, the query metric.
    update: the :class:`~jaxmeta.inner_loop.UpdateRule`; run first order (evaluation
      needs no meta-gradient; the values are the same).
    num_steps: static number of steps.
    observe_at: the steps to observe after (static; ``None``: all). The others are NaN
      and cost no query pass: with few points (e.g. ``(0, 10)``) most of an evaluation's
      compute, the query set at every step, is skipped.
    per_step_batches: ``support`` holds one batch per step on a leading axis of length
      ``num_steps`` (e.g. Reptile's mini-batches), as in :func:`jaxmeta.adapt`.

  Returns:
    ``metric[num_steps + 1]``, entry ``k`` the metric after ``k`` steps.

  Example:
    >>> import jax.numpy as jnp
    >>> from jaxmeta.inner_loop import sgd
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> curve = adaptation_curve(loss, jnp.zeros(1), jnp.ones(1), lambda w: w[0], sgd(0.25), 2)
    >>> curve.tolist()
    [0.0, 0.5, 0.75]
    >>> adaptation_curve(loss, jnp.zeros(1), jnp.ones(1), lambda w: w[0], sgd(0.25), 2,
    ...                  observe_at=(2,)).tolist()
    [nan, nan, 0.75]
  """
  steps = {} if per_step_batches else {"steps": num_steps}
  adapted, (_, curve) = adapt(loss_fn, params, support, update=update, first_order=True,
                              observe=observe, observe_at=observe_at,
                              per_step_batches=per_step_batches, **steps)
  last = observe_only_at(observe, observe_at, num_steps)(jnp.int32(num_steps), adapted)
  return jnp.concatenate([curve, last[None]])


def finetune_curve(model: nn.Module, task: TaskDistribution, params: Params, episode: Episode,
                   update: UpdateRule, num_steps: int,
                   observe_at: Sequence[int] | None = None) -> jax.Array:
  """:func:`adaptation_curve` of a whole flax model: ``update`` on the support set, the
  task metric on the query set (at the steps of ``observe_at``)."""
  return adaptation_curve(model_loss(model, task), params, support_batch(episode),
                          query_metric(model, task, episode), update, num_steps, observe_at)
