"""Memory-augmented neural network with LRUA memory (Santoro et al. 2016) and the paper's
LSTM-only baseline, as sequence models over Omniglot episodes.

No inner loop: the network reads one episode (:mod:`jaxmeta.tasks.sequences`) step by step
and must label each image from what it has seen; it is meta-trained by the cross-entropy
of every step's label. ``evaluate`` returns the accuracy by instance number (the 1st, 2nd,
... time a class is shown), the paper's Table 1 metric; ``jaxmeta eval`` writes it as
``by_instance``. The model and its equations are in :mod:`jaxmeta.models.memory`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxmeta import checks
from jaxmeta import options as opt
from jaxmeta.errors import ConfigError
from jaxmeta.models import memory as mem
from jaxmeta.options import Registration
from jaxmeta.tasks.sequences import (LABEL_ENCODINGS, SequenceEpisode, accuracy_by_instance,
                                     check_episode_length, check_label_encoding, max_instances,
                                     sequence_task)
from jaxmeta.types import Algorithm, CurveAxis, TaskDistribution

# The paper's axis: entry k of the curve is the accuracy at the k-th instance of a class
# (entry 0: the whole episode). ``jaxmeta eval`` writes it as "by_instance".
INSTANCES = CurveAxis("instance", "at the k-th instance of a class in the episode "
                      "(0: over the whole episode)")

_MODEL = dict(group="model")

OPTIONS = (
    opt.integer("episode_length", 50, "MANN/LSTM: steps per sequence episode (--ways classes, "
                "each shown episode_length/ways times)", maximum=100_000),
    opt.choice("label_encoding", "one-hot", LABEL_ENCODINGS, "MANN/LSTM: labels as one-hot "
               "over --ways | string (--string-length characters over 5 letters; the paper's "
               "15-way setting)"),
    opt.integer("string_length", 5, "MANN/LSTM: characters of a string label", maximum=64),
    opt.Option("jitter_degrees", 0.0, "MANN/LSTM: training images rotated by a random angle "
               "in [-this, this] degrees, per image (the paper's augmentation; 0: none)", "float",
               checks.degrees, "a number of degrees in [0, 180]"),
    opt.Option("jitter_shift", 0.0, "MANN/LSTM: training images translated by up to this "
               "fraction of their side along each axis, per image (0: none)", "float",
               checks.fraction, "a number in [0, 1)"),
    opt.integer("controller_units", 200, "MANN/LSTM: LSTM (controller) cells", maximum=65_536,
                **_MODEL),
    opt.integer("memory_slots", 128, "MANN: memory rows N", maximum=1_000_000, **_MODEL),
    opt.integer("memory_width", 40, "MANN: memory row width M", maximum=65_536, **_MODEL),
    opt.integer("read_heads", 4, "MANN: read heads (and LRUA's n least-used slots)",
                maximum=1024, **_MODEL),
    opt.Option("usage_decay", 0.95, "MANN: gamma, the LRUA usage decay", "float", checks.fraction,
               "a number in [0, 1)", group="model"),
    opt.number("memory_init", 1e-6, "MANN: the constant the memory starts at", **_MODEL),
    opt.choice("write_vector", "key", mem.WRITE_VECTORS, "MANN: what a head writes: key (the "
               "paper's eq. 9, the read key itself) | add (a separate add vector, as in the NTM "
               "and the public reimplementations)", **_MODEL),
    opt.choice("least_used_slots", "shared", mem.LEAST_USED, "MANN: LRUA least-used weights: "
               "shared (eq. 8: every head's w^lu marks the n least-used slots) | per-head "
               "(head h gets the h-th least-used slot alone)", **_MODEL),
)
_SEQUENCE = OPTIONS[:6]


def _check_params(**sizes):
  for name, value in sizes.items():
    checks.integer(name, value)


def mann(task: TaskDistribution, *, memory: bool = True, units: int = 200, slots: int = 128,
         width: int = 40, heads: int = 4, gamma: float = 0.95, memory_init: float = 1e-6,
         write_vector: str = "key", least_used_slots: str = "shared",
         name: str = "mann") -> Algorithm:
  """The MANN (``memory=True``) or its LSTM baseline on sequence episodes.

  Args:
    task: a :func:`~jaxmeta.tasks.sequences.sequence_task` distribution.
    memory: with the LRUA memory (MANN) or without (the LSTM baseline).
    units, slots, width, heads: controller cells, memory N x M, read heads.
    gamma: usage decay. memory_init: the memory's initial constant.
    write_vector: ``"key"`` (eq. 9: a head writes its read key) or ``"add"`` (a separate
      add vector per head, as in the NTM).
    least_used_slots: ``"shared"`` (eq. 8) or ``"per-head"``
      (:func:`jaxmeta.models.memory.least_used`).

  Returns:
    An :class:`~jaxmeta.types.Algorithm` whose ``evaluate(params, episode, k, key)`` is
    the accuracy at instances ``0..k`` (:func:`~jaxmeta.tasks.sequences.accuracy_by_instance`).

  Example:
    >>> import jax, numpy as np
    >>> from jaxmeta.tasks.sequences import sequence_task
    >>> task = sequence_task(np.random.rand(10, 4, 8, 8, 1).astype(np.float32), 2, 8)
    >>> algo = mann(task, units=16, slots=8, width=4, heads=2)
    >>> ep = task.sample(jax.random.key(0))
    >>> params = algo.init(jax.random.key(1), ep)
    >>> algo.evaluate(params, ep, 4, jax.random.key(2)).shape
    (5,)
  """
  _check_params(controller_units=units, memory_slots=slots, memory_width=width, read_heads=heads)
  if memory and heads > slots:
    raise ConfigError("read_heads", f"{heads} heads need at least as many memory slots "
                      f"(--memory-slots {slots})")
  gamma = checks.fraction("usage_decay", gamma)
  memory_init = checks.positive_number("memory_init", memory_init)
  write_vector = checks.one_of("write_vector", write_vector, mem.WRITE_VECTORS)
  least_used_slots = checks.one_of("least_used_slots", least_used_slots, mem.LEAST_USED)
  forward = functools.partial(mem.apply, slots=slots, width=width, heads=heads, gamma=gamma,
                              memory_init=memory_init, least_used_slots=least_used_slots)

  def init(key, episode: SequenceEpisode):
    if not isinstance(episode, SequenceEpisode):
      raise ConfigError("algo", f"{name} reads sequence episodes (jaxmeta.tasks.sequences)")
    size = 1
    for d in episode.images.shape[1:]:
      size *= d
    return mem.init_params(key, size, episode.label_input.shape[-1], task.output_size,
                           units=units, slots=slots, width=width, heads=heads, memory=memory,
                           write_vector=write_vector)

  def logits(params, episode):
    return forward(params, episode.images, episode.label_input)

  def loss_fn(params, episode):
    out = logits(params, episode)
    return task.loss(out, episode), out

  def meta_grad(params, episode, key):
    del key
    (loss, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, episode)
    return grads, {"loss": loss, "accuracy": task.metric(out, episode)}

  def batch_loss(params, episodes):
    out = jax.vmap(logits, in_axes=(None, 0))(params, episodes)
    per_task = jax.vmap(lambda o, e: jnp.stack([task.loss(o, e), task.metric(o, e)]))(out, episodes)
    return jnp.mean(per_task[:, 0]), jnp.mean(per_task[:, 1])

  def batch_meta_grad(params, episodes, keys):
    # The gradient of the batch-mean loss: equal to the mean of meta_grad over the tasks,
    # without one weight gradient per task (see Algorithm.batch_meta_grad).
    del keys
    (loss, acc), grads = jax.value_and_grad(batch_loss, has_aux=True)(params, episodes)
    return grads, {"loss": loss, "accuracy": acc}

  def evaluate(params, episode, num_steps, key, observe_at=None):
    del key, observe_at   # the axis is instances, each read from the one recurrent pass
    return accuracy_by_instance(logits(params, episode), episode, num_steps)

  return Algorithm(name, init, meta_grad, evaluate, INSTANCES, batch_meta_grad)


# --------------------------------------------------------------------------- command line
def _episodes(config, split: str = "train", for_eval: bool = False) -> TaskDistribution:
  """Sequence episodes of Omniglot characters of ``split`` (the run's split protocol,
  image size and rotation: ``--rotation per-task`` is the paper's per-class rotation)."""
  from jaxmeta.data import omniglot as omniglot_data
  if config.task != "omniglot":
    raise ConfigError("task", f"--algo {config.algo} trains on Omniglot sequence episodes; "
                      f"got --task {config.task}")
  check_episode_length(config.ways, config.episode_length)
  check_label_encoding(config.ways, config.label_encoding, config.string_length)
  most = max_instances(config.ways, config.episode_length)
  if max(config.eval_steps) > most:
    raise ConfigError("eval_steps", f"asks for instance {max(config.eval_steps)}, but "
                      f"{config.episode_length} steps over {config.ways} classes show a class "
                      f"at most {most} times")
  # The per-image jitter augments training episodes only; evaluation sees the images as drawn.
  augment = split == "train" and not for_eval
  build = lambda classes, jitter=False: sequence_task(
      classes, config.ways, config.episode_length, labels=config.label_encoding,
      string_length=config.string_length,
      rotation="per-class" if config.rotation == "per-task" else "none",
      jitter_degrees=config.jitter_degrees if jitter else 0.0,
      jitter_shift=config.jitter_shift if jitter else 0.0, name="omniglot")
  if split == "train" and not for_eval:   # the test split must serve evaluation: fail now
    test = omniglot_data.split_classes(config, "test", required=False)
    if test is not None:
      build(test)
  return build(omniglot_data.split_classes(config, split), augment)


def _build(memory: bool):
  def build(config, model, task):
    del model
    if not memory:
      return mann(task, memory=False, units=config.controller_units, name="lstm")
    return mann(task, units=config.controller_units, slots=config.memory_slots,
                width=config.memory_width, heads=config.read_heads, gamma=config.usage_decay,
                memory_init=config.memory_init, write_vector=config.write_vector,
                least_used_slots=config.least_used_slots)
  return build


_READS = ("ways", "eval_steps")
REGISTRATIONS = (
    Registration("mann", _build(True), OPTIONS, _READS, episodes=_episodes,
                 description="Memory-augmented network with LRUA memory (Santoro et al. 2016) "
                             "on Omniglot sequence episodes"),
    Registration("lstm", _build(False), _SEQUENCE, _READS, episodes=_episodes,
                 description="Santoro et al. 2016's LSTM baseline (the MANN's controller alone)"),
)
