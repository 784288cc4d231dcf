"""The "pretrained embedding + cosine nearest neighbour" baseline of the metric-based papers.

Training is a plain classifier over all training classes (softmax cross-entropy on
global class labels), so it needs a task whose labels are global class ids:
:func:`classification_task` turns a class set into such a "task" (a batch of images with
their class ids), sampled on the device like the episodes and trained by the unchanged
:func:`jaxmeta.make_train_step`. At test time the head is dropped and each query is
given the label of the support image with the highest cosine similarity of features.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmeta.algorithms.matching import cosine_similarities
from jaxmeta.algorithms.metric import accuracy, check_episode, check_ways, embed_episode, one_hot
from jaxmeta.errors import ConfigError
from jaxmeta.types import Algorithm, Episode, TaskDistribution


def classification_task(images, counts, batch_size: int = 64, name: str = "classes") -> TaskDistribution:
  """Batches of ``(image, global class id)`` drawn uniformly from a class set.

  Args:
    images: ``[classes, examples, H, W, C]`` (slots past ``counts`` are never drawn).
    counts: valid examples per class.
    batch_size: images per batch (support and query each).

  Returns:
    A :class:`TaskDistribution` whose episodes carry global labels in ``support_y`` /
    ``query_y`` and whose ``output_size`` is the number of classes.
  """
  if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
    raise ConfigError("--query", f"batch size must be a positive integer, got {batch_size!r}")
  images = jnp.asarray(images, jnp.float32)
  counts = jnp.asarray(np.asarray(counts), jnp.int32)
  num_classes = int(images.shape[0])

  def draw(key):
    k1, k2 = jax.random.split(key)
    c = jax.random.randint(k1, (batch_size,), 0, num_classes)
    e = jnp.floor(jax.random.uniform(k2, (batch_size,)) * counts[c]).astype(jnp.int32)
    return images[c, e], c.astype(jnp.int32)

  def sample(key):
    k1, k2 = jax.random.split(key)
    (sx, sy), (qx, qy) = draw(k1), draw(k2)
    return Episode(sx, sy, qx, qy)

  ce = lambda logits, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
  return TaskDistribution(name=name, sample=sample, loss=ce, metric=accuracy,
                          metric_name="accuracy", output_size=num_classes)


def cosine_nn_log_probs(embedding: nn.Module, ways: int):
  """``(params, episode) -> log P``: one-hot of the class of the most cosine-similar
  support image (a degenerate distribution, smoothed by 1e-6 so it is a valid log)."""
  ways = check_ways(ways)

  def fn(params, episode: Episode):
    support, query = embed_episode(embedding, params["embedding"], episode)
    sims = cosine_similarities(query.reshape(query.shape[0], -1), support.reshape(support.shape[0], -1))
    nearest = episode.support_y[jnp.argmax(sims, axis=-1)]
    probs = one_hot(nearest, ways) * (1 - ways * 1e-6) + 1e-6
    return jnp.log(probs)

  return fn


def embedding_nn(embedding: nn.Module, num_train_classes: int, ways: int) -> Algorithm:
  """Pretrained embedding + cosine nearest neighbour.

  ``meta_grad`` is the gradient of the softmax cross-entropy of a linear head over
  ``num_train_classes`` on the batch of a :func:`classification_task` (support and
  query both used); ``evaluate`` classifies an N-way episode by cosine nearest
  neighbour on the embedding (no head, no adaptation).

  Args:
    embedding: the feature network (``Conv4`` with ``output_size=None``).
    num_train_classes: width of the training head.
    ways: N at evaluation.

  Example:
    >>> import jax, numpy as np, flax.linen as nn
    >>> task = classification_task(np.random.rand(7, 3, 4, 4, 1), np.full(7, 3), batch_size=8)
    >>> algo = embedding_nn(nn.Dense(5), num_train_classes=7, ways=2)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> sorted(params)
    ['embedding', 'head']
  """
  ways = check_ways(ways)
  head = nn.Dense(num_train_classes)
  predict = cosine_nn_log_probs(embedding, ways)

  def init(key, episode: Episode):
    k1, k2 = jax.random.split(key)
    emb = embedding.init(k1, episode.support_x)
    feat = embedding.apply(emb, episode.support_x[:1]).reshape(1, -1)
    return {"embedding": emb, "head": head.init(k2, feat)}

  def loss_fn(params, episode: Episode):
    x = jnp.concatenate([episode.support_x, episode.query_x])
    y = jnp.concatenate([episode.support_y, episode.query_y])
    feats = embedding.apply(params["embedding"], x).reshape(x.shape[0], -1)
    logits = head.apply(params["head"], feats)
    loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    return loss, {"loss": loss, "accuracy": accuracy(logits, y)}

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    return jax.grad(loss_fn, has_aux=True)(params, episode)

  def evaluate(params, episode: Episode, num_steps: int) -> jax.Array:
    check_episode(episode, ways)
    return jnp.full((num_steps + 1,), accuracy(predict(params, episode), episode.query_y))

  return Algorithm("embedding-nn", init, meta_grad, evaluate)
