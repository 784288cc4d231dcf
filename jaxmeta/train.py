"""The one training step every algorithm shares, and evaluation over fresh tasks.

``make_train_step`` composes a :class:`~jaxmeta.types.TaskDistribution`, an
:class:`~jaxmeta.types.Algorithm` and an optax optimizer into one jitted function
``(state, key) -> (state, metrics)``: it samples the meta-batch from the key inside the
jitted function, maps the algorithm's per-task ``meta_grad`` over the tasks, averages,
and applies the optimizer. It never looks at which algorithm it runs.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmeta.errors import ConfigError
from jaxmeta.types import Algorithm, Params, TaskDistribution

TASK_AXIS_MODES = ("vmap", "map", "auto")


class TrainState(NamedTuple):
  """Everything that changes during meta-training; a pytree, checkpointed whole."""
  step: jax.Array
  params: Params
  opt_state: optax.OptState


def init_state(key: jax.Array, task: TaskDistribution, algo: Algorithm,
               optimizer: optax.GradientTransformation) -> TrainState:
  """Meta-parameters from ``algo.init`` on one sampled task, and a fresh optimizer state."""
  task_key, init_key = jax.random.split(key)
  params = algo.init(init_key, task.sample(task_key))
  return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))


def _map_over_tasks(fn: Callable, task_axis: str) -> Callable:
  """vmap, or ``lax.map`` (a loop inside XLA). On XLA:CPU a loop is often faster for
  convolutions whose kernels differ per task; ``auto`` picks map on CPU, vmap elsewhere."""
  if task_axis == "auto":
    task_axis = "map" if jax.default_backend() == "cpu" else "vmap"
  if task_axis == "vmap":
    return jax.vmap(fn)
  return lambda *args: jax.lax.map(lambda a: fn(*a), args)


def meta_batch_gradient(task: TaskDistribution, algo: Algorithm, params: Params, key: jax.Array,
                        meta_batch_size: int, task_axis: str = "vmap"):
  """Samples ``meta_batch_size`` tasks from ``key`` and returns the mean meta-gradient and
  mean metrics. Pure; this is the body of the train step before the optimizer."""
  task_key, algo_key = jax.random.split(key)
  episodes = jax.vmap(task.sample)(jax.random.split(task_key, meta_batch_size))
  if algo.batch_meta_grad is not None:   # the mean gradient directly (see Algorithm)
    return algo.batch_meta_grad(params, episodes, jax.random.split(algo_key, meta_batch_size))
  per_task = _map_over_tasks(lambda ep, k: algo.meta_grad(params, ep, k), task_axis)
  grads, metrics = per_task(episodes, jax.random.split(algo_key, meta_batch_size))
  mean = lambda tree: jax.tree.map(lambda v: jnp.mean(v, axis=0), tree)
  return mean(grads), mean(metrics)


def _check_step_args(meta_batch_size: int, task_axis: str):
  if not isinstance(meta_batch_size, int) or meta_batch_size <= 0:
    raise ConfigError("meta_batch_size", f"must be a positive integer, got {meta_batch_size!r}")
  if task_axis not in TASK_AXIS_MODES:
    raise ConfigError("task_axis", f"must be one of {', '.join(TASK_AXIS_MODES)}, got {task_axis!r}")


def make_train_step(task: TaskDistribution, algo: Algorithm, optimizer: optax.GradientTransformation,
                    meta_batch_size: int, *, task_axis: str = "vmap", donate: bool = True):
  """Builds the jitted meta-training step.

  Args:
    task: the task distribution sampled inside the step.
    algo: the meta-learning algorithm.
    optimizer: optax transformation applied to the mean meta-gradient.
    meta_batch_size: tasks per step.
    task_axis: ``"vmap"``, ``"map"`` (``lax.map``; faster for per-task convolutions on
      XLA:CPU) or ``"auto"``.
    donate: donate the input state's buffers (the caller must not reuse ``state``).

  Returns:
    ``train_step(state, key) -> (state, metrics)``, jitted.

  Example:
    >>> import jax, optax, jaxmeta
    >>> task = jaxmeta.tasks.sinusoid()
    >>> algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP((40, 40), 1), task)
    >>> opt = optax.adam(1e-3)
    >>> state = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
    >>> train_step = jaxmeta.make_train_step(task, algo, opt, meta_batch_size=25)
    >>> state, metrics = train_step(state, jax.random.key(1))
    >>> int(state.step)
    1
  """
  _check_step_args(meta_batch_size, task_axis)

  def step(state: TrainState, key: jax.Array):
    grads, metrics = meta_batch_gradient(task, algo, state.params, key, meta_batch_size, task_axis)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(state.step + 1, params, opt_state), metrics

  return jax.jit(step, donate_argnums=(0,) if donate else ())


def make_train_loop(task: TaskDistribution, algo: Algorithm, optimizer: optax.GradientTransformation,
                    meta_batch_size: int, steps_per_call: int, *, task_axis: str = "vmap"):
  """Several meta-steps per dispatch, with ``lax.scan``: ``(state, seed_key) -> (state, metrics)``.

  Step ``s`` uses the key ``fold_in(seed_key, s)``, so the trajectory is a function of the
  seed alone: resuming from a checkpoint at step ``s`` replays exactly the same keys.
  ``metrics`` are stacked over the ``steps_per_call`` steps.
  """
  _check_step_args(meta_batch_size, task_axis)
  step = make_train_step(task, algo, optimizer, meta_batch_size, task_axis=task_axis, donate=False)

  def loop(state: TrainState, seed_key: jax.Array):
    def body(s, _):
      return step(s, jax.random.fold_in(seed_key, s.step))
    return jax.lax.scan(body, state, None, length=steps_per_call)

  return jax.jit(loop, donate_argnums=(0,))


# Task i's evaluation key is fold_in(k_i, _EVAL_STREAM), k_i the key its episode is drawn
# from: the episode stays task.sample(k_i) (so results of deterministic methods do not
# move), and no key or random bits a sampler derives from k_i (splits and draws count up
# from 0) coincide with it.
_EVAL_STREAM = 0x6576616C   # "eval"


def evaluation_key(task_key: jax.Array) -> jax.Array:
  """The key ``algo.evaluate`` gets for the task sampled from ``task_key``."""
  return jax.random.fold_in(task_key, _EVAL_STREAM)


def make_evaluator(task: TaskDistribution, algo: Algorithm, num_steps: int, batch_size: int = 100):
  """Jitted ``(params, keys[batch]) -> metric[batch, num_steps + 1]`` over fresh tasks.

  Task ``i`` is ``task.sample(keys[i])`` and is evaluated with the key
  :func:`evaluation_key` ``(keys[i])``."""
  def evaluate_batch(params, keys):
    one = lambda k: algo.evaluate(params, task.sample(k), num_steps, evaluation_key(k))
    return jax.vmap(one)(keys)
  return jax.jit(evaluate_batch)


def evaluate(task: TaskDistribution, algo: Algorithm, params: Params, key: jax.Array,
             num_tasks: int = 1000, num_steps: int = 10, batch_size: int = 100) -> np.ndarray:
  """The metric on ``num_tasks`` fresh tasks at ``0..num_steps`` along ``algo.curve``
  (for gradient-based methods: after that many adaptation steps).

  Returns:
    ``float64 numpy array [num_tasks, num_steps + 1]``; task ``i`` is sampled from
    ``fold_in(key, i)`` and evaluated with ``evaluation_key(fold_in(key, i))``, so
    results do not depend on ``batch_size``.

  Example:
    >>> import jax, jaxmeta
    >>> task = jaxmeta.tasks.sinusoid()
    >>> algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP((40, 40), 1), task)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> evaluate(task, algo, params, jax.random.key(2), num_tasks=5, num_steps=3).shape
    (5, 4)
  """
  if num_tasks <= 0:
    raise ConfigError("num_tasks", f"must be a positive integer, got {num_tasks!r}")
  batch_size = min(batch_size, num_tasks)
  run = make_evaluator(task, algo, num_steps)
  n_batches = math.ceil(num_tasks / batch_size)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n_batches * batch_size))
  out = [np.asarray(run(params, keys[b * batch_size:(b + 1) * batch_size])) for b in range(n_batches)]
  return np.concatenate(out)[:num_tasks].astype(np.float64)


def summarize(values: np.ndarray) -> dict:
  """Mean, 95 % interval half-width ``1.96 std / sqrt(N)``, median and extremes of per-task values.

  A task whose metric diverged (NaN/inf) makes the mean non-finite, as it should; it counts
  in ``n_nonfinite`` and as ``+inf`` in the median, which stays meaningful.
  """
  values = np.asarray(values, np.float64)
  n = values.shape[0]
  ranked = np.where(np.isnan(values), np.inf, values)
  return {"mean": float(values.mean()), "ci95": float(1.96 * values.std() / math.sqrt(n)),
          "median": float(np.median(ranked)), "min": float(ranked.min()), "max": float(ranked.max()),
          "n_nonfinite": int(np.sum(~np.isfinite(values)))}
