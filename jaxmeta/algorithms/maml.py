"""MAML and first-order MAML (Finn et al. 2017)."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxmeta import options
from jaxmeta.algorithms.common import (INNER_OPTIMIZER_OPTIONS, adapted_query_loss, check_flag,
                                      check_inner_lr, check_inner_steps, check_model, check_task,
                                      check_update, finetune_curve, inner_rule, model_init)
from jaxmeta.inner_loop import UpdateRule, masked
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode, Params, TaskDistribution


def maml(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
         inner_steps: int = 1, first_order: bool = False, remat: bool = False,
         update: UpdateRule | None = None) -> Algorithm:
  """Model-Agnostic Meta-Learning.

  Per task: ``theta' = adapt(theta, support)`` with ``inner_steps`` steps of the update
  rule ``jaxmeta.inner_loop.sgd(inner_lr)``; the meta-gradient is ``jax.grad`` of the
  query loss at ``theta'`` through the ``lax.scan`` inner loop, i.e.
  ``grad L_q(theta') prod_i (I - alpha H_i)`` (reference text, "MAML"). With
  ``first_order`` the inner gradients are stopped and the meta-gradient is
  ``grad L_q(theta')`` (FOMAML).

  With ``inner_steps=0`` nothing adapts: ``theta' = theta`` and the meta-gradient is
  ``grad L_q(theta)`` (the empty product of ``I - alpha H_i`` is the identity), MAML and
  FOMAML alike; ``pre_adaptation_loss`` is then the support loss at ``theta``.

  Any other inner rule is a value: ``maml(model, task, update=from_optax(optax.adam(1e-3)))``
  adapts with Adam, its moments created fresh for every task by
  :func:`~jaxmeta.inner_loop.adapt`, and the meta-gradient is still ``jax.grad`` through
  the whole loop, Adam's state included (for second order through Adam, give it
  ``eps_root > 0``, e.g. ``optax.adam(1e-3, eps_root=1e-8)``: see
  :func:`jaxmeta.inner_loop.named`).

  Args:
    model: a flax module applied as ``model.apply(params, x)``.
    task: supplies ``loss`` and ``metric``.
    inner_lr: alpha, the inner SGD step size: a positive finite number (or 0-d array);
      the rule is ``sgd(inner_lr)`` unless ``update`` is given (then ``inner_lr`` is only
      checked).
    inner_steps: k >= 0, inner steps during meta-training.
    first_order: FOMAML.
    remat: rematerialise each inner step in the backward pass (constant memory in k).
    update: an :class:`~jaxmeta.inner_loop.UpdateRule` for the inner loop (training and
      evaluation) in place of ``sgd(inner_lr)``.

  Returns:
    An :class:`~jaxmeta.types.Algorithm`; its ``init`` checks that the model takes the
    task's inputs and gives outputs of the task's width.

  Raises:
    ConfigError: naming the bad argument (``inner_lr``, ``inner_steps``, ``model``, ...).

  Example:
    >>> import jax, optax, jaxmeta
    >>> task = jaxmeta.tasks.sinusoid()
    >>> algo = maml(jaxmeta.models.MLP((40, 40), 1), task)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> grads, metrics = algo.meta_grad(params, task.sample(jax.random.key(2)), jax.random.key(3))
    >>> sorted(metrics)
    ['loss', 'pre_adaptation_loss']
    >>> algo.evaluate(params, task.sample(jax.random.key(2)), 3, jax.random.key(4)).shape
    (4,)
  """
  check_model(model)
  check_task(task)
  inner_lr = check_inner_lr(inner_lr)
  inner_steps = check_inner_steps(inner_steps)
  first_order = check_flag("first_order", first_order)
  remat = check_flag("remat", remat)
  rule = check_update(update, inner_lr)

  def query_loss_after_adaptation(params, episode: Episode):
    return adapted_query_loss(model, task, params, episode, rule, steps=inner_steps,
                              first_order=first_order, remat=remat)

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key  # deterministic given the episode
    return jax.grad(query_loss_after_adaptation, has_aux=True)(params, episode)

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del key  # deterministic given the episode
    return finetune_curve(model, task, params, episode, rule, num_steps, observe_at)

  name = "fomaml" if first_order else "maml"
  return Algorithm(name, model_init(model, task), meta_grad, evaluate)


def fomaml(model: nn.Module, task: TaskDistribution, **kwargs) -> Algorithm:
  """First-order MAML: :func:`maml` with ``first_order=True``."""
  return maml(model, task, first_order=True, **kwargs)


def weights_only(params) -> Params:
  """The mask of :func:`~jaxmeta.inner_loop.masked` that adapts every leaf but the
  normalisation layers' (leaves whose path names ``norm``): the MAML authors' inner loop,
  whose batch-norm offset is learned in the outer loop only.

  Example:
    >>> weights_only({"params": {"conv0_kernel": 0, "norm0_bias": 0, "head": {"bias": 0}}})
    {'params': {'conv0_kernel': True, 'head': {'bias': True}, 'norm0_bias': False}}
  """
  return jax.tree_util.tree_map_with_path(
      lambda path, _: "norm" not in jax.tree_util.keystr(path), params)


def _from_config(first_order: bool):
  def build(config, model, task) -> Algorithm:
    rule = inner_rule(config, differentiated=not first_order, task=task)
    if config.inner_params == "weights":
      rule = masked(rule, weights_only)
    return maml(model, task, inner_lr=config.inner_lr, inner_steps=config.inner_steps,
                first_order=first_order, remat=config.remat, update=rule)
  return build


OPTIONS = (
    options.choice("inner_params", "all", ("all", "weights"), "MAML/FOMAML: what the inner "
                   "loop adapts: all (every parameter, batch-norm scale and offset included) | "
                   "weights (conv and dense weights and biases only; the authors' code learns "
                   "the batch-norm offset in the outer loop alone)"),
)
_READS = ("inner_lr", "inner_steps", "remat", "inner_loss_scale") + INNER_OPTIMIZER_OPTIONS
REGISTRATIONS = (
    Registration("maml", _from_config(False), OPTIONS, reads=_READS,
                 description="MAML (Finn et al. 2017), second order through the inner loop."),
    Registration("fomaml", _from_config(True), reads=_READS + ("inner_params",),
                 description="first-order MAML (Finn et al. 2017 sec. 5.2)."),
)
