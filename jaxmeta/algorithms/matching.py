"""Matching Networks (Vinyals et al. 2016), simple and Full Context Embeddings."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta import checks, options
from jaxmeta.algorithms.common import check_flag, check_model
from jaxmeta.algorithms.metric import (check_ways, embed_flat, embedding_of, metric_algorithm, nll,
                                       one_hot)
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode

_EPS = 1e-8


def cosine_similarities(x: jax.Array, y: jax.Array) -> jax.Array:
  """``cosine(x_i, y_j)``: ``[n_x, n_y]``."""
  xn = x / jnp.sqrt(jnp.sum(x * x, -1, keepdims=True) + _EPS)
  yn = y / jnp.sqrt(jnp.sum(y * y, -1, keepdims=True) + _EPS)
  return xn @ yn.T


def _lstm_step(p, x, h, c):
  """One LSTM step; ``p = (W [in + hidden, 4d], b [4d])``. The forget-gate bias starts at 1."""
  w, b = p
  gates = jnp.concatenate([x, h], -1) @ w + b
  i, f, g, o = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return jax.nn.sigmoid(o) * jnp.tanh(c), c


class FullContextEmbedding(nn.Module):
  """The FCE of Matching Networks on top of per-example features ``g'(x_i)``, ``f'(x)``.

  ``g(x_i, S) = h_fwd_i + h_bwd_i + g'(x_i)``: a bidirectional LSTM over the support set
  in the order given, with the skip connection. ``f(x, S) = h_K``: an LSTM that reads
  the support set ``K = read_steps`` times (reference text, "完整上下文嵌入")::

      h_hat_t, c_t = LSTM(f'(x), [h_{t-1}, r_{t-1}], c_{t-1})
      h_t = h_hat_t + f'(x)
      r_{t-1} = sum_i softmax_i(h_{t-1}^T g(x_i)) g(x_i)

  with ``h_0 = f'(x)``, ``c_0 = 0``. Not invariant to the order of the support set.

  Attributes:
    read_steps: K.
  """
  read_steps: int = 5

  @nn.compact
  def __call__(self, support: jax.Array, query: jax.Array):
    d = support.shape[-1]
    def lstm(name, in_dim, hidden_dim):
      w = self.param(f"{name}_w", nn.initializers.lecun_normal(), (in_dim + hidden_dim, 4 * d))
      b = self.param(f"{name}_b", lambda k, s: jnp.zeros(s).at[d:2 * d].set(1.0), (4 * d,))
      return w, b

    # g: bidirectional LSTM over the support sequence, outputs summed with g'(x_i).
    fwd, bwd = lstm("g_fwd", d, d), lstm("g_bwd", d, d)
    def run(p, xs):
      def body(carry, x):
        h, c = _lstm_step(p, x, *carry)
        return (h, c), h
      zeros = jnp.zeros((d,), support.dtype)
      return jax.lax.scan(body, (zeros, zeros), xs)[1]
    g = run(fwd, support) + run(bwd, support[::-1])[::-1] + support

    # f: attention LSTM, K reads of g; hidden input is [h_{t-1}, r_{t-1}].
    att = lstm("f_att", d, 2 * d)
    def read(carry, _):
      h, c = carry
      r = jax.nn.softmax(h @ g.T, axis=-1) @ g                        # r_{t-1}
      h_hat, c = _lstm_step(att, query, jnp.concatenate([h, r], -1), c)
      return (h_hat + query, c), None                                  # skip connection
    (f, _), _ = jax.lax.scan(read, (query, jnp.zeros_like(query)), None, length=self.read_steps)
    return g, f


def matching_log_probs(embedding: nn.Module, ways: int, fce: bool = False, read_steps: int = 5,
                       cosine_scale: float = 1.0, learn_scale: bool = False):
  """``(params, episode, key=None, train=False) -> (log P(y|x,S), loss)``.

  ``P(y | x, S) = sum_i a(x, x_i) y_i`` with ``a = softmax_i s * cosine(f(x), g(x_i))``
  (reference text, "匹配网络"); simple embedding ``f = g``, or FCE. The paper's kernel is
  ``s = 1``; ``learn_scale`` makes ``s`` a parameter (``params["log_scale"]``).
  """
  ways = check_ways(ways)

  def episode_fn(params, episode: Episode, key=None, train: bool = False):
    del key, train
    support, query = embed_flat(embedding, params["embedding"], episode)
    if fce:
      support, query = FullContextEmbedding(read_steps).apply(params["fce"], support, query)
    scale = jnp.exp(params["log_scale"]) if learn_scale else cosine_scale
    attention = jax.nn.softmax(scale * cosine_similarities(query, support), axis=-1)  # a(x, x_i)
    probs = attention @ one_hot(episode.support_y, ways)                      # sum_i a y_i
    log_probs = jnp.log(jnp.maximum(probs, 1e-30))
    return log_probs, nll(log_probs, episode.query_y)

  return episode_fn


def matching(embedding: nn.Module, ways: int, *, fce: bool = False, read_steps: int = 5,
             cosine_scale: float = 1.0, learn_scale: bool = False) -> Algorithm:
  """Matching Networks: attention-weighted sum of one-hot support labels.

  The paper's attention is a softmax over plain cosine similarities. With the simple
  embedding ``f = g`` on post-ReLU features the cosines lie in ``[0, 1]``, so at 5-way
  1-shot ``P(y | x, S) <= e / (e + 4) = 0.40`` and training is slow; ``cosine_scale``
  multiplies the cosines (a temperature, as in TADAM, Oreshkin et al. 2018, and Chen et al.
  2019's cosine classifiers) and ``learn_scale`` learns it from that starting value.

  Args:
    embedding: flax module ``x -> features`` (``f' = g'``; ``f = g`` without FCE).
    ways: N.
    fce: Full Context Embeddings (:class:`FullContextEmbedding`).
    read_steps: K, the attention LSTM's reads of the support set (FCE only).
    cosine_scale: ``s`` in ``softmax(s * cosine)``; 1 is the paper's kernel.
    learn_scale: learn ``s`` (initialised at ``cosine_scale``).

  Returns:
    An :class:`~jaxmeta.types.Algorithm` named ``matching`` or ``matching-fce``.

  Raises:
    ConfigError: naming the bad argument (``embedding``, ``ways``, ``read_steps``,
      ``cosine_scale``, ...); at ``init``, an episode or inputs the embedding cannot take.

  Example:
    >>> import jax, jax.numpy as jnp, flax.linen as nn
    >>> from jaxmeta.types import Episode
    >>> ep = Episode(jnp.ones((4, 2)), jnp.array([0, 1, 1, 0]), jnp.ones((6, 2)), jnp.zeros(6, int))
    >>> algo = matching(nn.Dense(3), ways=2, fce=True, read_steps=2)
    >>> params = algo.init(jax.random.key(0), ep)
    >>> sorted(params)
    ['embedding', 'fce']
  """
  check_model(embedding, "embedding")
  ways = check_ways(ways)
  fce = check_flag("fce", fce)
  checks.integer("read_steps", read_steps)
  checks.positive_number("cosine_scale", cosine_scale)
  learn_scale = check_flag("learn_scale", learn_scale)

  def init(key, episode: Episode):
    k1, k2 = jax.random.split(key)
    params = {"embedding": embedding.init(k1, episode.support_x)}
    if fce:
      s = embedding.apply(params["embedding"], episode.support_x)
      q = embedding.apply(params["embedding"], episode.query_x)
      params["fce"] = FullContextEmbedding(read_steps).init(
          k2, s.reshape(s.shape[0], -1), q.reshape(q.shape[0], -1))
    if learn_scale:
      params["log_scale"] = jnp.log(jnp.asarray(cosine_scale, jnp.float32))
    return params

  name = "matching-fce" if fce else "matching"
  return metric_algorithm(name, ways, init, matching_log_probs(embedding, ways, fce, read_steps,
                                                               cosine_scale, learn_scale),
                          embedding)


# Options of Matching Networks, declared here and read only by the two methods below.
OPTIONS = (
    options.number("cosine_scale", 1.0, "Matching Networks: s in softmax(s * cosine); 1 is the "
                   "paper's kernel"),
    options.flag("learn_scale", "Matching Networks: learn s, starting from cosine_scale"),
)
FCE_OPTIONS = (
    options.integer("read_steps", 5, "Matching Networks FCE: K, reads of the support set by "
                    "the attention LSTM"),
)


def _from_config(fce: bool):
  def build(config, model, task) -> Algorithm:
    return matching(embedding_of(model), task.output_size, fce=fce,
                    read_steps=config.read_steps if fce else 5,
                    cosine_scale=config.cosine_scale, learn_scale=config.learn_scale)
  return build


REGISTRATIONS = (
    Registration("matching", _from_config(False), OPTIONS, ("ways", "eval_ways"),
                 "Matching Networks (Vinyals et al. 2016), f = g."),
    Registration("matching-fce", _from_config(True), OPTIONS + FCE_OPTIONS, ("ways", "eval_ways"),
                 "Matching Networks with Full Context Embeddings (Vinyals et al. 2016)."),
)
