"""What ``--task``, ``--model`` and ``--algo`` can name, and how each is built from a run config.

Each entry is a :class:`~jaxmeta.options.Registration`: a builder, the options the entry
declares itself and the shared options it reads. A method's registration lives in the
method's own file (``jaxmeta/algorithms/matching.py`` declares ``cosine_scale`` and
builds Matching Nets from a config); adding one is one line in :data:`ALGORITHMS`. The
training loop never changes.
"""
from __future__ import annotations

import importlib

import optax

from jaxmeta import models, tasks
from jaxmeta.algorithms import common as algorithms_common
from jaxmeta.data import omniglot as omniglot_data
from jaxmeta.errors import ConfigError
from jaxmeta.options import Registration
from jaxmeta.tasks.episodes import check_episode_fits, check_ways_fit, few_shot_task


def _table(*entries: Registration) -> dict[str, Registration]:
  return {e.name: e for e in entries}


# --------------------------------------------------------------------------- algorithms
# The modules under jaxmeta/algorithms/ that register methods, one line each: a module
# defines REGISTRATION (or REGISTRATIONS, for variants such as maml and fomaml) with its
# builder and its own options.
METHOD_MODULES = (
    "maml",            # maml, fomaml
    "metasgd",
    "anil",
    "reptile",
    "pretrained",
    "protonet",
    "matching",        # matching, matching-fce
    "relation",
    "siamese",
    "embedding_nn",    # embedding-nn, finetune
    "meta_lstm",
    "mann",            # mann, lstm (Santoro et al. 2016's memory network and its baseline)
    "metanet",
)


def _registrations(module_name: str) -> tuple:
  module = importlib.import_module(f"jaxmeta.algorithms.{module_name}")
  if hasattr(module, "REGISTRATIONS"):
    return tuple(module.REGISTRATIONS)
  return (module.REGISTRATION,)


ALGORITHMS: dict[str, Registration] = _table(*(r for m in METHOD_MODULES for r in _registrations(m)))


# --------------------------------------------------------------------------- tasks
def _episode_sizes(config, for_eval: bool):
  """(ways, shots, query) and the parameters that set them, for training or evaluation."""
  if not for_eval:
    return (config.ways, config.shots, config.query), ("ways", "shots", "query")
  if config.eval_ways is not None:  # e.g. ProtoNets: train 60-way, test 5-way
    return ((config.eval_ways, config.eval_shots, config.eval_query),
            ("eval_ways", "eval_shots", "eval_query"))
  return (config.ways, config.eval_shots, config.eval_query), ("ways", "eval_shots", "eval_query")


def _check_evaluation_fits(config, episode_classes, test_classes, within_alphabet: bool):
  """At training time, refuse an evaluation setting the data cannot serve (before training)."""
  check_episode_fits(episode_classes, config.eval_shots, config.eval_query,
                     ("eval_shots", "eval_query"))
  if test_classes is not None:
    check_ways_fit(test_classes, config.eval_ways or config.ways, within_alphabet,
                   "eval_ways" if config.eval_ways else "ways")


def _sinusoid(config, split: str = "train", for_eval: bool = False):
  del split  # every sinusoid task is fresh
  if for_eval:
    return tasks.sinusoid(shots=config.eval_shots, query=config.eval_query)
  return tasks.sinusoid(shots=config.shots, query=config.query)


def _omniglot(config, split: str = "train", for_eval: bool = False):
  """N-way K-shot Omniglot episodes sampled on the device (see jaxmeta.data.omniglot)."""
  classes = omniglot_data.split_classes(config, split)
  if split == "train" and not for_eval:  # fail before training, not after it
    _check_evaluation_fits(config, classes, omniglot_data.split_classes(config, "test", required=False),
                           config.within_alphabet)
  (ways, shots, query), names = _episode_sizes(config, for_eval)
  return few_shot_task(classes, ways, shots, query, names=names,
                       rotation="per-task" if config.rotation == "per-task" else "none",
                       within_alphabet=config.within_alphabet, name="omniglot")


def _mini_imagenet(config, split: str = "train", for_eval: bool = False):
  """N-way K-shot mini-ImageNet episodes (jaxmeta.data.mini_imagenet), uint8 on the device.

  ``data_dir`` holds the pickle caches or the split CSVs + images/; ``split`` and
  ``rotation`` are Omniglot's and are not used (the Ravi & Larochelle 64/16/20 split).
  """
  from jaxmeta.data.mini_imagenet import mini_imagenet_splits
  if split not in ("train", "val", "test"):
    raise ConfigError("split", f"must be train, val or test, got {split!r}")
  splits = mini_imagenet_splits(config.data_dir or omniglot_data.default_data_dir(),
                                image_size=config.image_size, dtype="uint8")
  if split == "train" and not for_eval:  # fail before training, not after it
    _check_evaluation_fits(config, splits["test"], splits["test"], within_alphabet=False)
  (ways, shots, query), names = _episode_sizes(config, for_eval)
  return few_shot_task(splits[split], ways, shots, query, names=names, name="mini-imagenet")


_EPISODES = ("ways", "shots", "query", "eval_ways", "eval_shots", "eval_query")
_IMAGES = tuple(o.name for o in omniglot_data.OPTIONS)
# (config, split, for_eval) -> TaskDistribution; split is "train" | "val" | "test".
TASKS: dict[str, Registration] = _table(
    Registration("sinusoid", _sinusoid, reads=("shots", "query", "eval_shots", "eval_query"),
                 description="Finn et al. 2017 sec. 5.1 sinusoid regression"),
    Registration("omniglot", _omniglot, omniglot_data.OPTIONS, _EPISODES,
                 description="N-way K-shot Omniglot (jaxmeta.data.omniglot)",
                 preset="maml-omniglot-5w1s"),
    Registration("mini-imagenet", _mini_imagenet, reads=_EPISODES + ("data_dir", "image_size"),
                 description="N-way K-shot mini-ImageNet, Ravi & Larochelle split",
                 preset="maml-miniimagenet-5w1s"),
)
# task name -> model used when --model auto
DEFAULT_MODEL = {"sinusoid": "mlp", "omniglot": "conv4", "mini-imagenet": "conv4-pool"}


# --------------------------------------------------------------------------- models
_CONV = ("filters", "norm", "conv_impl")


def _conv4(stride: int, pool: bool, readout: str, pool_layers=None, valid_layers: int = 0):
  def build(config, task):
    return models.Conv4(filters=config.filters, stride=stride, pool=pool, pool_layers=pool_layers,
                        norm=config.norm, output_size=task.output_size, readout=readout,
                        conv_impl=config.conv_impl, valid_layers=valid_layers)
  return build


# (config, task) -> flax module
MODELS: dict[str, Registration] = _table(
    Registration("mlp", lambda config, task: models.MLP(
                     tuple(config.hidden), task.output_size,
                     activation=getattr(config, "activation", "relu")),
                 reads=("hidden", "activation"), description="MLP, ReLU (or tanh) hidden layers"),
    Registration("conv4", _conv4(2, False, "mean"), reads=_CONV,
                 description="MAML's Omniglot Conv-4: stride-2 convs, no pooling, features "
                             "averaged over space"),
    Registration("conv4-flatten", _conv4(2, False, "flatten"), reads=_CONV,
                 description="Reptile's Omniglot Conv-4 (supervised-reptile): stride-2 convs, "
                             "no pooling, features flattened (2x2x64 at 28x28)"),
    Registration("conv4-pool", _conv4(1, True, "flatten"), reads=_CONV,
                 description="ProtoNets / mini-ImageNet MAML Conv-4: stride-1 convs, 2x2 "
                             "max-pool, flattened"),
    Registration("conv4-relation", _conv4(1, True, "map", pool_layers=2, valid_layers=2),
                 reads=_CONV,
                 description="Relation Nets' encoder as the authors' code (Sung et al. 2018): "
                             "no padding in blocks 1-2, pools after them only, the feature map "
                             "kept (5x5x64 at 28x28, 19x19x64 at 84x84)"),
    Registration("conv4-relation-same", _conv4(1, True, "map", pool_layers=2), reads=_CONV,
                 description="conv4-relation with every conv padded (7x7x64 maps at 28x28, "
                             "21x21 at 84x84): jaxmeta's encoder before it matched the "
                             "authors'"),
    Registration("conv4-koch", _conv4(1, True, "flatten", pool_layers=3), reads=_CONV,
                 description="Koch et al. 2015's layout at Conv-4 scale: pools after all but "
                             "the last block, flattened 3x3x64 features"),
    Registration("koch", lambda config, task: models.KochNet(conv_impl=config.conv_impl),
                 reads=("conv_impl",),
                 description="Koch et al. 2015's Siamese twin (105x105 inputs: --image-size 105)"),
)

# --------------------------------------------------------------------------- optimizers
OPTIMIZERS = {"adam": optax.adam, "sgd": optax.sgd}
# --outer-schedule: name -> (config -> the outer learning rate: a number, or an optax
# schedule of the step).
OUTER_SCHEDULES = {
    "constant": lambda config: config.outer_lr,
    "linear": lambda config: optax.linear_schedule(config.outer_lr, 0.0, config.steps),
    # Halved every --outer-halve-every steps: ProtoNets (Snell et al. 2017: every 2000
    # episodes) and Relation Nets (the authors' StepLR(100000, gamma=0.5)).
    "halve": lambda config: optax.exponential_decay(
        config.outer_lr, config.outer_halve_every, 0.5, staircase=True),
}


def build_task(config, split: str = "train", for_eval: bool = False):
  """The task distribution of a run; a method may train on another task (``train_task``)."""
  episodes = ALGORITHMS[config.algo].episodes
  if episodes is not None:   # sequence models: their own episodes, for training and evaluation
    return episodes(config, split, for_eval)
  train_task = ALGORITHMS[config.algo].train_task
  if not for_eval and train_task is not None:
    return train_task(config, split)
  return TASKS[config.task].build(config, split, for_eval)


def build_model(config, task):
  name = DEFAULT_MODEL[config.task] if config.model == "auto" else config.model
  return MODELS[name].build(config, task)


EVAL_NORMS = algorithms_common.EVAL_NORMS


def build_algorithm(config, task):
  """The method ``--algo`` names, built from the run config for ``task``.

  A model trained with batch statistics (``--norm batch``) is evaluated with them unless
  ``--eval-norm support``: then ``evaluate`` is that of the same method on the same model
  with ``norm="support"`` (the same parameters; the support set's statistics normalise
  every query, so the query images never see each other).
  """
  registration = ALGORITHMS[config.algo]
  model = build_model(config, task)
  algo = registration.build(config, model, task)
  non_transductive = getattr(config, "eval_norm", "episode") == "support"
  if non_transductive and getattr(model, "norm", None) == "batch":
    scoring = registration.build(config, model.clone(norm="support"), task)
    algo = algo._replace(evaluate=scoring.evaluate, predict=scoring.predict)
  return algo


def build_optimizer(config) -> optax.GradientTransformation:
  """The outer optimizer: ``--optimizer`` at ``--outer-lr``, on ``--outer-schedule``.

  ``constant`` passes the number itself (the optimizer of every run before schedules
  existed, bit-identical). ``linear`` anneals the rate linearly from ``outer_lr`` at step 0
  to 0 at step ``steps`` (``optax.linear_schedule``; Reptile's meta step size, Nichol et al.
  2018). ``halve`` halves it every ``outer_halve_every`` steps (ProtoNets, Relation Nets).
  The schedule reads the step from the optimizer state's own count, which the
  checkpoint holds, so a resumed run continues it where it stopped. ``steps`` may change
  on resume: raising it stretches the rest of a linear schedule (the rate at step ``s`` is
  then ``outer_lr * (1 - s / new_steps)``, a jump up from where the old schedule was), and
  the run ends at 0 at the new ``steps``.

  Example:
    >>> import jax.numpy as jnp
    >>> from jaxmeta.config import Config
    >>> opt = build_optimizer(Config(optimizer="sgd", outer_lr=1.0, outer_schedule="linear", steps=4))
    >>> state = opt.init(jnp.zeros(()))
    >>> steps = []
    >>> for _ in range(4):
    ...   update, state = opt.update(jnp.ones(()), state)
    ...   steps.append(float(-update))
    >>> steps
    [1.0, 0.75, 0.5, 0.25]
  """
  schedule = OUTER_SCHEDULES[getattr(config, "outer_schedule", "constant")]
  optimizer = OPTIMIZERS[config.optimizer](schedule(config))
  if getattr(config, "outer_clip_norm", None) is not None:
    optimizer = optax.chain(optax.clip_by_global_norm(config.outer_clip_norm), optimizer)
  return optimizer


def names():
  """Registered names, by kind."""
  return dict(tasks=tuple(TASKS), algorithms=tuple(ALGORITHMS), models=tuple(MODELS))


def declared_options() -> tuple:
  """The options declared by registered tasks, models and methods, in registration order."""
  return tuple(o for table in (TASKS, MODELS, ALGORITHMS) for e in table.values() for o in e.options)


def options_read_by(algo: str) -> tuple:
  """Names of the options a method reads: its own, then the shared ones it declares reading."""
  return ALGORITHMS[algo].option_names()
