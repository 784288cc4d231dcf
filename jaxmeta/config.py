"""Run configuration: one dataclass, named presets, and validation before any compile.

Every field is a command-line flag (``inner_lr`` is ``--inner-lr``). Values come from,
in increasing priority: the dataclass defaults (the MAML sinusoid settings), a
``--preset``, and flags given explicitly.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Optional

from jaxmeta.errors import ConfigError

OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class Config:
  """A whole run. Defaults: MAML on sinusoid regression (Finn et al. 2017, sec. 5.1)."""
  task: str = "sinusoid"
  algo: str = "maml"
  model: str = "auto"              # "auto": the model the task's paper used
  hidden: tuple = (40, 40)         # MLP hidden widths
  ways: int = 5                    # N, classification tasks only
  shots: int = 10                  # K support examples (per class for classification)
  query: int = 10                  # query examples (per class for classification)
  inner_lr: float = 0.01           # alpha
  inner_steps: int = 1             # k during meta-training
  meta_batch_size: int = 25
  optimizer: str = "adam"
  outer_lr: float = 1e-3           # beta
  steps: int = 70000
  seed: int = 0
  steps_per_call: int = 500        # meta-steps per jitted dispatch (lax.scan)
  task_axis: str = "vmap"          # vmap | map | auto
  remat: bool = False
  filters: int = 64                # Conv-4 channels
  norm: str = "batch"              # batch (transductive, MAML code) | none | support
  conv_impl: str = "auto"          # auto (patches on CPU, lax.conv elsewhere) | lax | patches
  log_every: int = 1000
  checkpoint_every: Optional[int] = None   # steps; None: every ~10 s of training
  eval_shots: int = 5
  eval_query: int = 100
  eval_steps: tuple = (1, 5, 10)
  eval_tasks: int = 1000
  baseline: str = "none"           # "pretrained": also train the MAML paper's baseline
  # Metric-based methods (issue 6).
  eval_ways: Optional[int] = None  # N at evaluation; None: --ways (ProtoNets train 60-way, test 5-way)
  read_steps: int = 5              # K, Matching Networks FCE attention-LSTM reads of the support set
  distort: bool = False            # Siamese: Koch et al.'s random affine distortions in training
  cosine_scale: float = 1.0        # Matching Networks: softmax(s * cosine); 1 = the paper's kernel
  learn_scale: bool = False        # Matching Networks: learn s, starting from cosine_scale
  eval_batch: int = 100            # test tasks per jitted evaluation call (lower it for big models)
  # Image data (jaxmeta.data): where the files are, and the class definitions.
  data_dir: Optional[str] = None   # None: $JAXMETA_DATA, else ~/.cache/jaxmeta/data
  cache_dir: Optional[str] = None  # decoded-array cache; None: ~/.cache/jaxmeta
  data_source: str = "files"       # files (official zips/folders) | tfds
  download: bool = False           # fetch missing official files first
  image_size: int = 28             # images resized to image_size x image_size
  rotation: str = "classes"        # classes (train rotations = new classes) | per-task | none
  split: str = "small-sets"        # class split protocol, see jaxmeta.data.omniglot
  within_alphabet: bool = False    # all N classes of a task from one alphabet
  preset: Optional[str] = None

  # Fields that may change between a run and its resumption.
  RESUMABLE_CHANGES = ("steps", "log_every", "checkpoint_every", "eval_shots", "eval_query",
                       "eval_steps", "eval_tasks", "baseline", "preset", "eval_ways",
                       "data_dir", "cache_dir", "download", "eval_batch")

  def to_json(self) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

  @classmethod
  def from_json(cls, data: dict) -> "Config":
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
      if k in names:
        kwargs[k] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)

  def replace(self, **changes) -> "Config":
    return dataclasses.replace(self, **changes)

  def differences(self, other: "Config") -> list[str]:
    """Fields (other than the resumable ones) whose values differ."""
    a, b = self.to_json(), other.to_json()
    return [k for k in a if k not in self.RESUMABLE_CHANGES and a[k] != b.get(k)]


# Named paper settings. Later issues add image presets here.
PRESETS: dict[str, dict] = {
    "maml-sinusoid": dict(task="sinusoid", algo="maml", shots=10, query=10, inner_lr=0.01,
                          inner_steps=1, meta_batch_size=25, outer_lr=1e-3, steps=70000,
                          baseline="pretrained"),
    "fomaml-sinusoid": dict(task="sinusoid", algo="fomaml", shots=10, query=10, inner_lr=0.01,
                            inner_steps=1, meta_batch_size=25, outer_lr=1e-3, steps=70000),
    "reptile-sinusoid": dict(task="sinusoid", algo="reptile", shots=10, query=10, inner_lr=0.01,
                             inner_steps=5, meta_batch_size=25, outer_lr=1e-3, steps=70000),
    "pretrained-sinusoid": dict(task="sinusoid", algo="pretrained", shots=10, query=10,
                                inner_lr=0.01, meta_batch_size=25, outer_lr=1e-3, steps=70000),
    # The MAML reference code's sinusoid run: its --update_lr defaults to 0.001 and the
    # README's sinusoid command keeps it (see benchmarks/RESULTS.md, "Sinusoid regression").
    "maml-sinusoid-reference": dict(task="sinusoid", algo="maml", shots=10, query=10,
                                    inner_lr=0.001, inner_steps=1, meta_batch_size=25,
                                    outer_lr=1e-3, steps=70000, baseline="pretrained"),
}

DESCRIPTIONS: dict[str, str] = {
    "maml-sinusoid": "Finn et al. 2017 sec. 5.1: MLP 40-40, alpha 0.01, 1 step, K=10, batch 25, Adam 1e-3, 70k steps",
    "fomaml-sinusoid": "first-order MAML with the maml-sinusoid settings",
    "reptile-sinusoid": "Reptile, 5 inner SGD steps, otherwise the maml-sinusoid settings",
    "pretrained-sinusoid": "the MAML paper's joint-training baseline on sinusoids",
    "maml-sinusoid-reference": "maml-sinusoid with alpha 0.001, as the MAML reference code ran it (no fine-tuning blow-ups)",
}

# Metric-based methods on Omniglot (issue 6). Paper settings on the small-sets protocol,
# with step counts sized for a CPU (the papers ran far longer); then one `<algo>-lake-small`
# preset per method: all 242 characters of the two small sets, ready for `jaxmeta eval-lake`.
_OMNIGLOT = dict(task="omniglot", split="small-sets", rotation="classes", steps_per_call=50,
                 log_every=100, eval_tasks=600, eval_steps=(0,), eval_query=15)
_METRIC_PRESETS = {
    # Snell et al. 2017: Conv-4 (64 filters, 2x2 pools), 60-way training, 5 queries, Adam 1e-3.
    "protonet-omniglot-1shot": dict(algo="protonet", model="conv4-pool", ways=60, shots=1, query=5,
                                    meta_batch_size=1, outer_lr=1e-3, steps=5000, eval_ways=5,
                                    eval_shots=1),
    "protonet-omniglot-5shot": dict(algo="protonet", model="conv4-pool", ways=60, shots=5, query=5,
                                    meta_batch_size=1, outer_lr=1e-3, steps=5000, eval_ways=5,
                                    eval_shots=5),
    # Vinyals et al. 2016: same Conv-4, trained on the test setting (5-way 1-shot), batch 32.
    "matching-omniglot": dict(algo="matching", model="conv4-pool", ways=5, shots=1, query=15,
                              meta_batch_size=32, outer_lr=1e-3, steps=3000, eval_shots=1),
    "matching-fce-omniglot": dict(algo="matching-fce", model="conv4-pool", ways=5, shots=1,
                                  query=15, meta_batch_size=32, outer_lr=1e-3, steps=3000,
                                  read_steps=5, eval_shots=1),
    # What benchmarks/RESULTS.md measured: a learned temperature on the cosine (from 10), and
    # 20-way training episodes, 2 per step; ~22 min at half of a 2-core CPU.
    "matching-omniglot-scaled": dict(algo="matching", model="conv4-pool", ways=20, shots=1,
                                     query=5, meta_batch_size=2, outer_lr=1e-3, steps=4400,
                                     cosine_scale=10.0, learn_scale=True, eval_ways=5,
                                     eval_shots=1),
    "matching-fce-omniglot-scaled": dict(algo="matching-fce", model="conv4-pool", ways=20,
                                         shots=1, query=5, meta_batch_size=2, outer_lr=1e-3,
                                         steps=4800, read_steps=5, cosine_scale=10.0,
                                         learn_scale=True, eval_ways=5, eval_shots=1),
    # Sung et al. 2018: 5-way 1-shot with 19 queries, Adam 1e-3, one episode per step; the
    # paper's encoder (pools after blocks 1-2 only: 7x7x64 maps for the relation module).
    # Its evaluation compares every query with every class map: 10 tasks per compiled call
    # keeps 20-way evaluation within a few GB.
    "relation-omniglot": dict(algo="relation", model="conv4-relation", ways=5, shots=1, query=19,
                              meta_batch_size=1, outer_lr=1e-3, steps=10000, eval_shots=1,
                              eval_batch=10),
    # Koch et al. 2015: the paper's 105x105 network, verification pairs, affine distortions
    # (heavy on a CPU); and the Conv-4 variant at 28x28.
    "siamese-koch-omniglot": dict(algo="siamese", model="koch", image_size=105, distort=True,
                                  ways=20, shots=1, query=1, meta_batch_size=8, outer_lr=6e-5,
                                  steps=20000, eval_shots=1, eval_query=1),
    "siamese-omniglot": dict(algo="siamese", model="conv4-koch", ways=20, shots=1, query=5,
                             meta_batch_size=2, outer_lr=1e-3, steps=2600, eval_ways=5,
                             eval_shots=1),
    # The metric papers' baseline: a classifier on all training classes, cosine NN on its
    # features; batches of ways * (shots + query) = 128 images.
    "embedding-nn-omniglot": dict(algo="embedding-nn", model="conv4-pool", ways=32, shots=1,
                                  query=3, meta_batch_size=1, outer_lr=1e-3, steps=4500,
                                  eval_ways=5, eval_shots=1),
}
_METRIC_DESCRIPTIONS = {
    "protonet-omniglot-1shot": "Snell et al. 2017: ProtoNet, Conv-4 pool, 60-way 1-shot 5-query training, 5-way test",
    "protonet-omniglot-5shot": "Snell et al. 2017: ProtoNet, Conv-4 pool, 60-way 5-shot 5-query training, 5-way test",
    "matching-omniglot": "Vinyals et al. 2016: Matching Nets (f = g), Conv-4 pool, 5-way 1-shot, batch 32",
    "matching-fce-omniglot": "Vinyals et al. 2016: Matching Nets with Full Context Embeddings, 5 reads",
    "matching-omniglot-scaled": "Matching Nets (f = g) with a learned cosine temperature, 20-way 1-shot, batch 2 (RESULTS.md)",
    "matching-fce-omniglot-scaled": "Matching Nets FCE with a learned cosine temperature, 20-way 1-shot, batch 2 (RESULTS.md)",
    "relation-omniglot": "Sung et al. 2018: Relation Net, its Conv-4 encoder (7x7 maps), 5-way 1-shot 19-query",
    "siamese-koch-omniglot": "Koch et al. 2015: the 105x105 Siamese network, affine distortions (slow on CPU)",
    "siamese-omniglot": "Koch et al. 2015 objective, Conv-4 twin with Koch's pooling (3x3x64 features), all pairs of 20-way episodes",
    "embedding-nn-omniglot": "baseline: classifier on the training characters, cosine nearest neighbour",
}
# `<algo>-lake-small`: the configurations of benchmarks/RESULTS.md trained on all 242
# characters of both small sets (split lake-small) for about 25 min on 2 CPU cores (step
# counts from the measured rates, 1.7x the rate at half of the machine); score with
# `jaxmeta eval-lake --workdir DIR --runs all_runs.zip`.
_LAKE = {"protonet": ("protonet-omniglot-5shot", 3200),
         "matching": ("matching-omniglot-scaled", 8000),
         "matching-fce": ("matching-fce-omniglot-scaled", 8000),
         "relation": ("relation-omniglot", 10000),
         "siamese": ("siamese-omniglot", 4500),
         "embedding-nn": ("embedding-nn-omniglot", 7500)}
for _algo, (_base, _steps) in _LAKE.items():
  _METRIC_PRESETS[f"{_algo}-lake-small"] = dict(
      _METRIC_PRESETS[_base], split="lake-small", steps=_steps, eval_ways=20, eval_shots=1)
  _METRIC_DESCRIPTIONS[f"{_algo}-lake-small"] = (
      f"{_base} on all 242 small-set characters (+rotations), {_steps} steps, for jaxmeta eval-lake")
PRESETS.update({k: dict(_OMNIGLOT, **v) for k, v in _METRIC_PRESETS.items()})
DESCRIPTIONS.update(_METRIC_DESCRIPTIONS)

# The metric papers' mini-ImageNet settings (84x84, Ravi & Larochelle split, 600 test tasks
# with 15 queries per class). Snell et al.: Conv-4 64 with pools, 30-way 1-shot / 20-way
# 5-shot training with 15 queries. Vinyals et al.: the same Conv-4, trained 5-way. Sung et
# al.: the Relation encoder (21x21 maps at 84x84), 15 queries (1-shot) / 10 (5-shot).
_MINI = dict(task="mini-imagenet", image_size=84, rotation="none", steps_per_call=20,
             log_every=100, eval_tasks=600, eval_steps=(0,), eval_query=15, eval_ways=5,
             eval_batch=20, outer_lr=1e-3)
_MINI_PRESETS = {}
for _k in (1, 5):
  _MINI_PRESETS.update({
      f"protonet-miniimagenet-{_k}shot": dict(
          algo="protonet", model="conv4-pool", ways=30 if _k == 1 else 20, shots=_k, query=15,
          meta_batch_size=1, steps=30000, eval_shots=_k),
      f"matching-miniimagenet-{_k}shot": dict(
          algo="matching", model="conv4-pool", ways=5, shots=_k, query=15, meta_batch_size=4,
          steps=30000, eval_shots=_k),
      f"matching-fce-miniimagenet-{_k}shot": dict(
          algo="matching-fce", model="conv4-pool", ways=5, shots=_k, query=15,
          meta_batch_size=4, steps=30000, read_steps=5, eval_shots=_k),
      f"relation-miniimagenet-{_k}shot": dict(
          algo="relation", model="conv4-relation", ways=5, shots=_k, query=15 if _k == 1 else 10,
          meta_batch_size=1, steps=100000, eval_shots=_k, eval_batch=2),   # 21x21 maps: ~1 GB a task
  })
PRESETS.update({k: dict(_MINI, **v) for k, v in _MINI_PRESETS.items()})
DESCRIPTIONS.update({k: f"{v['algo']} on mini-ImageNet {v['eval_shots']}-shot, the paper's "
                        f"training episodes ({v['ways']}-way {v['shots']}-shot {v['query']}-query)"
                     for k, v in _MINI_PRESETS.items()})

# Gradient-based meta-learning on images (issue 4). Finn et al. 2017 sec. 5.2 / app. A.1:
# Omniglot 5-way with the stride-2 Conv-4 (64 filters, batch statistics), alpha 0.4, one
# inner step, evaluated after 3 steps, meta-batch 32, query = K per class, Adam 1e-3, 60k
# steps; 20-way: alpha 0.1, 5 steps, meta-batch 16. mini-ImageNet: Conv-4 with 32 filters
# and 2x2 max-pools, alpha 0.01, 5 steps (10 at test), meta-batch 4 (1-shot) / 2 (5-shot),
# 15 queries. Evaluation: 600 test tasks with 15 queries per class.
_GBML_OMNIGLOT = dict(task="omniglot", model="conv4", split="small-sets", rotation="classes",
                      filters=64, norm="batch", task_axis="auto", conv_impl="auto",
                      outer_lr=1e-3, steps=60000, steps_per_call=50, log_every=500,
                      eval_tasks=600, eval_query=15)
_GBML_PRESETS = {
    "maml-omniglot-5w1s": dict(algo="maml", ways=5, shots=1, query=1, inner_lr=0.4, inner_steps=1,
                               meta_batch_size=32, eval_shots=1, eval_steps=(0, 1, 3)),
    "maml-omniglot-5w5s": dict(algo="maml", ways=5, shots=5, query=5, inner_lr=0.4, inner_steps=1,
                               meta_batch_size=32, eval_shots=5, eval_steps=(0, 1, 3)),
    "maml-omniglot-20w1s": dict(algo="maml", ways=20, shots=1, query=1, inner_lr=0.1,
                                inner_steps=5, meta_batch_size=16, eval_shots=1, eval_steps=(0, 5)),
    "maml-omniglot-20w5s": dict(algo="maml", ways=20, shots=5, query=5, inner_lr=0.1,
                                inner_steps=5, meta_batch_size=16, eval_shots=5, eval_steps=(0, 5)),
    # The MAML paper's non-convolutional rows: an MLP 256-128-64-64 (here without batch norm).
    "maml-omniglot-mlp-5w1s": dict(algo="maml", model="mlp", hidden=(256, 128, 64, 64), ways=5,
                                   shots=1, query=1, inner_lr=0.4, inner_steps=1,
                                   meta_batch_size=32, eval_shots=1, eval_steps=(0, 1, 3)),
    # What fits a shared 2-core CPU in about an hour (benchmarks/RESULTS.md): 5 queries per
    # class instead of 1 (less noisy meta-gradients), 3000 steps.
    "maml-omniglot-5w1s-cpu": dict(algo="maml", ways=5, shots=1, query=5, inner_lr=0.4,
                                   inner_steps=1, meta_batch_size=32, steps=3000, log_every=50,
                                   steps_per_call=25, eval_shots=1, eval_steps=(0, 1, 3, 10)),
    "maml-miniimagenet-5w1s": dict(task="mini-imagenet", model="conv4-pool", filters=32, algo="maml",
                                   ways=5, shots=1, query=15, inner_lr=0.01, inner_steps=5,
                                   meta_batch_size=4, image_size=84, rotation="none",
                                   eval_shots=1, eval_steps=(0, 10)),
    "maml-miniimagenet-5w5s": dict(task="mini-imagenet", model="conv4-pool", filters=32, algo="maml",
                                   ways=5, shots=5, query=15, inner_lr=0.01, inner_steps=5,
                                   meta_batch_size=2, image_size=84, rotation="none",
                                   eval_shots=5, eval_steps=(0, 10)),
}
_GBML_DESCRIPTIONS = {
    "maml-omniglot-5w1s": "Finn et al. 2017: stride-2 Conv-4 64, batch stats, alpha 0.4, 1 step (3 at test), batch 32, 60k steps",
    "maml-omniglot-5w5s": "as maml-omniglot-5w1s with K=5",
    "maml-omniglot-20w1s": "Finn et al. 2017: 20-way 1-shot, alpha 0.1, 5 steps, batch 16",
    "maml-omniglot-20w5s": "Finn et al. 2017: 20-way 5-shot, alpha 0.1, 5 steps, batch 16",
    "maml-omniglot-mlp-5w1s": "Finn et al. 2017's non-convolutional row: MLP 256-128-64-64 (no batch norm here)",
    "maml-omniglot-5w1s-cpu": "maml-omniglot-5w1s sized for ~1 h on 2 CPU cores: 5 queries/class, 3000 steps",
    "maml-miniimagenet-5w1s": "Finn et al. 2017: Conv-4 32 + max-pool, alpha 0.01, 5 steps (10 at test), batch 4",
    "maml-miniimagenet-5w5s": "Finn et al. 2017: mini-ImageNet 5-way 5-shot, batch 2",
}
for _name in ("maml-omniglot-5w1s", "maml-omniglot-5w5s", "maml-omniglot-20w1s", "maml-omniglot-20w5s",
              "maml-miniimagenet-5w1s", "maml-miniimagenet-5w5s"):
  _suffix = _name[len("maml-"):]
  # First-order MAML (Finn et al. 2017 sec. 5.2): the same settings, no second derivatives.
  _GBML_PRESETS[f"fomaml-{_suffix}"] = dict(_GBML_PRESETS[_name], algo="fomaml")
  _GBML_DESCRIPTIONS[f"fomaml-{_suffix}"] = f"first-order MAML with the {_name} settings"
  # Meta-SGD (Li et al. 2017): MAML's settings, per-parameter rates initialised at alpha.
  _GBML_PRESETS[f"metasgd-{_suffix}"] = dict(_GBML_PRESETS[_name], algo="metasgd")
  _GBML_DESCRIPTIONS[f"metasgd-{_suffix}"] = f"Meta-SGD, learned per-parameter alpha, {_name} settings"
  # ANIL (Raghu et al. 2020): MAML's settings, only the head adapted.
  _GBML_PRESETS[f"anil-{_suffix}"] = dict(_GBML_PRESETS[_name], algo="anil")
  _GBML_DESCRIPTIONS[f"anil-{_suffix}"] = f"ANIL (only the head adapted) with the {_name} settings"
# Reptile (Nichol et al. 2018, Omniglot): 5 inner steps on the support set, meta-batch 5,
# 50 steps at test; our inner loop is SGD (the paper's is Adam), so alpha is an SGD rate.
for _k in (1, 5):
  _GBML_PRESETS[f"reptile-omniglot-5w{_k}s"] = dict(
      algo="reptile", ways=5, shots=_k, query=_k, inner_lr=0.1, inner_steps=5,
      meta_batch_size=5, steps=100000, eval_shots=_k, eval_steps=(0, 5, 50))
  _GBML_DESCRIPTIONS[f"reptile-omniglot-5w{_k}s"] = (
      f"Nichol et al. 2018: 5-way {_k}-shot, 5 inner SGD steps (alpha 0.1), batch 5, 50 steps at test")
PRESETS.update({k: dict(_GBML_OMNIGLOT, **v) for k, v in _GBML_PRESETS.items()})
DESCRIPTIONS.update(_GBML_DESCRIPTIONS)


def _positive_int(name, v):
  if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
    raise ConfigError(f"--{name.replace('_', '-')}", f"must be a positive integer, got {v!r}")


def _positive_float(name, v):
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v != v or v == float("inf"):
    raise ConfigError(f"--{name.replace('_', '-')}", f"must be a positive finite number, got {v!r}")


def validate(config: Config, *, tasks=(), algorithms=(), models=()) -> Config:
  """Checks every field; raises :class:`ConfigError` naming the flag and what is allowed.

  ``tasks``, ``algorithms`` and ``models`` are the registered names (see
  :mod:`jaxmeta.registry`).
  """
  if tasks and config.task not in tasks:
    raise ConfigError("--task", f"unknown task {config.task!r}; choose one of {', '.join(sorted(tasks))}")
  if algorithms and config.algo not in algorithms:
    raise ConfigError("--algo", f"unknown algorithm {config.algo!r}; choose one of {', '.join(sorted(algorithms))}")
  if models and config.model != "auto" and config.model not in models:
    raise ConfigError("--model", f"unknown model {config.model!r}; choose auto or one of {', '.join(sorted(models))}")
  for name in ("ways", "shots", "query", "meta_batch_size", "steps", "steps_per_call",
               "log_every", "eval_shots", "eval_query", "eval_tasks"):
    _positive_int(name, getattr(config, name))
  if isinstance(config.inner_steps, bool) or not isinstance(config.inner_steps, int) or config.inner_steps < 0:
    raise ConfigError("--inner-steps", f"must be a non-negative integer, got {config.inner_steps!r}")
  if config.checkpoint_every is not None:
    _positive_int("checkpoint_every", config.checkpoint_every)
  for name in ("inner_lr", "outer_lr"):
    _positive_float(name, getattr(config, name))
  if config.optimizer not in OPTIMIZERS:
    raise ConfigError("--optimizer", f"must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}")
  if config.task_axis not in ("vmap", "map", "auto"):
    raise ConfigError("--task-axis", f"must be one of vmap, map, auto, got {config.task_axis!r}")
  if config.baseline not in ("none", "pretrained"):
    raise ConfigError("--baseline", f"must be none or pretrained, got {config.baseline!r}")
  if not config.hidden or any(isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in config.hidden):
    raise ConfigError("--hidden", f"must be comma-separated positive integers, got {config.hidden!r}")
  if not config.eval_steps or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in config.eval_steps):
    raise ConfigError("--eval-steps", f"must be comma-separated non-negative integers, got {config.eval_steps!r}")
  _positive_int("filters", config.filters)
  _positive_int("read_steps", config.read_steps)
  _positive_int("eval_batch", config.eval_batch)
  _positive_float("cosine_scale", config.cosine_scale)
  if config.eval_ways is not None:
    _positive_int("eval_ways", config.eval_ways)
  if config.norm not in ("batch", "none", "support"):
    raise ConfigError("--norm", f"must be one of batch, none, support, got {config.norm!r}")
  if config.conv_impl not in ("auto", "lax", "patches"):
    raise ConfigError("--conv-impl", f"must be one of auto, lax, patches, got {config.conv_impl!r}")
  if config.data_source not in ("files", "tfds"):
    raise ConfigError("--data-source", f"must be files or tfds, got {config.data_source!r}")
  if isinstance(config.image_size, bool) or not isinstance(config.image_size, int) \
      or not 4 <= config.image_size <= 512:
    raise ConfigError("--image-size", f"must be an integer in 4..512, got {config.image_size!r}")
  if config.rotation not in ("classes", "per-task", "none"):
    raise ConfigError("--rotation", f"must be one of classes, per-task, none, got {config.rotation!r}")
  from jaxmeta.data.omniglot import check_split
  check_split(config.split)
  if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
    raise ConfigError("--seed", f"must be a non-negative integer, got {config.seed!r}")
  return config


def from_preset(name: Optional[str], **overrides) -> Config:
  """Defaults, then the preset's values, then ``overrides`` (flags given explicitly)."""
  values = {}
  if name is not None:
    if name not in PRESETS:
      raise ConfigError("--preset", f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    values.update(PRESETS[name])
    values["preset"] = name
  values.update({k: v for k, v in overrides.items() if v is not None})
  return Config(**values)


def dumps(config: Config) -> str:
  return json.dumps(config.to_json(), indent=2, sort_keys=True)
