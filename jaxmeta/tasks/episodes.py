"""N-way K-shot episodes sampled on the device.

A dataset is a device-resident array ``[classes, examples, H, W, C]`` plus per-class
counts (:class:`jaxmeta.data.images.ImageClasses`); sampling an episode is a pure
function of a PRNG key built from ``jax.random`` and gathers, so it is vmapped over the
meta-batch and traced into the jitted train step with no host round trip.

One episode (Vinyals et al. 2016; Finn et al. 2017, sec. 5.2):

1. pick ``ways`` distinct classes uniformly (with ``within_alphabet``: first an alphabet
   with at least ``ways`` classes, uniformly, then ``ways`` of its classes — Lake et al.'s
   within-alphabet 20-way setting);
2. give them the labels ``0..ways-1`` in a random order (a new order every episode);
3. per class, draw ``shots + query`` distinct examples among its ``count`` valid ones
   (support: the first ``shots``, query: the rest);
4. with ``rotation="per-task"``, rotate all images of each chosen class by one random
   multiple of 90 degrees (the MAML code's augmentation).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmeta import checks, parallel
from jaxmeta.errors import ConfigError
from jaxmeta.types import Episode, TaskDistribution

ROTATIONS = ("none", "per-task")


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy on integer labels."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Fraction of rows whose arg-max is the label."""
  return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def _arrays(classes):
  if hasattr(classes, "images") and hasattr(classes, "counts"):
    images, counts = classes.images, classes.counts
    alphabet_ids = getattr(classes, "alphabet_ids", None)
  elif isinstance(classes, (tuple, list)) and len(classes) in (2, 3):
    images, counts = classes[0], classes[1]
    alphabet_ids = classes[2] if len(classes) == 3 else None
  else:
    images = classes
    counts = np.full(np.shape(images)[0], np.shape(images)[1], np.int32)
    alphabet_ids = None
  counts = np.asarray(counts, np.int32)
  if alphabet_ids is None:
    alphabet_ids = np.zeros(len(counts), np.int32)
  return images, counts, np.asarray(alphabet_ids, np.int32)


def device_resident(array) -> Callable[[], jax.Array]:
  """Puts ``array`` on the device once; returns a getter to call inside traced code.

  A concrete array closed over by a jitted function is embedded in the compiled program
  as a literal (slow to compile, and impossible for gigabytes). A ``jax.Ref`` closed
  over is passed to the program as an argument instead, so the dataset stays one device
  buffer however many train steps and evaluators use it. Without ``jax.new_ref`` (older
  jax) this falls back to a plain device array. Inside
  :func:`jaxmeta.parallel.placing_data_on` the buffer is replicated on that mesh's devices.
  """
  mesh = parallel.data_mesh()
  value = jnp.asarray(array) if mesh is None else parallel.replicate(np.asarray(array), mesh)
  if hasattr(jax, "new_ref"):
    ref = jax.new_ref(value)
    return lambda: ref[...]
  return lambda: value


def check_episode_fits(classes, shots: int, query: int, names=("shots", "query")) -> None:
  """Raises ConfigError when ``shots + query`` exceeds the smallest class of ``classes``;
  ``names`` are the parameters that set them (e.g. ``eval_shots``)."""
  _, counts, _ = _arrays(classes)
  smallest = int(counts.min())
  if shots + query > smallest:
    raise ConfigError(names[0], f"{names[0]} {shots} + {names[1]} {query} = {shots + query} "
                      f"examples per class, but the smallest class has {smallest}")


def check_ways_fit(classes, ways: int, within_alphabet: bool = False, name: str = "ways") -> None:
  """Raises ConfigError when ``ways`` exceeds the classes (or, within alphabets, the largest one)."""
  _, counts, alphabet_ids = _arrays(classes)
  if within_alphabet:
    largest = int(np.bincount(alphabet_ids).max())
    if largest < ways:
      raise ConfigError(name, f"{ways}-way within-alphabet tasks need an alphabet with at least "
                        f"{ways} classes; the largest has {largest}")
  elif ways > len(counts):
    raise ConfigError(name, f"{ways}-way tasks need at least {ways} classes; this split has "
                      f"{len(counts)}")


def few_shot_task(classes, ways: int, shots: int, query: int, *, rotation: str = "none",
                  within_alphabet: bool = False, name: str = "omniglot",
                  names: tuple = ("ways", "shots", "query")) -> TaskDistribution:
  """An N-way K-shot classification task distribution over ``classes``.

  Args:
    classes: an :class:`~jaxmeta.data.images.ImageClasses`, an ``(images, counts)`` or
      ``(images, counts, alphabet_ids)`` tuple, or a bare ``[C, M, H, W, ch]`` array
      (every class full). float32 images are used as they are; uint8 images are kept
      as uint8 on the device and divided by 255 after the gather.
    ways: N, classes per episode; labels are ``0..N-1``.
    shots: K, support examples per class.
    query: query examples per class.
    rotation: ``"none"`` or ``"per-task"`` (one random multiple of 90 degrees per class
      per episode; needs square images). Rotations as *new classes* are a property of the
      class set: see :func:`jaxmeta.data.images.rotations_as_classes`.
    within_alphabet: draw all N classes from one alphabet.
    name: the task's name.
    names: the parameters errors name for ``ways``, ``shots`` and ``query`` (e.g.
      ``eval_shots`` when the task is built for evaluation).

  Returns:
    A :class:`~jaxmeta.types.TaskDistribution`; ``sample(key)`` returns
    ``Episode(support_x [N*K, H, W, ch] float32, support_y int32 [N*K],
    query_x [N*Q, H, W, ch], query_y [N*Q])``, class-major (rows ``i*K..(i+1)*K-1`` of
    the support set are the class labelled ``i``).

  Raises:
    ConfigError: ``ways`` exceeds the classes (or the largest alphabet), ``shots + query``
      exceeds the smallest class, or an unknown ``rotation``; before anything is compiled.

  Example:
    >>> import jax, numpy as np
    >>> images = np.random.rand(30, 20, 28, 28, 1).astype(np.float32)
    >>> task = few_shot_task(images, ways=5, shots=1, query=15)
    >>> ep = jax.vmap(task.sample)(jax.random.split(jax.random.key(0), 32))
    >>> ep.support_x.shape, ep.query_y.shape
    ((32, 5, 28, 28, 1), (32, 75))
  """
  ways_name, shots_name, query_name = names
  checks.integer(ways_name, ways)
  checks.integer(shots_name, shots)
  checks.integer(query_name, query)
  if rotation not in ROTATIONS:
    raise ConfigError("rotation", f"must be one of {', '.join(ROTATIONS)} for episodes "
                      f"(rotations as new classes are applied to the class set), got {rotation!r}")
  images, counts, alphabet_ids = _arrays(classes)
  num_classes, max_examples = int(np.shape(images)[0]), int(np.shape(images)[1])
  if num_classes == 0:
    raise ConfigError(ways_name, "the class set is empty")
  if rotation == "per-task" and np.shape(images)[2] != np.shape(images)[3]:
    raise ConfigError("rotation", f"per-task rotation needs square images, got "
                      f"{np.shape(images)[2]}x{np.shape(images)[3]}")
  check_ways_fit((images, counts, alphabet_ids), ways, within_alphabet, ways_name)
  if within_alphabet:
    eligible = np.flatnonzero(np.bincount(alphabet_ids) >= ways).astype(np.int32)
  per_class = shots + query
  check_episode_fits((images, counts), shots, query, (shots_name, query_name))

  as_uint8 = np.asarray(images).dtype == np.uint8  # 4x less device memory; 0..255 -> 0..1
  get_images = device_resident(np.asarray(images, np.uint8 if as_uint8 else np.float32))
  counts_d = jnp.asarray(counts)
  alphabet_d = jnp.asarray(alphabet_ids)
  eligible_d = jnp.asarray(eligible) if within_alphabet else None
  slots = jnp.arange(max_examples)

  def sample(key: jax.Array) -> Episode:
    k_alpha, k_cls, k_ex, k_rot = jax.random.split(key, 4)
    # 1-2. N distinct classes; top_k of i.i.d. uniform scores is a uniformly random
    # ordered subset, and its order is the (random) label assignment.
    scores = jax.random.uniform(k_cls, (num_classes,))
    if within_alphabet:
      alpha = eligible_d[jax.random.randint(k_alpha, (), 0, eligible_d.shape[0])]
      scores = jnp.where(alphabet_d == alpha, scores, -1.0)
    _, chosen = jax.lax.top_k(scores, ways)                                # [N]
    # 3. K+Q distinct examples among each class's valid slots.
    ex_scores = jax.random.uniform(k_ex, (ways, max_examples))
    ex_scores = jnp.where(slots[None, :] < counts_d[chosen][:, None], ex_scores, -1.0)
    _, picked = jax.lax.top_k(ex_scores, per_class)                       # [N, K+Q]
    x = get_images()[chosen[:, None], picked]
    if as_uint8:
      x = x.astype(jnp.float32) / 255.0                                  # [N, K+Q, H, W, ch]
    if rotation == "per-task":
      # 4. one random multiple of 90 degrees per class.
      k = jax.random.randint(k_rot, (ways,), 0, 4)
      rotated = jnp.stack([jnp.rot90(x, r, axes=(2, 3)) for r in range(4)])  # [4, N, ...]
      x = rotated[k, jnp.arange(ways)]
    labels = jnp.broadcast_to(jnp.arange(ways, dtype=jnp.int32)[:, None], (ways, per_class))
    tail = x.shape[2:]
    return Episode(x[:, :shots].reshape((ways * shots,) + tail), labels[:, :shots].reshape(-1),
                   x[:, shots:].reshape((ways * query,) + tail), labels[:, shots:].reshape(-1))

  return TaskDistribution(name=name, sample=sample, loss=cross_entropy, metric=accuracy,
                          metric_name="accuracy", output_size=ways)
