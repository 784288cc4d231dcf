"""Prototypical Networks (Snell, Swersky & Zemel 2017)."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta.algorithms.common import check_model
from jaxmeta.algorithms.metric import (check_ways, class_means, embed_flat, embedding_of,
                                       metric_algorithm, nll)
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode


def squared_distances(x: jax.Array, y: jax.Array) -> jax.Array:
  """``||x_i - y_j||^2`` as ``|x|^2 - 2 x.y + |y|^2`` (one matmul), clipped at 0."""
  d = (jnp.sum(x * x, -1)[:, None] - 2.0 * x @ y.T + jnp.sum(y * y, -1)[None, :])
  return jnp.maximum(d, 0.0)


def protonet_log_probs(embedding: nn.Module, ways: int):
  """``(params, episode, key=None, train=False) -> (log P(y|x,S) [n_query, ways], loss)``.

  Prototypes ``v_c = mean_{(x_i, y_i) in S_c} f(x_i)`` (reference text, "原型网络");
  ``P(y = c | x) = softmax_c(-||f(x) - v_c||^2)``; the loss is the mean negative
  log-likelihood of the query labels.
  """
  ways = check_ways(ways)

  def episode_fn(params, episode: Episode, key=None, train: bool = False):
    del key, train
    support, query = embed_flat(embedding, params, episode)
    prototypes = class_means(support, episode.support_y, ways)     # v_c
    log_probs = jax.nn.log_softmax(-squared_distances(query, prototypes), axis=-1)
    return log_probs, nll(log_probs, episode.query_y)

  return episode_fn


def protonet(embedding: nn.Module, ways: int) -> Algorithm:
  """Prototypical Networks: softmax over negative squared Euclidean distances to the
  class-mean embeddings; trained by the NLL of the query set, no inner loop.

  The parameters do not depend on ``ways``, so a model trained 60-way is evaluated
  5-way by building the algorithm again with ``ways=5`` (the paper's protocol).

  Args:
    embedding: flax module ``x [n, H, W, C] -> features [n, ...]`` (e.g. ``Conv4`` with
      ``output_size=None``).
    ways: N, the number of classes in each episode.

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Raises:
    ConfigError: naming the bad argument (``embedding``, ``ways``); at ``init``, an
      episode or inputs the embedding cannot take (``model``, ``shots``, ...).

  Example:
    >>> import jax, jax.numpy as jnp, flax.linen as nn
    >>> from jaxmeta.types import Episode
    >>> ep = Episode(jnp.ones((4, 2)), jnp.array([0, 1, 1, 0]), jnp.ones((6, 2)), jnp.zeros(6, int))
    >>> algo = protonet(nn.Dense(3), ways=2)
    >>> params = algo.init(jax.random.key(0), ep)
    >>> algo.evaluate(params, ep, 2, jax.random.key(1)).shape
    (3,)
  """
  check_model(embedding, "embedding")
  ways = check_ways(ways)
  embedding_init = lambda key, episode: embedding.init(key, episode.support_x)
  return metric_algorithm("protonet", ways, embedding_init, protonet_log_probs(embedding, ways),
                          embedding)


def _from_config(config, model, task) -> Algorithm:
  return protonet(embedding_of(model), task.output_size)


REGISTRATION = Registration(
    "protonet", _from_config, reads=("ways", "eval_ways"),
    description="Prototypical Networks (Snell et al. 2017): squared Euclidean distance to class "
                "means.")
