"""The one training step every algorithm shares, and evaluation over fresh tasks.

``make_train_step`` composes a :class:`~jaxmeta.types.TaskDistribution`, an
:class:`~jaxmeta.types.Algorithm` and an optax optimizer into one jitted function
``(state, key) -> (state, metrics)``: it samples the meta-batch from the key inside the
jitted function, maps the algorithm's per-task ``meta_grad`` over the tasks, averages,
and applies the optimizer. It never looks at which algorithm it runs.
"""
from __future__ import annotations

import collections
import math
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax.sharding import NamedSharding, PartitionSpec as P

from jaxmeta import checks, parallel
from jaxmeta.errors import ConfigError
from jaxmeta.types import Algorithm, Params, TaskDistribution

TASK_AXIS_MODES = ("vmap", "map", "auto")


class TrainState(NamedTuple):
  """Everything that changes during meta-training; a pytree, checkpointed whole."""
  step: jax.Array
  params: Params
  opt_state: optax.OptState


def init_state(key: jax.Array, task: TaskDistribution, algo: Algorithm,
               optimizer: optax.GradientTransformation, mesh=None) -> TrainState:
  """Meta-parameters from ``algo.init`` on one sampled task, and a fresh optimizer state.

  It runs as one jitted program; with a ``mesh``, on the mesh (where a dataset created in
  :func:`jaxmeta.parallel.placing_data_on` is) and returns the state replicated there."""
  optimizer = _optimizer_of(algo, optimizer)

  def init(key):
    task_key, init_key = jax.random.split(key)
    params = algo.init(init_key, task.sample(task_key))
    return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))

  # Always one compiled program: run op by op, a Conv-4's initialisation compiles each of
  # its ~100 small ops on its own (7 s against 1.3 s jitted on a 2-core CPU; same bits).
  if mesh is not None:
    return jax.jit(init, out_shardings=parallel.replicated(mesh))(parallel.replicate(key, mesh))
  return jax.jit(init)(key)


def _optimizer_of(algo: Algorithm, optimizer: optax.GradientTransformation):
  """``optimizer`` as ``algo`` needs it (see ``Algorithm.wrap_optimizer``)."""
  return optimizer if algo.wrap_optimizer is None else algo.wrap_optimizer(optimizer)


def _map_over_tasks(fn: Callable, task_axis: str) -> Callable:
  """vmap, or ``lax.map`` (a loop inside XLA). On XLA:CPU a loop is often faster for
  convolutions whose kernels differ per task; ``auto`` picks map on CPU, vmap elsewhere."""
  if task_axis == "auto":
    task_axis = "map" if jax.default_backend() == "cpu" else "vmap"
  if task_axis == "vmap":
    return jax.vmap(fn)
  return lambda *args: jax.lax.map(lambda a: fn(*a), args)


def _per_task(task: TaskDistribution, algo: Algorithm, params: Params, task_keys: jax.Array,
                   algo_keys: jax.Array, task_axis: str):
  """Samples one task per key and returns the per-task gradients and metrics, stacked."""
  episodes = jax.vmap(task.sample)(task_keys)
  per_task = _map_over_tasks(lambda ep, k: algo.meta_grad(params, ep, k), task_axis)
  return per_task(episodes, algo_keys)


def meta_batch_gradient(task: TaskDistribution, algo: Algorithm, params: Params, key: jax.Array,
                        meta_batch_size: int, task_axis: str = "vmap", mesh=None):
  """Samples ``meta_batch_size`` tasks from ``key`` and returns the mean meta-gradient and
  mean metrics. Pure; this is the body of the train step before the optimizer.

  Task ``i`` of the meta-batch is sampled from ``split(split(key)[0], meta_batch_size)[i]``
  and differentiated with ``split(split(key)[1], meta_batch_size)[i]``, whatever the
  layout: with a ``mesh`` (see :mod:`jaxmeta.parallel`) device ``d`` of ``N`` takes tasks
  ``d B/N .. (d+1) B/N - 1``, samples them where it is (the keys are sharded and the
  compiler partitions the sampler), differentiates them (``jax.shard_map``), and the
  per-device sums are added by one all-reduce. Only the order of that sum differs from
  one device, so results agree to float32 round-off. A mesh of one device runs the
  program of ``mesh=None``.
  """
  task_key, algo_key = jax.random.split(key)
  task_keys = jax.random.split(task_key, meta_batch_size)
  algo_keys = jax.random.split(algo_key, meta_batch_size)
  if parallel.mesh_size(mesh) == 1:   # today's program, bit for bit
    if algo.batch_meta_grad is not None:   # the mean gradient directly (see Algorithm)
      return algo.batch_meta_grad(params, jax.vmap(task.sample)(task_keys), algo_keys)
    grads, metrics = _per_task(task, algo, params, task_keys, algo_keys, task_axis)
    mean = lambda tree: jax.tree.map(lambda v: jnp.mean(v, axis=0), tree)
    return mean(grads), mean(metrics)

  parallel.check_divisible(meta_batch_size, parallel.mesh_size(mesh))

  # Sampling is left to the compiler's partitioner: the keys are split along the mesh, so
  # each device draws its own tasks from its own keys (a dataset the sampler reads stays
  # one replicated buffer, which shard_map cannot close over).
  shard = P(parallel.TASKS)
  on_mesh = lambda tree: jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, shard))
  episodes = on_mesh(jax.vmap(task.sample)(on_mesh(task_keys)))

  def local(params, episodes, algo_keys):
    # Each device differentiates its own tasks: params enter as device-varying values, so
    # that a gradient taken inside a task (the inner loop) is that task's alone. Left
    # invariant, its transpose would add the inner gradients of every device.
    params = jax.lax.pcast(params, parallel.TASKS, to="varying")
    if algo.batch_meta_grad is not None:   # this device's mean, weighted by its task count
      local_tasks = algo_keys.shape[0]
      sums = jax.tree.map(lambda v: v * local_tasks,
                          algo.batch_meta_grad(params, episodes, algo_keys))
    else:
      per_task = _map_over_tasks(lambda ep, k: algo.meta_grad(params, ep, k), task_axis)
      sums = jax.tree.map(lambda v: jnp.sum(v, axis=0), per_task(episodes, algo_keys))
    # Add across devices, divide once (one all-reduce of the parameters' size).
    return jax.tree.map(lambda v: jax.lax.psum(v, parallel.TASKS) / meta_batch_size, sums)

  return jax.shard_map(local, mesh=mesh, in_specs=(P(), shard, shard), out_specs=P())(
      params, episodes, algo_keys)


def _check_step_args(meta_batch_size: int, task_axis: str, mesh=None):
  if not isinstance(meta_batch_size, int) or meta_batch_size <= 0:
    raise ConfigError("meta_batch_size", f"must be a positive integer, got {meta_batch_size!r}")
  if task_axis not in TASK_AXIS_MODES:
    raise ConfigError("task_axis", f"must be one of {', '.join(TASK_AXIS_MODES)}, got {task_axis!r}")
  if mesh is not None:
    if parallel.TASKS not in mesh.axis_names:
      raise ConfigError("mesh", f"must have an axis named {parallel.TASKS!r}, got axes "
                        f"{mesh.axis_names}; build one with jaxmeta.parallel.task_mesh")
    parallel.check_divisible(meta_batch_size, parallel.mesh_size(mesh))


def _on_mesh(fn, mesh, donate: bool):
  """``jax.jit(fn)``; with a mesh, its arguments and results replicated on the mesh.

  The arguments are put on the mesh first (a no-op for arrays already there, as the state
  is from the second call on), so a state from :func:`init_state` or a checkpoint, and a
  plain key, can be passed as they are, by every process of a multi-process run. The
  compiled function is ``.jitted`` (``.lower`` shows its HLO).
  """
  donate_argnums = (0,) if donate else ()
  if mesh is None:
    return jax.jit(fn, donate_argnums=donate_argnums)
  rep = parallel.replicated(mesh)
  jitted = jax.jit(fn, donate_argnums=donate_argnums, out_shardings=rep)

  def call(state, key):
    return jitted(parallel.replicate(state, mesh), parallel.replicate(key, mesh))
  call.jitted = jitted
  call.lower = lambda state, key: jitted.lower(parallel.replicate(state, mesh),
                                               parallel.replicate(key, mesh))
  return call


def make_train_step(task: TaskDistribution, algo: Algorithm, optimizer: optax.GradientTransformation,
                    meta_batch_size: int, *, task_axis: str = "vmap", donate: bool = True,
                    mesh=None):
  """Builds the jitted meta-training step.

  Args:
    task: the task distribution sampled inside the step.
    algo: the meta-learning algorithm.
    optimizer: optax transformation applied to the mean meta-gradient.
    meta_batch_size: tasks per step (the global meta-batch, over every device).
    task_axis: ``"vmap"``, ``"map"`` (``lax.map``; faster for per-task convolutions on
      XLA:CPU) or ``"auto"``; how each device batches its own tasks.
    donate: donate the input state's buffers (the caller must not reuse ``state``).
    mesh: ``None`` (one device, as before), or a :class:`jax.sharding.Mesh` with a
      ``"tasks"`` axis (:func:`jaxmeta.parallel.task_mesh`): the meta-batch is split
      along it, each device samples its own tasks, the state is replicated. The global
      meta-batch is the same tasks whatever the mesh; ``meta_batch_size`` must be a
      multiple of the mesh's size.

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
  _check_step_args(meta_batch_size, task_axis, mesh)
  return _on_mesh(_step_fn(task, algo, optimizer, meta_batch_size, task_axis, mesh), mesh, donate)


def _step_fn(task, algo, optimizer, meta_batch_size, task_axis, mesh):
  optimizer = _optimizer_of(algo, optimizer)

  def step(state: TrainState, key: jax.Array):
    grads, metrics = meta_batch_gradient(task, algo, state.params, key, meta_batch_size,
                                         task_axis, mesh)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(state.step + 1, params, opt_state), metrics
  return step


def make_train_loop(task: TaskDistribution, algo: Algorithm, optimizer: optax.GradientTransformation,
                    meta_batch_size: int, steps_per_call: int, *, task_axis: str = "vmap",
                    mesh=None):
  """Several meta-steps per dispatch, with ``lax.scan``: ``(state, seed_key) -> (state, metrics)``.

  Step ``s`` uses the key ``fold_in(seed_key, s)``, so the trajectory is a function of the
  seed alone: resuming from a checkpoint at step ``s`` replays exactly the same keys.
  ``metrics`` are stacked over the ``steps_per_call`` steps. ``mesh`` is as in
  :func:`make_train_step`.
  """
  _check_step_args(meta_batch_size, task_axis, mesh)
  # Jitted inside the scan, as the step always was (the same program as before meshes).
  step = jax.jit(_step_fn(task, algo, optimizer, meta_batch_size, task_axis, mesh))

  def loop(state: TrainState, seed_key: jax.Array):
    def body(s, _):
      return step(s, jax.random.fold_in(seed_key, s.step))
    return jax.lax.scan(body, state, None, length=steps_per_call)

  return _on_mesh(loop, mesh, donate=True)


# Task i's evaluation key is fold_in(k_i, _EVAL_STREAM), k_i the key its episode is drawn
# from: the episode stays task.sample(k_i) (so results of deterministic methods do not
# move), and no key or random bits a sampler derives from k_i (splits and draws count up
# from 0) coincide with it.
_EVAL_STREAM = 0x6576616C   # "eval"


def evaluation_key(task_key: jax.Array) -> jax.Array:
  """The key ``algo.evaluate`` gets for the task sampled from ``task_key``."""
  return jax.random.fold_in(task_key, _EVAL_STREAM)


def make_evaluator(task: TaskDistribution, algo: Algorithm, num_steps: int, batch_size: int = 100,
                   mesh=None, observe_at: Sequence[int] | None = None):
  """Jitted ``(params, keys[batch]) -> metric[batch, num_steps + 1]`` over fresh tasks.

  Task ``i`` is ``task.sample(keys[i])`` and is evaluated with the key
  :func:`evaluation_key` ``(keys[i])``. With a ``mesh`` the tasks are split along its
  ``"tasks"`` axis (``batch`` must be a multiple of its size; the compiler partitions the
  per-task work, which needs no communication) and the result is replicated.
  ``observe_at`` is passed to ``algo.evaluate`` when given (see :func:`evaluate`)."""
  points = {} if observe_at is None else {"observe_at": tuple(observe_at)}

  def evaluate_batch(params, keys):
    if mesh is not None:
      keys = jax.lax.with_sharding_constraint(keys, NamedSharding(mesh, P(parallel.TASKS)))
    one = lambda k: algo.evaluate(params, task.sample(k), num_steps, evaluation_key(k), **points)
    return jax.vmap(one)(keys)
  if mesh is None:
    return jax.jit(evaluate_batch)
  rep = parallel.replicated(mesh)
  jitted = jax.jit(evaluate_batch, out_shardings=rep)
  return lambda params, keys: jitted(parallel.replicate(params, mesh),
                                     parallel.replicate(keys, mesh))


# The last few evaluators built by `evaluate`, so that calling it again on the same task,
# algorithm and points (a notebook's loop over checkpoints, a sweep over step sizes that
# rebuilds only the params) reuses the compiled program instead of tracing and compiling
# a fresh closure on every call. Small: an entry keeps its task (and the task's data) alive.
_EVALUATORS: collections.OrderedDict = collections.OrderedDict()
_EVALUATOR_CACHE_SIZE = 4


def _cached_evaluator(task, algo, num_steps, mesh, observe_at):
  key = (task, algo, num_steps, mesh, observe_at)
  try:
    run = _EVALUATORS.pop(key)
  except TypeError:  # an unhashable task or algorithm field: build it each time
    return make_evaluator(task, algo, num_steps, mesh=mesh, observe_at=observe_at)
  except KeyError:
    run = make_evaluator(task, algo, num_steps, mesh=mesh, observe_at=observe_at)
  _EVALUATORS[key] = run
  while len(_EVALUATORS) > _EVALUATOR_CACHE_SIZE:
    _EVALUATORS.popitem(last=False)
  return run


def evaluate(task: TaskDistribution, algo: Algorithm, params: Params, key: jax.Array,
             num_tasks: int = 1000, num_steps: int = 10, batch_size: int = 100,
             mesh=None, observe_at: Sequence[int] | None = None) -> np.ndarray:
  """The metric on ``num_tasks`` fresh tasks at ``0..num_steps`` along ``algo.curve``
  (for gradient-based methods: after that many adaptation steps).

  Args:
    mesh: split each batch of tasks over this mesh's ``"tasks"`` axis (``batch_size`` is
      rounded up to a multiple of its size; the extra tasks are dropped).
    observe_at: the points of the curve wanted (e.g. ``(0, 10)``); methods that adapt
      then skip the query pass at the other steps, which may be NaN. Most of an
      evaluation's compute is that pass: at 5-way 1-shot, 15 queries, 75 query images
      against 5 support images per step. ``None``: every point.

  Returns:
    ``float64 numpy array [num_tasks, num_steps + 1]``; task ``i`` is sampled from
    ``fold_in(key, i)`` and evaluated with ``evaluation_key(fold_in(key, i))``, so
    results do not depend on ``batch_size`` or the mesh. The compiled evaluator is kept
    for the next call with the same ``task``, ``algo``, ``num_steps``, ``mesh`` and
    ``observe_at`` (the last four such), so repeated calls compile once.

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
  devices = parallel.mesh_size(mesh)
  batch_size = -(-batch_size // devices) * devices
  if observe_at is not None:
    observe_at = checks.integers("observe_at", observe_at, minimum=0, maximum=num_steps)
  run = _cached_evaluator(task, algo, num_steps, None if devices == 1 and
                         jax.process_count() == 1 else mesh, observe_at)
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
