"""Relation Networks (Sung et al. 2018, "Learning to Compare")."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta import checks, options
from jaxmeta.algorithms.common import check_model
from jaxmeta.algorithms.metric import (check_ways, class_sums, embed_episode, embedding_of,
                                       metric_algorithm, one_hot)
from jaxmeta.errors import ConfigError
from jaxmeta.models.conv import CONV_IMPLS, batch_moments, conv2d, max_pool_2x2
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode


class RelationModule(nn.Module):
  """``g_phi``: the paper's relation module on a concatenated pair of feature maps.

  Two blocks of [3x3 conv, ``filters``, batch normalisation, ReLU, 2x2 max-pool], then
  ``Dense(hidden)``, ReLU, ``Dense(1)``, sigmoid (Sung et al. 2018, sec. 3.4 / fig. 2). A
  block pools only while the map is at least 2x2 (so the module also fits the small maps
  of a stride-2 Conv-4). Batch normalisation uses the statistics of all the pairs of the
  episode, like the embedding's (no running averages); without it the sigmoid scores sat
  at the trivial constant for hundreds of episodes.

  Attributes:
    filters: conv channels (64 in the paper).
    hidden: width of the hidden dense layer (8 for Omniglot, as in the paper).
    norm: batch normalisation in the conv blocks (the paper's; ``False`` adds biases).
    conv_impl: see :func:`jaxmeta.models.conv.conv2d`.
    valid: convolutions without padding (the authors' mini-ImageNet module: 19x19 maps
      give 3x3x64 = 576 inputs to the dense layer); "SAME" otherwise (their Omniglot one).
  """
  filters: int = 64
  hidden: int = 8
  norm: bool = True
  conv_impl: str = "auto"
  valid: bool = False

  @nn.compact
  def __call__(self, pairs: jax.Array) -> jax.Array:
    """``pairs [n, h, w, 2c] -> relation scores in (0, 1), [n]``."""
    x = pairs
    for i in range(2):
      kernel = self.param(f"conv{i}_kernel", nn.initializers.lecun_normal(),
                          (3, 3, x.shape[-1], self.filters))
      x = conv2d(x, kernel, 1, self.conv_impl)
      if self.valid:   # the stride-1 "SAME" conv without its border ring is "VALID"
        x = x[:, 1:-1, 1:-1]
      if self.norm:
        mean, var = batch_moments(x)
        scale = self.param(f"norm{i}_scale", nn.initializers.ones, (self.filters,))
        bias = self.param(f"norm{i}_bias", nn.initializers.zeros, (self.filters,))
        x = (x - mean) * (scale * jax.lax.rsqrt(var + 1e-5)) + bias
      else:
        x = x + self.param(f"conv{i}_bias", nn.initializers.zeros, (self.filters,))
      x = nn.relu(x)
      if x.shape[1] >= 2 and x.shape[2] >= 2:
        x = max_pool_2x2(x)
    x = nn.relu(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)))
    return jax.nn.sigmoid(nn.Dense(1)(x))[:, 0]


MODULE_PADDINGS = ("same", "valid")


def relation_log_probs(embedding: nn.Module, ways: int, relation_module: nn.Module):
  """``(params, episode, key=None, train=False) -> (log p, loss)``.

  Class feature maps are the SUM of the support maps of each class (the paper's K-shot
  rule); ``r_{q,c} = g_phi([f(x_q), sum_{i in S_c} f(x_i)])``; loss
  ``sum_c (r_{q,c} - 1[y_q = c])^2`` averaged over queries (reference text, "关系网络").
  The returned distribution is the scores normalised to sum to 1 (argmax = argmax r).
  """
  ways = check_ways(ways)

  def episode_fn(params, episode: Episode, key=None, train: bool = False):
    del key, train
    support, query = embed_episode(embedding, params["embedding"], episode)
    if support.ndim != 4:
      raise ConfigError("model", "Relation Networks need the un-flattened feature map "
                        f"[n, h, w, c] of the embedding, got shape {support.shape}")
    classes = class_sums(support, episode.support_y, ways)               # [ways, h, w, c]
    n_q = query.shape[0]
    pairs = jnp.concatenate([jnp.broadcast_to(query[:, None], (n_q, ways) + query.shape[1:]),
                             jnp.broadcast_to(classes[None], (n_q,) + classes.shape)], axis=-1)
    scores = relation_module.apply(params["relation"], pairs.reshape((n_q * ways,) + pairs.shape[2:]))
    scores = scores.reshape(n_q, ways)                                    # r_{q,c}
    loss = jnp.mean(jnp.sum((scores - one_hot(episode.query_y, ways)) ** 2, -1))
    probs = (scores + 1e-12) / jnp.sum(scores + 1e-12, -1, keepdims=True)
    return jnp.log(probs), loss

  return episode_fn


def relation(embedding: nn.Module, ways: int, *, filters: int = 64, hidden: int = 8,
             conv_impl: str = "auto", module_padding: str = "same") -> Algorithm:
  """Relation Networks: a learned comparison of query and class feature maps, MSE to the
  one-hot match, no inner loop.

  Args:
    embedding: flax module returning a feature MAP ``[n, h, w, c]`` (e.g. ``Conv4`` with
      ``flatten=False``).
    ways: N.
    filters: relation module conv channels.
    hidden: relation module hidden width.
    conv_impl: the relation module's convolutions (see :func:`jaxmeta.models.conv.conv2d`).
    module_padding: ``"same"`` or ``"valid"``, the relation module's convolutions
      (:class:`RelationModule`'s ``valid``).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Raises:
    ConfigError: naming the bad argument (``embedding``, ``ways``, ``filters``, ``hidden``,
      ``conv_impl``); at ``init``, an episode or inputs the embedding cannot take, or an
      embedding that flattens its feature map (``model``).

  Example:
    >>> import jax, jax.numpy as jnp, flax.linen as nn
    >>> from jaxmeta.types import Episode
    >>> x = jnp.ones((4, 6, 6, 1))
    >>> ep = Episode(x, jnp.array([0, 1, 1, 0]), x, jnp.array([0, 1, 1, 0]))
    >>> algo = relation(nn.Conv(4, (3, 3)), ways=2, filters=4)
    >>> params = algo.init(jax.random.key(0), ep)
    >>> algo.evaluate(params, ep, 0, jax.random.key(1)).shape
    (1,)
  """
  check_model(embedding, "embedding")
  ways = check_ways(ways)
  checks.integer("filters", filters)
  checks.integer("hidden", hidden)
  checks.one_of("conv_impl", conv_impl, CONV_IMPLS)
  checks.one_of("module_padding", module_padding, MODULE_PADDINGS)
  module = RelationModule(filters, hidden, conv_impl=conv_impl, valid=module_padding == "valid")

  def init(key, episode: Episode):
    k1, k2 = jax.random.split(key)
    emb = embedding.init(k1, episode.support_x)
    fmap = embedding.apply(emb, episode.support_x[:1])
    if fmap.ndim != 4:
      raise ConfigError("model", "Relation Networks need the un-flattened feature map "
                        f"[n, h, w, c] of the embedding, got shape {fmap.shape}")
    pair = jnp.concatenate([fmap, fmap], -1)
    return {"embedding": emb, "relation": module.init(k2, pair)}

  return metric_algorithm("relation", ways, init, relation_log_probs(embedding, ways, module),
                          embedding)


def _from_config(config, model, task) -> Algorithm:
  return relation(embedding_of(model, readout="map"), task.output_size, conv_impl=config.conv_impl,
                  module_padding=config.relation_padding)


OPTIONS = (
    options.choice("relation_padding", "same", MODULE_PADDINGS, "Relation Nets: padding of the "
                   "relation module's convolutions: same (the authors' Omniglot code) | valid "
                   "(their mini-ImageNet code: 576 inputs to its dense layer)"),
)

REGISTRATION = Registration(
    "relation", _from_config, OPTIONS, reads=("ways", "eval_ways", "conv_impl"),
    description="Relation Networks (Sung et al. 2018): a learned relation module on feature "
                "maps.")
