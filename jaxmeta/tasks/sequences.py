"""Sequence episodes for memory-augmented networks (Santoro et al. 2016, sec. 4).

One episode is a sequence of ``length`` steps over ``ways`` classes (5 classes x 10
instances = 50 steps in the paper), sampled on the device from a PRNG key:

1. pick ``ways`` distinct classes uniformly and give each a random label: with
   ``labels="one-hot"`` a random permutation of ``0..ways-1``; with ``labels="string"``
   a random string of ``string_length`` characters over an alphabet of
   :data:`STRING_ALPHABET` letters, distinct between the classes (the paper's 15-way
   five-character strings);
2. class ``c`` gets ``length // ways`` steps, the first ``length % ways`` classes one more
   (exactly ``n`` instances each when ``length = ways * n``); the steps are shuffled;
3. per step a distinct example of its class (no image repeats within an episode);
4. with ``rotation="per-class"``, every image of a class is rotated by one random multiple
   of 90 degrees, drawn per class per episode (the paper's augmentation);
5. the input at step ``t`` is ``(x_t, y_{t-1})`` with ``y_{-1} = 0``: the label arrives
   one step late, so the first sight of a class can only be a guess (the paper's Fig. 1).

The episode is a :class:`SequenceEpisode`; a meta-batch is the same with a leading axis.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmeta import checks
from jaxmeta.errors import ConfigError
from jaxmeta.tasks.episodes import _arrays, check_ways_fit, device_resident
from jaxmeta.types import TaskDistribution

LABEL_ENCODINGS = ("one-hot", "string")
SEQUENCE_ROTATIONS = ("none", "per-class")
STRING_ALPHABET = 5        # letters per character of a string label (paper: 5)


class SequenceEpisode(NamedTuple):
  """One sequence episode of ``T`` steps.

  Attributes:
    images: ``[T, H, W, ch]`` float32, ``x_t``.
    label_input: ``[T, label_width]`` float32, the encoding of ``y_{t-1}`` (zeros at
      ``t = 0``): one-hot over ``ways`` classes, or ``string_length`` one-hot characters
      over :data:`STRING_ALPHABET` letters, concatenated.
    targets: ``[T]`` int32 class labels (one-hot) or ``[T, string_length]`` int32 letters.
    instance: ``[T]`` int32, how many times the class of step ``t`` has been shown up to
      and including ``t`` (1 at its first sight): the axis of the paper's accuracy table.
  """
  images: jax.Array
  label_input: jax.Array
  targets: jax.Array
  instance: jax.Array


def label_width(ways: int, labels: str = "one-hot", string_length: int = 5) -> int:
  """Width of the label input (and number of output logits)."""
  return ways if labels == "one-hot" else string_length * STRING_ALPHABET


def check_label_encoding(ways: int, labels: str, string_length: int) -> None:
  """Raises ConfigError when ``labels`` cannot give ``ways`` classes distinct labels."""
  checks.one_of("label_encoding", labels, LABEL_ENCODINGS)
  checks.integer("string_length", string_length)
  if labels == "string" and STRING_ALPHABET ** string_length < ways:
    raise ConfigError("string_length", f"strings of {string_length} characters over "
                      f"{STRING_ALPHABET} letters give {STRING_ALPHABET ** string_length} labels, "
                      f"fewer than the {ways} classes (--ways)")


def check_episode_length(ways: int, length: int) -> None:
  """Raises ConfigError unless every class can be shown at least once."""
  checks.integer("episode_length", length)
  if length < ways:
    raise ConfigError("episode_length", f"must be at least the number of classes (--ways "
                      f"{ways}) so that each is shown, got {length}")


def max_instances(ways: int, length: int) -> int:
  """The most times a class is shown in an episode."""
  return -(-length // ways)


def instance_numbers(classes: jax.Array, ways: int) -> jax.Array:
  """``instance[t] = #{s <= t : classes[s] == classes[t]}`` (1-based)."""
  onehot = jax.nn.one_hot(classes, ways, dtype=jnp.int32)
  return jnp.sum(jnp.cumsum(onehot, axis=0) * onehot, axis=-1)


def jitter_images(key: jax.Array, x: jax.Array, degrees: float, shift: float) -> jax.Array:
  """Each image of ``x [T, H, W, ch]`` rotated by a random angle in ``[-degrees, degrees]``
  about its centre and translated by up to ``shift`` of its side along each axis (uniform,
  bilinear, zeros, i.e. no ink, outside), drawn per image.

  Santoro et al. 2016 (sec. 4.1) reduce overfitting this way, by randomly translating and
  rotating the character images, besides the rotations by multiples of 90 degrees that
  make new classes.
  """
  steps, height, width = x.shape[:3]
  k_angle, k_shift = jax.random.split(key)
  angle = jnp.deg2rad(degrees) * jax.random.uniform(k_angle, (steps,), minval=-1.0, maxval=1.0)
  offset = shift * jnp.array([height, width]) * jax.random.uniform(
      k_shift, (steps, 2), minval=-1.0, maxval=1.0)
  cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
  yy, xx = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                        jnp.arange(width, dtype=jnp.float32), indexing="ij")

  def one(image, a, o):
    # the output pixel p shows the input at R(-a) (p - centre - offset) + centre
    y, xr = yy - cy - o[0], xx - cx - o[1]
    cos, sin = jnp.cos(a), jnp.sin(a)
    coords = [cos * y + sin * xr + cy, -sin * y + cos * xr + cx]
    sample = lambda channel: jax.scipy.ndimage.map_coordinates(channel, coords, order=1,
                                                                mode="constant", cval=0.0)
    return jax.vmap(sample, in_axes=-1, out_axes=-1)(image)

  return jax.vmap(one)(x, angle, offset)


def sequence_task(classes, ways: int, length: int, *, labels: str = "one-hot",
                  string_length: int = 5, rotation: str = "per-class",
                  jitter_degrees: float = 0.0, jitter_shift: float = 0.0,
                  name: str = "omniglot-sequences") -> TaskDistribution:
  """A distribution over sequence episodes (see the module docstring).

  Args:
    classes: as :func:`jaxmeta.tasks.episodes.few_shot_task` takes them (an
      ``ImageClasses``, ``(images, counts)`` or a bare ``[C, M, H, W, ch]`` array).
    ways: classes per episode.
    length: steps per episode (``>= ways``).
    labels: ``"one-hot"`` or ``"string"``.
    string_length: characters of a string label.
    rotation: ``"per-class"`` or ``"none"``.
    jitter_degrees, jitter_shift: per-image random rotation (degrees) and translation
      (fraction of the side) of :func:`jitter_images`; 0 for none (evaluation episodes).
    name: the task's name.

  Returns:
    A :class:`~jaxmeta.types.TaskDistribution` whose ``sample(key)`` is a
    :class:`SequenceEpisode`; ``loss`` and ``metric`` take logits ``[..., T, width]``
    and the episode (see :func:`sequence_loss`).

  Raises:
    ConfigError: naming ``ways``, ``episode_length``, ``string_length``,
      ``label_encoding`` or ``rotation``; also when a class has fewer examples than it is
      shown (``episode_length``).

  Example:
    >>> import jax, numpy as np
    >>> images = np.random.rand(30, 20, 8, 8, 1).astype(np.float32)
    >>> ep = sequence_task(images, ways=5, length=50).sample(jax.random.key(0))
    >>> ep.images.shape, ep.label_input.shape, int(ep.instance.max())
    ((50, 8, 8, 1), (50, 5), 10)
  """
  checks.integer("ways", ways)
  check_episode_length(ways, length)
  check_label_encoding(ways, labels, string_length)
  checks.one_of("rotation", rotation, SEQUENCE_ROTATIONS)
  jitter_degrees = checks.degrees("jitter_degrees", jitter_degrees)
  jitter_shift = checks.fraction("jitter_shift", jitter_shift)
  jitter = jitter_degrees > 0 or jitter_shift > 0
  images, counts, alphabet_ids = _arrays(classes)
  check_ways_fit((images, counts, alphabet_ids), ways)
  shown = max_instances(ways, length)
  if int(counts.min()) < shown:
    raise ConfigError("episode_length", f"{length} steps over {ways} classes show a class "
                      f"{shown} times, but the smallest class has {int(counts.min())} examples")
  if rotation == "per-class" and np.shape(images)[2] != np.shape(images)[3]:
    raise ConfigError("rotation", "per-class rotation needs square images")
  num_classes, max_examples = int(np.shape(images)[0]), int(np.shape(images)[1])
  as_uint8 = np.asarray(images).dtype == np.uint8
  get_images = device_resident(np.asarray(images, np.uint8 if as_uint8 else np.float32))
  counts_d = jnp.asarray(counts)
  slots = jnp.arange(max_examples)
  width = label_width(ways, labels, string_length)
  # Step s of the unshuffled sequence shows class s % ways, for the (s // ways)-th time.
  base_class = np.arange(length) % ways
  base_instance = np.arange(length) // ways

  def sample(key: jax.Array) -> SequenceEpisode:
    k_cls, k_lab, k_perm, k_ex, k_rot = jax.random.split(key, 5)
    k_jit = jax.random.fold_in(key, 1)   # a sixth stream: the five above keep their values
    _, chosen = jax.lax.top_k(jax.random.uniform(k_cls, (num_classes,)), ways)    # [C]
    # Distinct examples per class: the first `shown` of a random order of its valid slots.
    ex_scores = jax.random.uniform(k_ex, (ways, max_examples))
    ex_scores = jnp.where(slots[None, :] < counts_d[chosen][:, None], ex_scores, -1.0)
    _, picked = jax.lax.top_k(ex_scores, shown)                                   # [C, n]
    order = jax.random.permutation(k_perm, length)
    cls = jnp.asarray(base_class)[order]                                          # [T]
    example = picked[cls, jnp.asarray(base_instance)[order]]
    x = get_images()[chosen[cls], example]                                        # [T, H, W, ch]
    if as_uint8:
      x = x.astype(jnp.float32) / 255.0
    if rotation == "per-class":
      turns = jax.random.randint(k_rot, (ways,), 0, 4)[cls]                       # [T]
      rotated = jnp.stack([jnp.rot90(x, r, axes=(1, 2)) for r in range(4)])       # [4, T, ...]
      x = rotated[turns, jnp.arange(length)]
    if jitter:
      x = jitter_images(k_jit, x, jitter_degrees, jitter_shift)
    if labels == "one-hot":
      label_of_class = jax.random.permutation(k_lab, ways).astype(jnp.int32)      # [C]
      targets = label_of_class[cls]
      encoded = jax.nn.one_hot(targets, ways)
    else:
      # Distinct random strings: `ways` distinct codes in 0..A^L-1, written in base A.
      codes = jax.random.choice(k_lab, STRING_ALPHABET ** string_length, (ways,), replace=False)
      digits = (codes[:, None] // STRING_ALPHABET ** jnp.arange(string_length)) % STRING_ALPHABET
      targets = digits.astype(jnp.int32)[cls]                                     # [T, L]
      encoded = jax.nn.one_hot(targets, STRING_ALPHABET).reshape(length, width)
    label_input = jnp.concatenate([jnp.zeros((1, width)), encoded[:-1]], axis=0)
    return SequenceEpisode(x, label_input, targets, instance_numbers(cls, ways))

  return TaskDistribution(name=name, sample=sample, loss=sequence_loss, metric=sequence_accuracy,
                          metric_name="accuracy", output_size=width)


def _per_step(logits: jax.Array, targets: jax.Array):
  """(cross-entropy [T], correct [T]); string labels: summed over characters, correct
  when every character is."""
  if targets.ndim == logits.ndim - 1:                                   # one-hot classes
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return ce, (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
  chars = logits.reshape(targets.shape + (STRING_ALPHABET,))            # [T, L, A]
  ce = optax.softmax_cross_entropy_with_integer_labels(chars, targets).sum(-1)
  return ce, jnp.all(jnp.argmax(chars, -1) == targets, axis=-1).astype(jnp.float32)


def sequence_loss(logits: jax.Array, episode: SequenceEpisode) -> jax.Array:
  """Cross-entropy of the labels, per step, averaged over the episode."""
  return jnp.mean(_per_step(logits, episode.targets)[0])


def sequence_accuracy(logits: jax.Array, episode: SequenceEpisode) -> jax.Array:
  """Fraction of the episode's steps labelled correctly."""
  return jnp.mean(_per_step(logits, episode.targets)[1])


def accuracy_by_instance(logits: jax.Array, episode: SequenceEpisode, max_instance: int) -> jax.Array:
  """``[max_instance + 1]``: entry ``k >= 1`` is the accuracy over the steps that show their
  class for the ``k``-th time (NaN if none does); entry 0 is the whole episode's accuracy.

  Example:
    >>> import jax.numpy as jnp
    >>> logits = jnp.eye(2)[jnp.array([0, 1, 1, 1])]      # predicts 0, 1, 1, 1
    >>> ep = SequenceEpisode(None, None, jnp.array([1, 1, 0, 1]), jnp.array([1, 2, 1, 3]))
    >>> accuracy_by_instance(logits, ep, 3).tolist()
    [0.5, 0.0, 1.0, 1.0]
  """
  correct = _per_step(logits, episode.targets)[1]
  k = jnp.arange(1, max_instance + 1)
  mask = (episode.instance[None, :] == k[:, None]).astype(jnp.float32)  # [K, T]
  by_k = (mask @ correct) / jnp.sum(mask, -1)
  return jnp.concatenate([jnp.mean(correct)[None], by_k])
