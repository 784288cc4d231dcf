"""Name -> factory tables for tasks, models and algorithms, used by the CLI.

Adding a method is one ``register_*`` call; the training loop never changes.
"""
from __future__ import annotations

from typing import Callable

import optax

from jaxmeta import algorithms, models, tasks
from jaxmeta.config import Config
from jaxmeta.errors import ConfigError

# (config, split, for_eval) -> TaskDistribution. split is "train" | "val" | "test".
TASKS: dict[str, Callable] = {}
# (config, task) -> flax module
MODELS: dict[str, Callable] = {}
# (config, model, task) -> Algorithm
ALGORITHMS: dict[str, Callable] = {}
# task name -> model used when --model auto
DEFAULT_MODEL: dict[str, str] = {}


def register_task(name: str, default_model: str):
  def deco(fn):
    TASKS[name] = fn
    DEFAULT_MODEL[name] = default_model
    return fn
  return deco


def register_model(name: str):
  def deco(fn):
    MODELS[name] = fn
    return fn
  return deco


def register_algorithm(name: str):
  def deco(fn):
    ALGORITHMS[name] = fn
    return fn
  return deco


@register_task("sinusoid", default_model="mlp")
def _sinusoid(config: Config, split: str = "train", for_eval: bool = False):
  del split  # every sinusoid task is fresh
  if for_eval:
    return tasks.sinusoid(shots=config.eval_shots, query=config.eval_query)
  return tasks.sinusoid(shots=config.shots, query=config.query)


@register_task("omniglot", default_model="conv4")
def _omniglot(config: Config, split: str = "train", for_eval: bool = False):
  """N-way K-shot Omniglot episodes sampled on the device (see jaxmeta.data.omniglot)."""
  from jaxmeta.data.omniglot import split_classes
  from jaxmeta.tasks.episodes import check_episode_fits, check_ways_fit, few_shot_task
  classes = split_classes(config, split)
  if split == "train" and not for_eval:  # fail before training, not after it
    check_episode_fits(classes, config.eval_shots, config.eval_query, ("--eval-shots", "--eval-query"))
    test = split_classes(config, "test", required=False)
    eval_ways = getattr(config, "eval_ways", None)
    if test is not None:
      check_ways_fit(test, eval_ways or config.ways, config.within_alphabet,
                     "--eval-ways" if eval_ways else "--ways")
  shots, query = (config.eval_shots, config.eval_query) if for_eval else (config.shots, config.query)
  flags = ("--ways", "--eval-shots", "--eval-query") if for_eval else ("--ways", "--shots", "--query")
  ways = config.ways
  if for_eval and config.eval_ways is not None:  # e.g. ProtoNets: train 60-way, test 5-way
    ways, flags = config.eval_ways, ("--eval-ways",) + flags[1:]
  return few_shot_task(classes, ways, shots, query, flags=flags,
                       rotation="per-task" if config.rotation == "per-task" else "none",
                       within_alphabet=config.within_alphabet, name="omniglot")


@register_task("mini-imagenet", default_model="conv4-pool")
def _mini_imagenet(config: Config, split: str = "train", for_eval: bool = False):
  """N-way K-shot mini-ImageNet episodes (jaxmeta.data.mini_imagenet), uint8 on the device.

  ``--data-dir`` holds the pickle caches or the split CSVs + images/; ``--split`` and
  ``--rotation`` are Omniglot's and are not used (the Ravi & Larochelle 64/16/20 split).
  """
  from jaxmeta.data.mini_imagenet import mini_imagenet_splits
  from jaxmeta.data.omniglot import default_data_dir
  from jaxmeta.tasks.episodes import check_episode_fits, check_ways_fit, few_shot_task
  if split not in ("train", "val", "test"):
    raise ConfigError("--split", f"must be train, val or test, got {split!r}")
  splits = mini_imagenet_splits(config.data_dir or default_data_dir(), image_size=config.image_size,
                                dtype="uint8")
  eval_ways = getattr(config, "eval_ways", None)
  if split == "train" and not for_eval:  # fail before training, not after it
    check_episode_fits(splits["test"], config.eval_shots, config.eval_query,
                       ("--eval-shots", "--eval-query"))
    check_ways_fit(splits["test"], eval_ways or config.ways, False,
                   "--eval-ways" if eval_ways else "--ways")
  shots, query = (config.eval_shots, config.eval_query) if for_eval else (config.shots, config.query)
  flags = ("--ways", "--eval-shots", "--eval-query") if for_eval else ("--ways", "--shots", "--query")
  ways = config.ways
  if for_eval and eval_ways is not None:
    ways, flags = eval_ways, ("--eval-ways",) + flags[1:]
  return few_shot_task(splits[split], ways, shots, query, flags=flags, name="mini-imagenet")


@register_model("mlp")
def _mlp(config: Config, task):
  return models.MLP(tuple(config.hidden), task.output_size)


@register_model("conv4")
def _conv4(config: Config, task):
  """MAML's Omniglot Conv-4: stride-2 convs, no pooling, features averaged over space."""
  return models.Conv4(filters=config.filters, stride=2, pool=False, norm=config.norm,
                      output_size=task.output_size, readout="mean", conv_impl=config.conv_impl)


@register_model("conv4-pool")
def _conv4_pool(config: Config, task):
  """ProtoNets / mini-ImageNet MAML Conv-4: stride-1 convs, 2x2 max-pool, flattened."""
  return models.Conv4(filters=config.filters, stride=1, pool=True, norm=config.norm,
                      output_size=task.output_size, readout="flatten", conv_impl=config.conv_impl)


def _inner_loop_algorithm(factory):
  """Registry entry for the algorithms that adapt with k SGD steps (MAML family)."""
  def build(config, model, task):
    return factory(model, task, inner_lr=config.inner_lr, inner_steps=config.inner_steps,
                   remat=config.remat)
  return build


for _name in ("maml", "fomaml", "metasgd", "anil"):
  register_algorithm(_name)(_inner_loop_algorithm(getattr(algorithms, _name)))


@register_algorithm("reptile")
def _reptile(config, model, task):
  return algorithms.reptile(model, task, inner_lr=config.inner_lr, inner_steps=config.inner_steps)


@register_algorithm("pretrained")
def _pretrained(config, model, task):
  return algorithms.pretrained(model, task, inner_lr=config.inner_lr)


# Metric-based meta-learning (issue 6): each method takes the backbone as an embedding.
def _embedding(model, **changes):
  """The backbone without its classifier head (``Conv4(output_size=None)``)."""
  if isinstance(model, models.Conv4):
    return model.clone(output_size=None, **changes)
  return model


@register_model("koch")
def _koch(config: Config, task):
  """Koch et al. 2015's Siamese twin network (105x105 inputs: --image-size 105)."""
  del task
  return models.KochNet()


@register_algorithm("protonet")
def _protonet(config, model, task):
  return algorithms.protonet(_embedding(model), task.output_size)


@register_algorithm("matching")
def _matching(config, model, task):
  return algorithms.matching(_embedding(model), task.output_size,
                             cosine_scale=config.cosine_scale, learn_scale=config.learn_scale)


@register_algorithm("matching-fce")
def _matching_fce(config, model, task):
  return algorithms.matching(_embedding(model), task.output_size, fce=True,
                             read_steps=config.read_steps, cosine_scale=config.cosine_scale,
                             learn_scale=config.learn_scale)


@register_model("conv4-relation")
def _conv4_relation(config: Config, task):
  """Relation Networks' encoder (Sung et al. 2018): 4 stride-1 blocks, 2x2 max-pools after
  the first two only, the feature map kept (7x7x64 at 28x28, 21x21x64 at 84x84)."""
  return models.Conv4(filters=config.filters, stride=1, pool=True, pool_layers=2,
                      norm=config.norm, output_size=task.output_size, readout="map",
                      conv_impl=config.conv_impl)


@register_model("conv4-koch")
def _conv4_koch(config: Config, task):
  """Koch et al. 2015's layout at Conv-4 scale for Siamese twins: 4 stride-1 blocks, 2x2
  max-pools after all but the last (as the 105x105 network), flattened 3x3x64 features."""
  return models.Conv4(filters=config.filters, stride=1, pool=True, pool_layers=3,
                      norm=config.norm, output_size=task.output_size, readout="flatten",
                      conv_impl=config.conv_impl)


@register_algorithm("relation")
def _relation(config, model, task):
  return algorithms.relation(_embedding(model, readout="map"), task.output_size,
                             conv_impl=config.conv_impl)


@register_algorithm("siamese")
def _siamese(config, model, task):
  return algorithms.siamese(_embedding(model), task.output_size, distort=config.distort)


@register_algorithm("embedding-nn")
def _embedding_nn(config, model, task):
  # Trained on the classification task of TRAIN_TASKS (head over all training classes);
  # evaluated on N-way episodes, where the head is unused.
  ways = config.eval_ways or config.ways
  num_classes = task.output_size
  if config.task == "omniglot":  # the head's width is the training split's, whatever task scores it
    from jaxmeta.data.omniglot import split_classes
    num_classes = split_classes(config, "train").num_classes
  return algorithms.embedding_nn(_embedding(model), max(num_classes, 2), ways)


def _classes_task(config: Config, split: str):
  """Batches of (image, global class id) of a class split, for ``embedding-nn`` training."""
  if config.task != "omniglot":
    raise ConfigError("--algo", f"embedding-nn needs an image class set (--task omniglot), got "
                      f"--task {config.task}")
  from jaxmeta.data.omniglot import split_classes
  classes = split_classes(config, split)
  return algorithms.classification_task(classes.images, classes.counts,
                                        batch_size=config.ways * (config.shots + config.query),
                                        name=config.task)


# algo -> (config, split) -> TaskDistribution used for TRAINING instead of the episodes.
TRAIN_TASKS: dict[str, Callable] = {"embedding-nn": _classes_task}


def build_task(config: Config, split: str = "train", for_eval: bool = False):
  if not for_eval and config.algo in TRAIN_TASKS:
    return TRAIN_TASKS[config.algo](config, split)
  return TASKS[config.task](config, split, for_eval)


def build_algorithm(config: Config, task):
  model_name = DEFAULT_MODEL[config.task] if config.model == "auto" else config.model
  model = MODELS[model_name](config, task)
  return ALGORITHMS[config.algo](config, model, task)


def build_optimizer(config: Config) -> optax.GradientTransformation:
  if config.optimizer == "adam":
    return optax.adam(config.outer_lr)
  if config.optimizer == "sgd":
    return optax.sgd(config.outer_lr)
  raise ConfigError("--optimizer", f"must be adam or sgd, got {config.optimizer!r}")


def names():
  """Registered names, for :func:`jaxmeta.config.validate`."""
  return dict(tasks=tuple(TASKS), algorithms=tuple(ALGORITHMS), models=tuple(MODELS))
