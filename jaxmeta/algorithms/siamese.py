"""Convolutional Siamese networks for one-shot recognition (Koch, Zemel & Salakhutdinov 2015)."""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta import options
from jaxmeta.algorithms.common import check_flag, check_model
from jaxmeta.algorithms.metric import (check_ways, embed_flat, embedding_of, metric_algorithm,
                                       one_hot)
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode


def affine_distort(key: jax.Array, images: jax.Array) -> jax.Array:
  """Koch et al.'s random affine distortions, one per image ``[n, H, W, C]``.

  The seven components, rotation ``theta ~ U[-10, 10]`` degrees, shears ``rho_x, rho_y ~
  U[-0.3, 0.3]``, scales ``s_x, s_y ~ U[0.8, 1.2]`` and translations ``t_x, t_y ~ U[-2, 2]``
  pixels at 105x105 (scaled to the image size), are each included with probability 1/2
  on its own (Koch et al. 2015 sec. 4.3: "each of these components of the transformation
  is included with probability .5"), about the image centre, bilinear.
  """
  n, h, w, _ = images.shape
  keys = jax.random.split(key, 5)
  # One switch per component: theta, rho_x, rho_y, s_x, s_y, t_x, t_y.
  on = jax.random.bernoulli(keys[0], 0.5, (n, 7)).astype(images.dtype)
  theta = on[:, 0] * jax.random.uniform(keys[1], (n,), minval=-1.0, maxval=1.0) * math.radians(10)
  shear = on[:, 1:3] * jax.random.uniform(keys[2], (n, 2), minval=-0.3, maxval=0.3)
  scale = 1.0 + on[:, 3:5] * jax.random.uniform(keys[3], (n, 2), minval=-0.2, maxval=0.2)
  shift = on[:, 5:7] * jax.random.uniform(keys[4], (n, 2), minval=-2.0, maxval=2.0) * (h / 105.0)
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  rot = jnp.stack([jnp.stack([cos, -sin], -1), jnp.stack([sin, cos], -1)], -2)
  shr = jnp.stack([jnp.stack([jnp.ones(n), shear[:, 0]], -1),
                   jnp.stack([shear[:, 1], jnp.ones(n)], -1)], -2)
  mat = rot @ shr * scale[:, :, None]                                 # output -> input map
  inv = jnp.linalg.inv(mat)
  yy, xx = jnp.meshgrid(jnp.arange(h, dtype=images.dtype), jnp.arange(w, dtype=images.dtype),
                        indexing="ij")
  centre = jnp.array([(h - 1) / 2.0, (w - 1) / 2.0], images.dtype)
  grid = jnp.stack([yy, xx], -1).reshape(-1, 2) - centre              # [HW, 2]

  def warp(img, m, t):
    src = (grid - t) @ m.T + centre                                   # sample positions
    channels = [jax.scipy.ndimage.map_coordinates(img[..., c], [src[:, 0], src[:, 1]], order=1,
                                                  mode="constant", cval=0.0)
                for c in range(img.shape[-1])]
    return jnp.stack(channels, -1).reshape(img.shape)

  return jax.vmap(warp)(images, inv, shift)


class SiameseHead(nn.Module):
  """``p(x_i, x_j) = sigmoid(W |f(x_i) - f(x_j)| + b)``, returned as the logit ``[..., ]``."""

  @nn.compact
  def __call__(self, abs_diff: jax.Array) -> jax.Array:
    return nn.Dense(1)(abs_diff)[..., 0]


def siamese_log_probs(embedding: nn.Module, ways: int, distort: bool = False):
  """``(params, episode, key, train) -> (log p, loss)``.

  Training pairs: every pair of distinct images of the episode (support and query),
  labelled same/different; loss = binary cross-entropy with positives and negatives
  weighted equally (reference text, "卷积暹罗神经网络"). Prediction: the class of the
  support image with the highest ``p``; the returned distribution is
  ``softmax_c max_{i in S_c} logit p(x, x_i)``, whose argmax is exactly that class.
  """
  ways = check_ways(ways)
  head = SiameseHead()

  def episode_fn(params, episode: Episode, key=None, train: bool = False):
    if train and distort:
      k1, k2 = jax.random.split(key)
      episode = episode._replace(support_x=affine_distort(k1, episode.support_x),
                                 query_x=affine_distort(k2, episode.query_x))
    support, query = embed_flat(embedding, params["embedding"], episode)
    # One-shot prediction from query-support pairs.
    logits = head.apply(params["head"], jnp.abs(query[:, None] - support[None]))   # [q, s]
    mask = one_hot(episode.support_y, ways).T > 0                                  # [ways, s]
    class_logits = jnp.max(jnp.where(mask[None], logits[:, None], -jnp.inf), -1)  # [q, ways]
    class_logits = jnp.where(jnp.isfinite(class_logits), class_logits, -1e9)
    log_probs = jax.nn.log_softmax(class_logits, -1)
    # Verification loss on all pairs of distinct images.
    feats = jnp.concatenate([support, query])
    labels = jnp.concatenate([episode.support_y, episode.query_y])
    pair_logits = head.apply(params["head"], jnp.abs(feats[:, None] - feats[None]))
    same = (labels[:, None] == labels[None]).astype(jnp.float32)
    off_diag = 1.0 - jnp.eye(feats.shape[0])
    pos, neg = same * off_diag, (1.0 - same) * off_diag
    bce_pos = -jax.nn.log_sigmoid(pair_logits)        # -log p
    bce_neg = -jax.nn.log_sigmoid(-pair_logits)       # -log(1 - p)
    loss = 0.5 * (jnp.sum(pos * bce_pos) / jnp.maximum(jnp.sum(pos), 1.0)
                  + jnp.sum(neg * bce_neg) / jnp.maximum(jnp.sum(neg), 1.0))
    return log_probs, loss

  return episode_fn


def siamese(embedding: nn.Module, ways: int, *, distort: bool = False) -> Algorithm:
  """Siamese verification network used for one-shot classification.

  Args:
    embedding: the twin network ``f_theta`` (``Conv4`` with ``output_size=None``, or
      :class:`jaxmeta.models.KochNet` for the paper's 105x105 network).
    ways: N.
    distort: random affine distortions of the training images (Koch et al. sec. 4.3).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Raises:
    ConfigError: naming the bad argument (``embedding``, ``ways``, ``distort``); at
      ``init``, an episode or inputs the embedding cannot take.

  Example:
    >>> import jax, jax.numpy as jnp, flax.linen as nn
    >>> from jaxmeta.types import Episode
    >>> one_shot = Episode(jnp.eye(3), jnp.arange(3), jnp.ones((2, 3)), jnp.zeros(2, int))
    >>> params = siamese(nn.Dense(8), ways=3).init(jax.random.key(0), one_shot)
    >>> jax.tree.map(jnp.shape, params["head"])  # p(same) = sigmoid(w . |f(x1) - f(x2)| + b)
    {'params': {'Dense_0': {'bias': (1,), 'kernel': (8, 1)}}}
  """
  check_model(embedding, "embedding")
  ways = check_ways(ways)
  distort = check_flag("distort", distort)

  def init(key, episode: Episode):
    k1, k2 = jax.random.split(key)
    emb = embedding.init(k1, episode.support_x)
    feat = embedding.apply(emb, episode.support_x[:1]).reshape(1, -1)
    return {"embedding": emb, "head": SiameseHead().init(k2, feat)}

  return metric_algorithm("siamese", ways, init, siamese_log_probs(embedding, ways, distort),
                          embedding)


OPTIONS = (
    options.flag("distort", "Siamese: Koch et al.'s random affine distortions of training "
                 "images"),
)


def _from_config(config, model, task) -> Algorithm:
  return siamese(embedding_of(model), task.output_size, distort=config.distort)


REGISTRATION = Registration(
    "siamese", _from_config, OPTIONS, ("ways", "eval_ways"),
    "Siamese networks (Koch et al. 2015): verification pairs, one-shot by the most similar "
    "support image.")
