"""Baselines that pretrain a classifier on all training classes.

``embedding-nn``: the "pretrained embedding + cosine nearest neighbour" baseline of the
metric-based papers. ``finetune``: Ravi & Larochelle 2017's "Baseline-finetune" (the same
classifier, a new N-way output layer, SGD on the support set at test time).

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

from jaxmeta import checks, options
from jaxmeta.algorithms.common import (INNER_OPTIMIZER_OPTIONS, adaptation_curve,
                                      apply_model, check_flag, check_inner_lr, check_model,
                                      check_model_inputs, check_update, inner_rule)
from jaxmeta.algorithms.matching import cosine_similarities
from jaxmeta.algorithms.metric import (accuracy, check_episode, check_ways, embed_flat,
                                       embedding_of, one_hot)
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import UpdateRule
from jaxmeta.models import Conv4
from jaxmeta.options import Registration
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
  checks.integer("batch_size", batch_size)
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
    support, query = embed_flat(embedding, params["embedding"], episode)
    sims = cosine_similarities(query, support)
    nearest = episode.support_y[jnp.argmax(sims, axis=-1)]
    probs = one_hot(nearest, ways) * (1 - ways * 1e-6) + 1e-6
    return jnp.log(probs)

  return fn


def _classifier(embedding: nn.Module, num_train_classes: int):
  """(init, meta_grad) of a linear head over ``num_train_classes`` on ``embedding``,
  trained by softmax cross-entropy on a :func:`classification_task` batch (support and
  query both used)."""
  head = nn.Dense(num_train_classes)

  def init(key, episode: Episode):
    check_model_inputs(embedding, episode.support_x)
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

  return init, meta_grad


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

  Raises:
    ConfigError: naming the bad argument (``embedding``, ``num_train_classes``, ``ways``);
      at ``init``, inputs the embedding cannot take (``model``).

  Example:
    >>> import jax, numpy as np, flax.linen as nn
    >>> task = classification_task(np.random.rand(7, 3, 4, 4, 1), np.full(7, 3), batch_size=8)
    >>> algo = embedding_nn(nn.Dense(5), num_train_classes=7, ways=2)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> sorted(params)
    ['embedding', 'head']
  """
  check_model(embedding, "embedding")
  num_train_classes = checks.integer("num_train_classes", num_train_classes, minimum=2)
  ways = check_ways(ways)
  init, meta_grad = _classifier(embedding, num_train_classes)
  predict = cosine_nn_log_probs(embedding, ways)

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del key, observe_at  # deterministic, and nothing adapts: every point is the same
    check_episode(episode, ways)
    return jnp.full((num_steps + 1,), accuracy(predict(params, episode), episode.query_y))

  return Algorithm("embedding-nn", init, meta_grad, evaluate)


def finetune(embedding: nn.Module, num_train_classes: int, ways: int, *,
             inner_lr: float = 0.01, update: UpdateRule | None = None,
             head_only: bool = False) -> Algorithm:
  """Ravi & Larochelle 2017's "Baseline-finetune": pretrain, then fine-tune a new head.

  Training is :func:`embedding_nn`'s (a classifier over all ``num_train_classes``
  training classes). At test time the training head is dropped, a new N-way output
  layer starts at zero (every class equally likely, so step 0 is chance; the paper does
  not say how its new layer is initialised) and ``update`` (SGD at ``inner_lr`` unless
  given) fine-tunes it with the whole network (or, ``head_only``, the new layer alone)
  on the support set; the curve is the query accuracy after 0..n steps. The paper tunes
  the step size and the number of steps on the validation classes: ``jaxmeta eval
  --split val --inner-lr X`` of one trained run for several X, then the chosen rate on
  the test classes.

  Batch norm: a :class:`~jaxmeta.models.Conv4` trained with ``norm="batch"`` is
  fine-tuned and scored with the support set's statistics (``norm="support"``), so the
  query images never see each other (non-transductive).

  Args:
    embedding: the feature network (``Conv4`` with ``output_size=None``).
    num_train_classes: width of the training head.
    ways: N at evaluation.
    inner_lr: the fine-tuning step size, a positive finite number.
    update: an :class:`~jaxmeta.inner_loop.UpdateRule` to fine-tune with instead of SGD.
    head_only: fine-tune only the new output layer.

  Raises:
    ConfigError: naming the bad argument.

  Example:
    >>> import jax, numpy as np, flax.linen as nn
    >>> task = classification_task(np.random.rand(7, 3, 4, 4, 1), np.full(7, 3), batch_size=8)
    >>> algo = finetune(nn.Dense(5), num_train_classes=7, ways=2, inner_lr=0.1)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> x = np.random.rand(4, 4, 4, 1).astype(np.float32)
    >>> episode = Episode(x[:2], np.array([0, 1]), x[2:], np.array([0, 1]))
    >>> curve = algo.evaluate(params, episode, 3, jax.random.key(2))
    >>> curve.shape, float(curve[0])  # a zero head at step 0: every class tied, class 0 chosen
    ((4,), 0.5)
  """
  check_model(embedding, "embedding")
  num_train_classes = checks.integer("num_train_classes", num_train_classes, minimum=2)
  ways = check_ways(ways)
  inner_lr = check_inner_lr(inner_lr)
  rule = check_update(update, inner_lr)
  head_only = check_flag("head_only", head_only)
  init, meta_grad = _classifier(embedding, num_train_classes)
  scoring = embedding
  if isinstance(embedding, Conv4) and embedding.norm == "batch":
    scoring = embedding.clone(norm="support")
  new_head = nn.Dense(ways, kernel_init=nn.initializers.zeros)

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del key  # deterministic
    check_episode(episode, ways)
    features = params["head"]["params"]["kernel"].shape[0]
    start = {"embedding": params["embedding"],
             "head": new_head.init(jax.random.key(0), jnp.zeros((1, features)))}

    def logits(p, x):
      feats = apply_model(scoring, p["embedding"], x, episode.support_x)
      return new_head.apply(p["head"], feats.reshape(x.shape[0], -1))

    def ce(p, batch):
      x, y = batch
      return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits(p, x), y))

    observe = lambda p: accuracy(logits(p, episode.query_x), episode.query_y)
    support = (episode.support_x, episode.support_y)
    if head_only:
      body = start["embedding"]
      full = lambda head: {"embedding": body, "head": head}
      return adaptation_curve(lambda h, b: ce(full(h), b), start["head"], support,
                              lambda h: observe(full(h)), rule, num_steps, observe_at)
    return adaptation_curve(ce, start, support, observe, rule, num_steps, observe_at)

  return Algorithm("finetune", init, meta_grad, evaluate)


def _from_config(config, model, task) -> Algorithm:
  # Trained on the classification task of `_train_task` (a head over all training
  # classes); evaluated on N-way episodes, where the head is unused.
  return embedding_nn(embedding_of(model), _num_train_classes(config, task),
                      config.eval_ways or config.ways)


def _train_task(config, split: str) -> TaskDistribution:
  """Batches of (image, global class id) of a class split, for training."""
  if config.task != "omniglot":
    raise ConfigError("algo", f"embedding-nn needs an image class set (task omniglot), got "
                      f"task {config.task}")
  from jaxmeta.data.omniglot import split_classes
  classes = split_classes(config, split)
  return classification_task(classes.images, classes.counts,
                             batch_size=config.ways * (config.shots + config.query), name=config.task)


def _num_train_classes(config, task) -> int:
  num_classes = task.output_size
  if config.task == "omniglot":  # the head's width is the training split's, whatever task scores it
    from jaxmeta.data.omniglot import split_classes
    num_classes = split_classes(config, "train").num_classes
  return max(num_classes, 2)


def _finetune_from_config(config, model, task) -> Algorithm:
  return finetune(embedding_of(model), _num_train_classes(config, task),
                  config.eval_ways or config.ways, inner_lr=config.inner_lr,
                  update=inner_rule(config), head_only=config.finetune_head_only)


FINETUNE_OPTIONS = (
    options.flag("finetune_head_only", "finetune: fine-tune only the new output layer "
                 "at test time (default: the whole network, as Ravi & Larochelle's baseline)"),
)

REGISTRATIONS = (Registration(
    "embedding-nn", _from_config, reads=("ways", "shots", "query", "eval_ways"),
    description="baseline: a classifier on the training classes, cosine nearest neighbour on its "
                "features.", train_task=_train_task),
    Registration(
        "finetune", _finetune_from_config, FINETUNE_OPTIONS,
        reads=("ways", "shots", "query", "eval_ways", "inner_lr") + INNER_OPTIMIZER_OPTIONS,
        description="Ravi & Larochelle 2017's fine-tuning baseline: a classifier on the "
                    "training classes, a new output layer fine-tuned with SGD at test.",
        train_task=_train_task))
