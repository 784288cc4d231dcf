"""The three small interfaces everything in jaxmeta is built from.

A meta-learning method is a few pure functions; :func:`jaxmeta.train.make_train_step`
composes them with an optax optimizer into one jitted step. Nothing here holds state.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax

PyTree = Any
Params = PyTree
Metrics = dict


class Episode(NamedTuple):
  """One task: a support set to adapt on and a query set to score on.

  For regression ``*_x`` is ``[n, d_in]`` and ``*_y`` is ``[n, d_out]``; for N-way
  classification ``*_x`` is ``[n, H, W, C]`` and ``*_y`` holds int32 labels in ``0..N-1``.
  A meta-batch of episodes is the same structure with a leading task axis.
  """
  support_x: jax.Array
  support_y: jax.Array
  query_x: jax.Array
  query_y: jax.Array


class TaskDistribution(NamedTuple):
  """A distribution over tasks, sampled by a pure function of a PRNG key.

  Attributes:
    name: registry name, e.g. ``"sinusoid"``.
    sample: ``key -> Episode`` for one task; pure and vmappable, so it is traced into
      the jitted train step (no host data pipeline).
    loss: ``(predictions, targets) -> scalar`` minimised by training.
    metric: ``(predictions, targets) -> scalar`` reported by evaluation.
    metric_name: ``"mse"`` or ``"accuracy"``.
    output_size: model output width (1 for the sinusoid, N for N-way).
  """
  name: str
  sample: Callable[[jax.Array], Episode]
  loss: Callable[[jax.Array, jax.Array], jax.Array]
  metric: Callable[[jax.Array, jax.Array], jax.Array]
  metric_name: str
  output_size: int


class CurveAxis(NamedTuple):
  """What the axis of an evaluation curve counts: ``Algorithm.evaluate`` returns
  ``metric[num_steps + 1]`` and entry ``k`` is the metric "``description``" with ``k``
  substituted (e.g. "after 3 adaptation steps").

  Attributes:
    key: a short name for reports and JSON (``"steps"``).
    description: the meaning of entry ``k``, e.g. ``"after k adaptation steps"``.

  Example:
    >>> algo = Algorithm("const", None, None, lambda params, episode, n, key: None)
    >>> algo.curve == ADAPTATION_STEPS, algo.curve.key, PRESENTATIONS.key
    (True, 'steps', 'presentations')
  """
  key: str
  description: str


# Gradient-based methods adapt on the support set; metric-based methods do not adapt and
# return a constant curve, so their axis is also "steps" (none of which changes anything).
ADAPTATION_STEPS = CurveAxis("steps", "after k adaptation steps")
# Sequence models that see the examples of a class one after another.
PRESENTATIONS = CurveAxis("presentations", "at the k-th presentation of a class")


class Algorithm(NamedTuple):
  """A meta-learning method as three pure functions over a parameter pytree.

  Attributes:
    name: registry name, e.g. ``"maml"``.
    init: ``(key, episode) -> params`` builds the meta-parameters from one example task.
    meta_grad: ``(params, episode, key) -> (grads, metrics)`` for ONE task. ``grads``
      has the structure of ``params`` and is what the optimizer receives (for Reptile
      it is ``(theta - W) / alpha``). ``metrics`` is a dict of scalars and must hold
      ``"loss"``. The train step vmaps this over the meta-batch and averages.
    evaluate: ``(params, episode, num_steps, key) -> metric[num_steps + 1]``: the
      task's metric on the query set at ``k = 0..num_steps`` along the axis that
      ``curve`` names (for :data:`ADAPTATION_STEPS`: after ``k`` adaptation steps on the
      support set). ``num_steps`` is static. ``key`` is the task's own evaluation key,
      independent of the one its episode was drawn from; deterministic methods ignore
      it. Methods without adaptation return a constant array. The evaluators pass a
      keyword ``observe_at`` (static steps, e.g. ``(0, 10)``) when only those points are
      wanted: a method may then skip the other points' query pass (NaN there); one that
      adapts should (see :func:`jaxmeta.algorithms.common.adaptation_curve`).
    curve: the :class:`CurveAxis` of ``evaluate``'s result; :data:`ADAPTATION_STEPS`
      unless given.
    batch_meta_grad: optional ``(params, episodes, keys) -> (mean grads, mean metrics)``
      over a whole meta-batch (a leading task axis on ``episodes`` and ``keys``); it must
      equal the mean of ``meta_grad`` over the tasks. The train step uses it when given:
      a method whose loss is a plain mean over tasks (no per-task adaptation) then gets
      the gradient of the batch loss directly instead of materialising one gradient per
      task (for a recurrent model, a per-task weight gradient accumulated at every time
      step: 2-3x slower on CPU).
    predict: optional ``(params, episode, key) -> log P(y | x, S)`` of shape
      ``[n_query, ways]``, for methods that score the classes without adapting (the
      metric-based ones); ``jaxmeta eval-lake`` averages these probabilities over the
      runs of an ensemble.
    wrap_optimizer: optional ``optax transformation -> optax transformation`` that
      :func:`~jaxmeta.init_state`, :func:`~jaxmeta.make_train_step` and
      :func:`~jaxmeta.make_train_loop` apply to the meta-optimizer they are given, for a
      method whose ``params`` hold state that is carried rather than trained (Reptile
      with ``inner_state="carried"``: the inner optimizer's moments).
  """
  name: str
  init: Callable[[jax.Array, Episode], Params]
  meta_grad: Callable[[Params, Episode, jax.Array], tuple[Params, Metrics]]
  evaluate: Callable[[Params, Episode, int, jax.Array], jax.Array]
  curve: CurveAxis = ADAPTATION_STEPS
  batch_meta_grad: Optional[Callable] = None
  predict: Optional[Callable[[Params, Episode, jax.Array], jax.Array]] = None
  wrap_optimizer: Optional[Callable] = None
