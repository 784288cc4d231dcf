"""Options declared once: name, type, default, help, allowed values, resumability.

An :class:`Option` is plain data. The command line generates its flags and ``--help``
from it, :func:`validate` checks values with it before anything is compiled, and the run
configuration (``config.json``) takes its fields, defaults and round trip from it. A
method declares its own options beside its code and lists them in its
:class:`Registration`; nothing else has to change to add one.

Example:
  >>> shots = integer("shots", 10, "K support examples per class")
  >>> shots.flag, shots.describe_allowed()
  ('--shots', 'a positive integer')
  >>> shots.validate(5)
  5
  >>> shots.validate(0)
  Traceback (most recent call last):
  ...
  jaxmeta.errors.ConfigError: shots: must be a positive integer, got 0
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

from jaxmeta import checks
from jaxmeta.errors import ConfigError

# Option kinds, i.e. how the command line reads a value from text.
KINDS = ("int", "float", "str", "bool", "ints")


class Option(NamedTuple):
  """One setting of a run.

  Attributes:
    name: the parameter name (``inner_lr``); the flag is ``--inner-lr``.
    default: the value when neither a preset nor a flag sets it (``None``: unset).
    help: one line for ``--help``.
    kind: one of :data:`KINDS`.
    check: ``(name, value) -> value`` raising :class:`~jaxmeta.errors.ConfigError`; the
      value returned is the one kept (e.g. a list becomes a tuple).
    allowed: the allowed values in words, for ``--help``.
    choices: the allowed values, or a callable giving them (names registered later).
    resumable: may differ between a run and its resumption (``--steps``, evaluation
      settings, where the data is); every other option must match the run's.
    group: the ``--help`` section.
  """
  name: str
  default: Any
  help: str
  kind: str = "str"
  check: Optional[Callable[[str, Any], Any]] = None
  allowed: str = ""
  choices: Union[Sequence, Callable[[], Sequence], None] = None
  resumable: bool = False
  group: str = "run"

  @property
  def flag(self) -> str:
    return "--" + self.name.replace("_", "-")

  def allowed_values(self) -> Optional[tuple]:
    """The choices, resolved now (registered names are known only after registration)."""
    if self.choices is None:
      return None
    return tuple(self.choices() if callable(self.choices) else self.choices)

  def describe_allowed(self) -> str:
    values = self.allowed_values()
    if values is not None:
      return "one of " + ", ".join(map(str, values))
    return self.allowed

  def validate(self, value):
    """``value`` checked (and normalised); ``None`` is allowed where the default is."""
    if value is None and self.default is None:
      return None
    if self.kind == "bool":
      if not isinstance(value, bool):
        raise ConfigError(self.name, f"must be true or false, got {value!r}")
      return value
    if self.check is not None:
      return self.check(self.name, value)
    values = self.allowed_values()
    if values is not None:
      return checks.one_of(self.name, value, values)
    if self.kind == "str" and not isinstance(value, str):
      raise ConfigError(self.name, f"must be a string, got {value!r}")
    return value


def integer(name: str, default: Optional[int], help: str, *, minimum: Optional[int] = 1,
            maximum: Optional[int] = None, **kw) -> Option:
  """An integer option in ``minimum..maximum``."""
  return Option(name, default, help, "int",
                lambda n, v: checks.integer(n, v, minimum, maximum),
                checks.int_range_text(minimum, maximum), **kw)


def integers(name: str, default: tuple, help: str, *, minimum: int = 1,
             maximum: Optional[int] = None, **kw) -> Option:
  """Comma-separated integers on the command line (``1,5,10``), a tuple in the config."""
  bound = "" if maximum is None else f" up to {maximum}"
  return Option(name, tuple(default), help, "ints",
                lambda n, v: checks.integers(n, v, minimum, maximum),
                f"comma-separated {checks.sign_text(minimum)} integers{bound}", **kw)


def number(name: str, default: float, help: str, **kw) -> Option:
  """A positive finite number."""
  return Option(name, default, help, "float", checks.positive_number,
                "a positive finite number", **kw)


def choice(name: str, default: str, choices, help: str, *, noun: str = "", **kw) -> Option:
  """One of a fixed set of strings, or of names registered later (pass a callable).

  ``noun`` words the error for names: "unknown algorithm 'x'; choose one of ...".
  """
  def check(n, value):
    allowed = tuple(choices() if callable(choices) else choices)
    if value in allowed:
      return value
    if noun:
      raise ConfigError(n, f"unknown {noun} {value!r}; choose one of {', '.join(sorted(allowed))}")
    return checks.one_of(n, value, allowed)
  return Option(name, default, help, "str", check, choices=choices, **kw)


def flag(name: str, help: str, **kw) -> Option:
  """A boolean, ``False`` unless given (``--name`` / ``--no-name``)."""
  return Option(name, False, help, "bool", allowed="true or false", **kw)


def text(name: str, default: Optional[str], help: str, *, check=None, allowed: str = "",
         **kw) -> Option:
  """A string, e.g. a path, with an optional check."""
  return Option(name, default, help, "str", check, allowed, **kw)


class Registration(NamedTuple):
  """A task, model or method as the command line knows it.

  Attributes:
    name: what ``--task`` / ``--model`` / ``--algo`` names it by.
    build: the builder; for a method ``(config, model, task) -> Algorithm`` where
      ``config`` has an attribute per option.
    options: options this component declares (its own, e.g. Matching Nets'
      ``cosine_scale``).
    reads: names of options declared elsewhere that the builder reads (``inner_lr``).
    description: one line for listings.
    train_task: for a method that trains on something other than the run's episodes,
      ``(config, split) -> TaskDistribution`` (the embedding baseline trains a classifier).
    preset: for a task, the preset whose values a run of it starts from when no preset is
      named (its paper's setting: episode and evaluation sizes, model, inner rate).
    episodes: for a method whose episodes are not the task's (sequence models such as
      MANN), ``(config, split, for_eval) -> TaskDistribution`` used for training AND
      evaluation instead of the task's N-way K-shot episodes.
  """
  name: str
  build: Callable
  options: tuple = ()
  reads: tuple = ()
  description: str = ""
  train_task: Optional[Callable] = None
  preset: Optional[str] = None
  episodes: Optional[Callable] = None

  def option_names(self) -> tuple:
    return tuple(o.name for o in self.options) + tuple(self.reads)


def collect(*groups: Sequence[Option]) -> dict[str, Option]:
  """``name -> Option`` over several declarations; a name declared twice must be the same
  option (two methods may share one, e.g. ``matching`` and ``matching-fce``)."""
  out: dict[str, Option] = {}
  for group in groups:
    for option in group:
      if option.kind not in KINDS:
        raise ValueError(f"option {option.name}: kind must be one of {KINDS}, got {option.kind!r}")
      if option.name in out and out[option.name] is not option:
        raise ValueError(f"option {option.name!r} is declared twice")
      out[option.name] = option
  return out


def validate(options: dict[str, Option], values: dict) -> dict:
  """Every value checked by its option (in the order of ``values``); returns the
  normalised values.

  Raises:
    ConfigError: naming the first parameter whose value is not allowed.
  """
  return {name: options[name].validate(value) if name in options else value
          for name, value in values.items()}
