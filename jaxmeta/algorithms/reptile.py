"""Reptile (Nichol, Achiam & Schulman 2018)."""
from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxmeta import checks, options
from jaxmeta.algorithms.common import (INNER_OPTIMIZER_OPTIONS, adaptation_curve,
                                      check_inner_lr, check_inner_steps, check_model, check_task,
                                      check_update, finetune_curve, inner_rule, model_init,
                                      model_loss, pre_adaptation_loss, query_batch, query_metric,
                                      support_batch)
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import UpdateRule, adapt
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode, PyTree, TaskDistribution

_MAX_EXAMPLES = 100_000
# Where a task's inner optimizer starts (``--inner-state``): fresh for every task, or from
# the state the previous meta-step's tasks ended with (supervised-reptile's inner Adam).
INNER_STATES = ("per-task", "carried")


def _as_float(tree: PyTree) -> PyTree:
  """The state with integer leaves (Adam's step count) as float32, so that it can sit in
  the parameter pytree beside float weights (exact up to 2^24 steps)."""
  return jax.tree.map(lambda v: jnp.asarray(v, jnp.float32)
                      if not jnp.issubdtype(jnp.result_type(v), jnp.floating) else v, tree)


def carried_state_optimizer(optimizer: optax.GradientTransformation
                            ) -> optax.GradientTransformation:
  """``optimizer`` on ``params["model"]``; ``params["inner_state"]`` replaced by its new value.

  Reptile with ``inner_state="carried"`` returns ``old - new`` as the "gradient" of the
  carried state (its mean over the meta-batch, as the train step averages everything);
  ``optax.sgd(1.0)`` turns that into the update ``new - old``, so the state becomes the
  tasks' mean final state (to float32 round-off), whatever the meta-optimizer is.
  """
  def labels(params):
    return {"model": jax.tree.map(lambda _: "model", params["model"]),
            "inner_state": jax.tree.map(lambda _: "state", params["inner_state"])}
  return optax.multi_transform({"model": optimizer, "state": optax.sgd(1.0)}, labels)


def minibatches(key: jax.Array, batch: PyTree, size: int, steps: int) -> PyTree:
  """``steps`` mini-batches of ``size`` examples of ``batch``, stacked on a new leading axis.

  Drawn as supervised-reptile's ``_mini_batches`` (without replacement) draws them: the
  examples in a random order, cut into consecutive batches; when they run out, a fresh
  random order of all of them (a batch may straddle two passes). With ``steps * size`` a
  multiple of the number of examples every example is used equally often; e.g. 50 support
  examples, batches of 10 and 5 steps use each exactly once.

  Args:
    key: the randomness of the draw.
    batch: a pytree whose leaves share a leading example axis of length ``n``.
    size: examples per mini-batch (> 0; may exceed ``n``, examples then repeat).
    steps: number of mini-batches (>= 0).

  Returns:
    ``batch`` with leaves of shape ``[steps, size, ...]``.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> b = minibatches(jax.random.key(0), jnp.arange(6), 3, 2)
    >>> b.shape, sorted(b.reshape(-1).tolist())
    ((2, 3), [0, 1, 2, 3, 4, 5])
  """
  n = jax.tree.leaves(batch)[0].shape[0]
  passes = max(1, -(-steps * size // n))
  orders = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, passes))
  index = orders.reshape(-1)[:steps * size].reshape(steps, size)
  return jax.tree.map(lambda v: v[index], batch)


def reptile(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
            inner_steps: int = 5, update: UpdateRule | None = None,
            inner_batch: Optional[int] = None, eval_inner_batch: Optional[int] = None,
            inner_state: str = "per-task") -> Algorithm:
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

  **Another inner rule** (``update=``, e.g. the paper's Adam, ``--inner-optimizer adam``):
  ``W`` is then where that rule's ``k`` steps end (its state, e.g. Adam's moments, fresh
  for every task), and the pseudo-gradient is still ``(theta - W) / inner_lr``: no longer
  a sum of gradients (each Adam step is about ``inner_lr`` per coordinate whatever the
  gradient's scale), but the same vector scaled by the constant ``1 / inner_lr``. The outer
  step ``optax.sgd(epsilon * inner_lr)`` is therefore still exactly
  ``theta <- theta + epsilon (W - theta)``: the published setting (Adam at 0.001, meta step
  1 annealed to 0) is ``--optimizer sgd --outer-lr 0.001 --outer-schedule linear``. With
  Adam as the outer optimizer the scale does not matter.

  **Inner mini-batches** (``inner_batch``, the paper's ``--inner-batch``): each inner step
  uses ``inner_batch`` support examples drawn with the key ``meta_grad`` is given
  (:func:`minibatches`: without replacement, reshuffled after each pass), instead of the
  whole support set; ``pre_adaptation_loss`` is then the loss on the first mini-batch.
  ``eval_inner_batch`` does the same at evaluation with the evaluation key (the paper's
  ``--eval-batch``). ``None``: the whole support set at every step.

  **Carried inner state** (``inner_state="carried"``, the authors' code): supervised-reptile
  runs every inner loop with one TensorFlow Adam optimizer and resets only the trainable
  weights between tasks, so Adam's moments and step count carry over through all of
  training, and every evaluation task starts from them (its full state is restored after
  each task). With ``beta1 = 0`` what carries is the second moment, a long-run scale of
  each coordinate's gradient: a fresh Adam's first step is ``lr * sign(g)`` on every
  coordinate, a carried one's is ``lr * g / sqrt(v)``. Here ``params`` is then
  ``{"model": theta, "inner_state": s}``; each task of a meta-step starts from ``s`` (the
  reference runs them one after another, here they run side by side), and ``s`` becomes
  the mean of their final states (:func:`carried_state_optimizer`, which the train step
  applies through ``Algorithm.wrap_optimizer``); evaluation starts every task from ``s``.
  On the small sets this is worth 9 points of 5-way 1-shot accuracy at 5000 meta-steps
  (benchmarks/RESULTS.md, "Reptile as published, on the small sets").

  Args:
    model: a flax module.
    task: supplies ``loss`` and ``metric``.
    inner_lr: alpha, the inner SGD step size, a positive finite number; with ``update``,
      the scale of the pseudo-gradient ``(theta - W) / inner_lr`` (give the rule's step).
    inner_steps: k >= 0.
    update: an :class:`~jaxmeta.inner_loop.UpdateRule` in place of ``sgd(inner_lr)``.
    inner_batch: examples per inner step during meta-training (``None``: all).
    eval_inner_batch: examples per adaptation step at evaluation (``None``: all).
    inner_state: ``"per-task"`` (the rule's state fresh for every task) or ``"carried"``
      (see above; needs a rule with state, such as Adam).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Raises:
    ConfigError: naming the bad argument (``inner_lr``, ``inner_steps``, ``inner_batch``,
      ``update``, ``model``, ...).

  Example:
    >>> import jax, optax, jaxmeta
    >>> from jaxmeta.inner_loop import from_optax
    >>> task = jaxmeta.tasks.sinusoid(shots=10)
    >>> algo = reptile(jaxmeta.models.MLP((8,), 1), task, inner_lr=0.001, inner_batch=5,
    ...                update=from_optax(optax.adam(0.001, b1=0.0)))
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> grads, metrics = algo.meta_grad(params, task.sample(jax.random.key(2)), jax.random.key(3))
    >>> sorted(metrics)
    ['loss', 'pre_adaptation_loss']
  """
  check_model(model)
  check_task(task)
  inner_lr = check_inner_lr(inner_lr)
  inner_steps = check_inner_steps(inner_steps)
  rule = check_update(update, inner_lr)
  if inner_batch is not None:
    inner_batch = checks.integer("inner_batch", inner_batch, 1, _MAX_EXAMPLES)
  if eval_inner_batch is not None:
    eval_inner_batch = checks.integer("eval_inner_batch", eval_inner_batch, 1, _MAX_EXAMPLES)
  if inner_state not in INNER_STATES:
    raise ConfigError("inner_state", f"must be one of {', '.join(INNER_STATES)}, got "
                      f"{inner_state!r}")
  carried = inner_state == "carried"
  if carried and not jax.tree.leaves(jax.eval_shape(rule.init, {"w": jnp.zeros(1)})):
    raise ConfigError("inner_state", "'carried' needs an inner update rule with state (e.g. "
                      "Adam: --inner-optimizer adam); plain SGD has none to carry")
  loss_fn = model_loss(model, task)
  init_model = model_init(model, task)

  def init(key, episode):
    theta = init_model(key, episode)
    return {"model": theta, "inner_state": _as_float(rule.init(theta))} if carried else theta

  def unpack(params):
    """(theta, the rule each task starts with)."""
    if not carried:
      return params, rule
    theta = params["model"]
    start = jax.tree.map(lambda v, like: v.astype(like.dtype), params["inner_state"],
                         jax.eval_shape(rule.init, theta))
    return theta, UpdateRule(lambda _: start, rule.update)

  def meta_grad(params, episode: Episode, key: jax.Array):
    theta, start = unpack(params)
    support = support_batch(episode)
    if inner_batch is None:
      out = adapt(loss_fn, theta, support, update=start, steps=inner_steps, first_order=True,
                  return_state=carried)
    else:
      out = adapt(loss_fn, theta, minibatches(key, support, inner_batch, inner_steps),
                  update=start, per_step_batches=True, first_order=True, return_state=carried)
    adapted, losses = jax.lax.stop_gradient(out[0]), out[1]
    grads = jax.tree.map(lambda p, w: (p - w) / inner_lr, theta, adapted)
    if carried:   # old - new: carried_state_optimizer makes the state the tasks' mean new one
      grads = {"model": grads, "inner_state": jax.tree.map(
          lambda old, new: old - new, params["inner_state"],
          _as_float(jax.lax.stop_gradient(out[2])))}
    query_loss = loss_fn(adapted, query_batch(model, episode))
    return grads, {"loss": query_loss,
                   "pre_adaptation_loss": pre_adaptation_loss(losses, loss_fn, theta, support)}

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    theta, start = unpack(params)
    if eval_inner_batch is None or num_steps == 0:
      return finetune_curve(model, task, theta, episode, start, num_steps, observe_at)
    batches = minibatches(key, support_batch(episode), eval_inner_batch, num_steps)
    return adaptation_curve(loss_fn, theta, batches, query_metric(model, task, episode), start,
                            num_steps, observe_at, per_step_batches=True)

  return Algorithm("reptile", init, meta_grad, evaluate,
                   wrap_optimizer=carried_state_optimizer if carried else None)


def _from_config(config, model, task) -> Algorithm:
  return reptile(model, task, inner_lr=config.inner_lr, inner_steps=config.inner_steps,
                 update=inner_rule(config), inner_batch=getattr(config, "inner_batch", None),
                 eval_inner_batch=getattr(config, "eval_inner_batch", None),
                 inner_state=getattr(config, "inner_state", "per-task"))


OPTIONS = (
    options.integer("inner_batch", None, "Reptile: support examples per inner step, drawn "
                    "without replacement and reshuffled after each pass (the paper's "
                    "--inner-batch; default: the whole support set at every step)",
                    maximum=_MAX_EXAMPLES),
    options.integer("eval_inner_batch", None, "Reptile: support examples per adaptation step "
                    "at evaluation (the paper's --eval-batch; default: the whole support set)",
                    maximum=_MAX_EXAMPLES, group="evaluation", resumable=True),
    options.choice("inner_state", "per-task", INNER_STATES, "Reptile: where each task's inner "
                   "optimizer starts: per-task (fresh) or carried (from the state the previous "
                   "meta-step's tasks ended with, as supervised-reptile's inner Adam; needs "
                   "--inner-optimizer adam)"),
)

REGISTRATION = Registration(
    "reptile", _from_config, OPTIONS, reads=("inner_lr", "inner_steps") + INNER_OPTIMIZER_OPTIONS,
    description="Reptile (Nichol et al. 2018): k SGD steps, meta-gradient (theta - W) / alpha.")
