"""The run configuration, generated from the option declarations.

Every option is declared once (:mod:`jaxmeta.options`): the shared ones here, a method's
own beside the method (``jaxmeta/algorithms/matching.py`` declares ``cosine_scale``), a
task's beside the task (the image-data options in :mod:`jaxmeta.data.omniglot`).
:class:`Config` is a frozen dataclass with one field per option; the command line's flags
and ``--help`` (:mod:`jaxmeta.cli`), :func:`validate` and the ``config.json`` round trip
are all generated from the same declarations. Values come from, in increasing priority:
the defaults (MAML on sinusoid regression, Finn et al. 2017 sec. 5.1), a preset
(:mod:`jaxmeta.presets`), and flags given explicitly.

Example:
  >>> config = from_preset("maml-omniglot-5w1s", steps=10)
  >>> config.inner_lr, config.ways, config.steps
  (0.4, 5, 10)
  >>> validate(config.replace(shots=0))
  Traceback (most recent call last):
  ...
  jaxmeta.errors.ConfigError: shots: must be a positive integer, got 0
"""
from __future__ import annotations

import dataclasses
import json
from typing import Optional

from jaxmeta import checks, parallel
from jaxmeta import options as opt
from jaxmeta import presets as _presets
from jaxmeta import registry
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import INNER_OPTIMIZERS
from jaxmeta.models.conv import CONV_IMPLS, NORMS
from jaxmeta.train import TASK_AXIS_MODES

OPTIMIZERS = tuple(registry.OPTIMIZERS)
OUTER_SCHEDULES = tuple(registry.OUTER_SCHEDULES)
EVAL_NORMS = registry.EVAL_NORMS
BASELINES = ("none", "pretrained")

_MODEL = dict(group="model")
# Upper bounds far above any real run, so that a typo fails here, not in XLA after minutes
# of compiling (the step counter is int32; memory is estimated from the shapes later).
_MAX_CLASSES, _MAX_EXAMPLES, _MAX_WIDTH = 100_000, 100_000, 65_536
_MAX_INNER_STEPS, _MAX_TASKS, _MAX_STEPS = 100_000, 10_000_000, 2**31 - 1
_EVAL = dict(group="evaluation", resumable=True)

# The options every run has. Options of one task, model or method are declared beside it
# and collected from :mod:`jaxmeta.registry`.
CORE_OPTIONS = (
    opt.text("preset", None, "named paper settings (see `jaxmeta presets`)", resumable=True,
             check=lambda n, v: _check_preset(v)),
    opt.choice("task", "sinusoid", lambda: tuple(registry.TASKS), "task distribution",
               noun="task"),
    opt.choice("algo", "maml", lambda: tuple(registry.ALGORITHMS), "meta-learning method",
               noun="algorithm"),
    opt.choice("model", "auto", lambda: ("auto",) + tuple(registry.MODELS),
               "model; auto: the model the task's paper used", noun="model"),
    opt.integer("ways", 5, "N classes per task (classification)", maximum=_MAX_CLASSES),
    opt.integer("shots", 10, "K support examples (per class for classification)",
                maximum=_MAX_EXAMPLES),
    opt.integer("query", 10, "query examples (per class for classification)",
                maximum=_MAX_EXAMPLES),
    opt.number("inner_lr", 0.01, "alpha, the inner-loop step size"),
    opt.choice("inner_loss_scale", "mean", ("mean", "ways"), "the inner loss of MAML, FOMAML "
               "and ANIL: mean (the support set's mean loss) | ways (N times it: the MAML "
               "authors' per-example cross-entropy / K summed over the support set, the loss "
               "their alpha steps on)"),
    opt.choice("inner_optimizer", "sgd", INNER_OPTIMIZERS, "the inner loop's optimizer, created "
               "fresh per task: sgd (theta - inner_lr grad, MAML eq. 1) | adam (optax.adam with "
               "--inner-lr, --inner-beta1, --inner-beta2; Reptile's published inner loop)"),
    opt.Option("inner_beta1", 0.9, "Adam's beta1 in the inner loop (Reptile's published "
               "setting: 0)", "float", checks.fraction, "a number in [0, 1)"),
    opt.Option("inner_beta2", 0.999, "Adam's beta2 in the inner loop", "float", checks.fraction,
               "a number in [0, 1)"),
    opt.integer("inner_steps", 1, "k, inner steps during meta-training (0: no adaptation)",
                minimum=0, maximum=_MAX_INNER_STEPS),
    opt.integer("meta_batch_size", 25, "tasks per meta-step", maximum=_MAX_TASKS),
    opt.choice("optimizer", "adam", OPTIMIZERS, "outer optimizer"),
    opt.number("outer_lr", 1e-3, "beta, the outer learning rate"),
    opt.choice("outer_schedule", "constant", OUTER_SCHEDULES, "the outer learning rate over "
               "training: constant | linear (from --outer-lr down to 0 at --steps; raising "
               "--steps on resume stretches what is left of it) | halve (halved every "
               "--outer-halve-every steps)"),
    opt.number("outer_clip_norm", None, "clip the meta-gradient to this global norm before "
               "the outer optimizer (default: no clipping; Relation Nets' code: 0.5)"),
    opt.integer("outer_halve_every", 2000, "with --outer-schedule halve: steps between "
                "halvings of the outer learning rate (ProtoNets: 2000 episodes)",
                maximum=_MAX_STEPS),
    opt.integer("steps", 70000, "meta-steps in all (raise it to train a run longer; with "
                "--outer-schedule linear the rest of the schedule then runs to the new --steps)",
                maximum=_MAX_STEPS, resumable=True),
    opt.integer("seed", 0, "seed of every random stream of the run (jax.random.key takes "
                "32 bits)", minimum=0, maximum=2**32 - 1),
    opt.integer("steps_per_call", 500, "meta-steps per jitted dispatch (lax.scan)",
                maximum=_MAX_STEPS),
    opt.choice("task_axis", "vmap", TASK_AXIS_MODES, "how tasks are batched: vmap, lax.map, "
               "or auto (map on CPU, vmap elsewhere)"),
    opt.Option("devices", 1, "devices the meta-batch is split over, per process: all, or a "
               "count (the global meta-batch stays --meta-batch-size, which must be a multiple "
               "of the devices of every process together)", "str", parallel.parse_devices,
               "all or a positive integer", resumable=True, group="devices"),
    opt.flag("remat", "rematerialise inner steps in the backward pass (memory constant in k)"),
    opt.integer("log_every", 1000, "steps between metrics.jsonl records", maximum=_MAX_STEPS,
                resumable=True),
    opt.flag("tensorboard", "also write the metrics.jsonl scalars as TensorBoard event files "
             "in DIR/tensorboard (needs tensorboardX: pip install jaxmeta[tensorboard])",
             resumable=True),
    opt.integer("checkpoint_every", None, "steps between checkpoints (default: every ~10 s)",
                maximum=_MAX_STEPS, resumable=True),
    opt.choice("baseline", "none", BASELINES, "also train the MAML paper's pretrained "
               "baseline", resumable=True),
    opt.integers("hidden", (40, 40), "MLP hidden widths, e.g. 40,40", maximum=_MAX_WIDTH, **_MODEL),
    opt.choice("activation", "relu", ("relu", "tanh"), "MLP hidden-layer nonlinearity",
               **_MODEL),
    opt.integer("filters", 64, "Conv-4 channels", maximum=_MAX_WIDTH, **_MODEL),
    opt.choice("norm", "batch", NORMS, "Conv-4 normalisation: batch (transductive, as the MAML "
               "code) | none | support (support-set statistics only)", **_MODEL),
    opt.choice("eval_norm", "episode", EVAL_NORMS, "batch norm at evaluation of a run trained "
               "with --norm batch: episode (support and query normalised together, "
               "transductive, as before) | support (the support set's statistics normalise "
               "every query: non-transductive, a query's prediction does not depend on the "
               "other queries)", **_EVAL),
    opt.choice("conv_impl", "auto", CONV_IMPLS, "convolution implementation (auto: "
               "patches+matmul on CPU and GPU, lax.conv on TPU)", **_MODEL),
    opt.integer("eval_shots", 5, "K at evaluation after training", maximum=_MAX_EXAMPLES, **_EVAL),
    opt.integer("eval_query", 100, "query examples per class at evaluation",
                maximum=_MAX_EXAMPLES, **_EVAL),
    opt.integers("eval_steps", (1, 5, 10), "points of the evaluation curve to report: "
                 "adaptation steps (sequence models: presentations), e.g. 1,5,10", minimum=0,
                 maximum=_MAX_INNER_STEPS, **_EVAL),
    opt.integer("eval_tasks", 1000, "fresh test tasks to evaluate", maximum=_MAX_TASKS, **_EVAL),
    opt.integer("eval_ways", None, "N at evaluation (default: --ways); e.g. ProtoNets train "
                "60-way and test 5-way", maximum=_MAX_CLASSES, **_EVAL),
    opt.integer("eval_batch", 100, "test tasks per jitted evaluation call (lower it if "
                "evaluation runs out of memory)", maximum=_MAX_TASKS, **_EVAL),
)

# name -> Option, every option of every registered component, in help order.
OPTIONS: dict[str, opt.Option] = opt.collect(CORE_OPTIONS, registry.declared_options())
RESUMABLE = tuple(name for name, o in OPTIONS.items() if o.resumable)

# Presets, name -> values (the declarations, with paper and table, are in jaxmeta.presets).
PRESETS: dict[str, dict] = {name: p.values for name, p in _presets.PRESETS.items()}
DESCRIPTIONS: dict[str, str] = {name: p.description for name, p in _presets.PRESETS.items()}


def _check_preset(name):
  if name not in PRESETS:
    raise ConfigError("preset", f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
  return name


class _ConfigMethods:
  """Methods of :class:`Config` (its fields are generated from :data:`OPTIONS`)."""

  # Fields that may change between a run and its resumption.
  RESUMABLE_CHANGES = RESUMABLE

  def to_json(self) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

  @classmethod
  def from_json(cls, data: dict) -> "Config":
    """A config from ``config.json``; options added since the run was written take their
    defaults, keys no option declares any more are ignored."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})

  def replace(self, **changes) -> "Config":
    return dataclasses.replace(self, **changes)

  def differences(self, other: "Config") -> list[str]:
    """Fields (other than the resumable ones) whose values differ."""
    a, b = self.to_json(), other.to_json()
    return [k for k in a if k not in RESUMABLE and a[k] != b.get(k)]


Config = dataclasses.make_dataclass(
    "Config", [(name, object, dataclasses.field(default=o.default)) for name, o in OPTIONS.items()],
    bases=(_ConfigMethods,), frozen=True, namespace={"__module__": __name__})
Config.__doc__ = ("A whole run: one field per option of :data:`OPTIONS` (``jaxmeta train --help`` "
                  "lists them). Defaults: MAML on sinusoid regression (Finn et al. 2017, sec. 5.1).")


def validate(config: Config, **_registered) -> Config:
  """Checks every field with its option; raises :class:`ConfigError` naming the parameter.

  Returns the config with normalised values (lists become tuples). Keyword arguments are
  accepted for compatibility and ignored: the registered names come from
  :mod:`jaxmeta.registry`.
  """
  values = opt.validate(OPTIONS, {f.name: getattr(config, f.name) for f in dataclasses.fields(config)})
  return Config(**values)


def from_preset(name: Optional[str], **overrides) -> Config:
  """Defaults, then the preset's values, then ``overrides`` (flags given explicitly).

  Without a preset, a task other than the default starts from its paper's preset (the
  task's registration names it): ``task="omniglot"`` alone gives the MAML paper's 5-way
  1-shot setting, not the sinusoid's episode and evaluation sizes.
  """
  values = {}
  task = overrides.get("task")
  if name is None and task in registry.TASKS and registry.TASKS[task].preset is not None:
    name = registry.TASKS[task].preset
  if name is not None:
    _check_preset(name)
    values.update(PRESETS[name])
    values["preset"] = name
  values.update({k: v for k, v in overrides.items() if v is not None})
  unknown = sorted(set(values) - set(OPTIONS))
  if unknown:
    raise ConfigError(unknown[0], f"is not an option; the options are {', '.join(OPTIONS)}")
  return Config(**values)


def dumps(config: Config) -> str:
  return json.dumps(config.to_json(), indent=2, sort_keys=True)
