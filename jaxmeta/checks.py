"""Argument checks shared by the library and the option declarations.

Each check raises :class:`~jaxmeta.errors.ConfigError` naming the *parameter* (``shots``),
never a command-line flag: the command line maps parameter names to its flags. Booleans
are refused where integers are expected (``True`` is an ``int`` in Python).

Example:
  >>> integer("shots", 5)
  5
  >>> integer("shots", 0)
  Traceback (most recent call last):
  ...
  jaxmeta.errors.ConfigError: shots: must be a positive integer, got 0
"""
from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import numpy as np

from jaxmeta.errors import ConfigError


def is_int(value) -> bool:
  """An integer that is not a bool (numpy integers count)."""
  return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def sign_text(minimum: Optional[int]) -> str:
  """How integers ``>= minimum`` are called: "positive", "non-negative", ">= 2"."""
  return {1: "positive", 0: "non-negative", None: "any"}.get(minimum, f">= {minimum}")


def int_range_text(minimum: Optional[int], maximum: Optional[int] = None) -> str:
  """The integers ``minimum..maximum`` in words ("a positive integer up to 100")."""
  text = f"a {sign_text(minimum)} integer" if minimum in (0, 1) else f"an integer {sign_text(minimum)}"
  return text if maximum is None else f"{text} up to {maximum}"


def integer(name: str, value, minimum: Optional[int] = 1, maximum: Optional[int] = None) -> int:
  """``value`` as an int in ``minimum..maximum`` (either bound may be ``None``)."""
  if not is_int(value) or (minimum is not None and value < minimum):
    raise ConfigError(name, f"must be {int_range_text(minimum)}, got {value!r}")
  if maximum is not None and value > maximum:
    raise ConfigError(name, f"must be at most {maximum}, got {value!r}")
  return int(value)


def integers(name: str, values, minimum: Optional[int] = 1, maximum: Optional[int] = None) -> tuple:
  """A non-empty sequence of ints in ``minimum..maximum``, as a tuple."""
  if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
    values = (values,)
  values = tuple(values)
  if not values or any(not is_int(v) or (minimum is not None and v < minimum)
                       or (maximum is not None and v > maximum) for v in values):
    bound = "" if maximum is None else f" up to {maximum}"
    raise ConfigError(name, f"must be comma-separated {sign_text(minimum)} integers{bound}, "
                      f"got {values!r}")
  return tuple(int(v) for v in values)


def positive_number(name: str, value) -> float:
  """A finite number > 0."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
      or not math.isfinite(value) or not value > 0:
    raise ConfigError(name, f"must be a positive finite number, got {value!r}")
  return float(value)


def degrees(name: str, value) -> float:
  """An angle in ``[0, 180]`` degrees (the bound of a random rotation).

  Example:
    >>> degrees("jitter_degrees", 15)
    15.0
    >>> degrees("jitter_degrees", 200)
    Traceback (most recent call last):
    ...
    jaxmeta.errors.ConfigError: jitter_degrees: must be a number of degrees in [0, 180], got 200
  """
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
      or not 0 <= value <= 180:
    raise ConfigError(name, f"must be a number of degrees in [0, 180], got {value!r}")
  return float(value)


def fraction(name: str, value) -> float:
  """A number in ``[0, 1)`` (an exponential decay rate such as Adam's beta1).

  Example:
    >>> fraction("inner_beta1", 0)
    0.0
    >>> fraction("inner_beta1", 1.5)
    Traceback (most recent call last):
    ...
    jaxmeta.errors.ConfigError: inner_beta1: must be a number in [0, 1), got 1.5
  """
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
      or not math.isfinite(value) or not 0 <= value < 1:
    raise ConfigError(name, f"must be a number in [0, 1), got {value!r}")
  return float(value)


def one_of(name: str, value, choices: Sequence) -> object:
  """``value`` if it is one of ``choices``."""
  if value not in tuple(choices):
    raise ConfigError(name, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
  return value
