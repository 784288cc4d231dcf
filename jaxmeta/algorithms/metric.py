"""Pieces shared by the metric-based methods (Siamese, Matching, Relation, Prototypical).

A metric-based method has no inner loop: it scores each query against the support set
with a learned similarity. Each method supplies ``init`` and an episode function
``(params, episode, key) -> (log_probs [n_query, ways], loss)``; :func:`metric_algorithm`
turns that into an :class:`~jaxmeta.types.Algorithm` whose ``meta_grad`` is ``jax.grad``
of the episode loss and whose ``evaluate`` is the query accuracy, repeated
``num_steps + 1`` times since nothing adapts.

Support sets come in no particular order: every grouping by class is a one-hot matmul
over the labels, never a reshape.
"""
from __future__ import annotations

from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta import checks
from jaxmeta.algorithms.common import check_model_inputs
from jaxmeta.errors import ConfigError
from jaxmeta.tasks.episodes import accuracy   # argmax-equal on logits or log-probabilities
from jaxmeta.models.conv import Conv4
from jaxmeta.types import Algorithm, Episode

# (params, episode, key, train) -> (log_probs [n_query, ways], loss scalar)
EpisodeFn = Callable[..., tuple]


def check_ways(ways) -> int:
  """N of N-way classification: an integer >= 2."""
  return checks.integer("ways", ways, minimum=2)


def _concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_episode(episode: Episode, ways: int) -> None:
  """Raises :class:`ConfigError` for an episode the method cannot score.

  Shapes are checked always (they are static, so this runs before compiling); label
  values only when the arrays are concrete (direct calls, :func:`jaxmeta.train.evaluate`
  checks happen at trace time and see shapes only).

  Raises:
    ConfigError: empty query (``--query``), a support set smaller than ``ways``
      (``--shots``), labels outside ``0..ways-1`` (``--ways``), a class with no support
      example (``support_y``). Classes may have different numbers of support examples.
  """
  n_s, n_q = episode.support_x.shape[0], episode.query_x.shape[0]
  if n_q == 0:
    raise ConfigError("query", "the query set is empty; need at least one query example")
  if n_s == 0:
    raise ConfigError("shots", "the support set is empty; need at least one example per class")
  if episode.support_y.shape != (n_s,) or episode.query_y.shape != (n_q,):
    raise ConfigError("ways", f"labels must be int vectors of class indices, got support_y "
                      f"{episode.support_y.shape} and query_y {episode.query_y.shape}")
  if n_s < ways:
    raise ConfigError("shots", f"{n_s} support examples cannot cover ways={ways} classes")
  if _concrete(episode.support_y) and _concrete(episode.query_y):
    s, q = np.asarray(episode.support_y), np.asarray(episode.query_y)
    for name, y in (("support_y", s), ("query_y", q)):
      if y.min() < 0 or y.max() >= ways:
        raise ConfigError("ways", f"{name} holds labels {sorted(set(y.tolist()))}, outside "
                          f"0..{ways - 1} for ways={ways}")
    missing = sorted(set(range(ways)) - set(s.tolist()))
    if missing:
      raise ConfigError("support_y", f"classes {missing} have no support example; every one of "
                        f"the {ways} classes needs at least one")


def one_hot(labels: jax.Array, ways: int) -> jax.Array:
  return jax.nn.one_hot(labels, ways, dtype=jnp.float32)


def class_sums(features: jax.Array, labels: jax.Array, ways: int) -> jax.Array:
  """``sum_{i: y_i = c} features_i`` for each class ``c``: ``[ways, ...]`` (a one-hot matmul)."""
  flat = features.reshape(features.shape[0], -1)
  sums = one_hot(labels, ways).T @ flat
  return sums.reshape((ways,) + features.shape[1:])


def class_means(features: jax.Array, labels: jax.Array, ways: int) -> jax.Array:
  """Mean feature of each class (ProtoNet prototypes); a missing class gives zeros."""
  counts = jnp.sum(one_hot(labels, ways), axis=0)
  sums = class_sums(features, labels, ways)
  return sums / jnp.maximum(counts, 1.0).reshape((ways,) + (1,) * (features.ndim - 1))


def embed_episode(embedding: nn.Module, params, episode: Episode):
  """Embeds support and query in ONE call and splits the result: batch-statistics
  normalisation sees the whole episode, as in the papers' code; an embedding with
  ``norm="support"`` (:class:`jaxmeta.models.Conv4`) uses the support set's statistics."""
  n_s = episode.support_x.shape[0]
  both = jnp.concatenate([episode.support_x, episode.query_x])
  if getattr(embedding, "norm", None) == "support":   # Conv4's non-transductive statistics
    out = embedding.apply(params, both, support=episode.support_x)
  else:
    out = embedding.apply(params, both)
  return out[:n_s], out[n_s:]


def embedding_of(model: nn.Module, **changes) -> nn.Module:
  """The backbone of ``model`` without its classifier head (a
  :class:`~jaxmeta.models.Conv4` with ``output_size=None``, and ``changes``), what the
  metric-based methods embed with; any other module is used as it is."""
  if isinstance(model, Conv4):
    return model.clone(output_size=None, **changes)
  return model


def embed_flat(embedding: nn.Module, params, episode: Episode):
  """:func:`embed_episode` with each example's features flattened: ``(support [n_s, d],
  query [n_q, d])``, the vectors the distance- and similarity-based methods compare."""
  support, query = embed_episode(embedding, params, episode)
  return support.reshape(support.shape[0], -1), query.reshape(query.shape[0], -1)


def nll(log_probs: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean ``-log P(y | x, S)`` over the query set."""
  return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))


def metric_algorithm(name: str, ways: int, init: Callable, episode_fn: EpisodeFn,
                     embedding: Optional[nn.Module] = None) -> Algorithm:
  """An :class:`Algorithm` from an episode function; no inner loop.

  Args:
    name: registry name.
    ways: N; episodes are checked against it before anything is traced.
    init: ``(key, episode) -> params``.
    episode_fn: ``(params, episode, key, train) -> (log_probs, loss)``; ``train`` is a
      Python bool (True inside ``meta_grad``, e.g. to apply augmentation).
    embedding: the embedding network, if any: ``init`` first checks that it takes the
      episode's inputs (:func:`~jaxmeta.algorithms.common.check_model_inputs`).

  Returns:
    ``Algorithm(name, init, meta_grad, evaluate, predict=...)`` with ``meta_grad =
    grad(loss)``, ``evaluate(params, episode, n, key) = [query accuracy] * (n + 1)`` and
    ``predict(params, episode, key)`` the log-probabilities, ``key`` passed to
    ``episode_fn`` (with ``train=False``).
  """
  ways = check_ways(ways)

  def checked_init(key, episode: Episode):
    check_episode(episode, ways)
    if embedding is not None:
      check_model_inputs(embedding, episode.support_x)
    return init(key, episode)

  def loss_fn(params, episode, key):
    log_probs, loss = episode_fn(params, episode, key, True)
    return loss, {"loss": loss, "accuracy": accuracy(log_probs, episode.query_y)}

  def meta_grad(params, episode: Episode, key: jax.Array):
    check_episode(episode, ways)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, episode, key)
    return grads, metrics

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del observe_at   # nothing adapts: every point is the same
    return jnp.full((num_steps + 1,), accuracy(predict(params, episode, key), episode.query_y))

  def predict(params, episode: Episode, key: jax.Array) -> jax.Array:
    check_episode(episode, ways)
    return episode_fn(params, episode, key, False)[0]

  return Algorithm(name, checked_init, meta_grad, evaluate, predict=predict)


def predict_fn(episode_fn: EpisodeFn, ways: int) -> Callable:
  """``(params, episode) -> P(y | x, S)`` of shape ``[n_query, ways]`` (rows sum to 1)."""
  def predict(params, episode: Episode) -> jax.Array:
    check_episode(episode, ways)
    log_probs, _ = episode_fn(params, episode, jax.random.key(0), False)
    return jnp.exp(log_probs)
  return predict
