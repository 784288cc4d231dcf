"""Sinusoid regression (Finn et al. 2017, section 5.1).

Each task is ``y = A sin(x - phi)`` with ``A ~ U[0.1, 5]``, ``phi ~ U[0, pi]`` and inputs
``x ~ U[-5, 5]``; the loss is the mean squared error.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxmeta import checks
from jaxmeta.types import Episode, TaskDistribution


def mse(predictions: jax.Array, targets: jax.Array) -> jax.Array:
  return jnp.mean((predictions - targets) ** 2)


def sinusoid(shots: int = 10, query: int = 10, *, amplitude=(0.1, 5.0), phase=(0.0, math.pi),
             x_range=(-5.0, 5.0)) -> TaskDistribution:
  """The sinusoid task family of the MAML paper.

  Args:
    shots: K, the number of support points a task is adapted on.
    query: number of query points the adapted model is scored on.
    amplitude: range of the uniform amplitude ``A``.
    phase: range of the uniform phase ``phi``.
    x_range: range of the uniform inputs.

  Returns:
    A :class:`~jaxmeta.types.TaskDistribution` whose ``sample(key)`` is pure JAX.

  Example:
    >>> import jax
    >>> task = sinusoid(shots=5, query=100)
    >>> episode = task.sample(jax.random.key(0))
    >>> episode.support_x.shape, episode.query_y.shape
    ((5, 1), (100, 1))
  """
  checks.integer("shots", shots)
  checks.integer("query", query)

  def sample(key: jax.Array) -> Episode:
    k_amp, k_phase, k_x = jax.random.split(key, 3)
    amp = jax.random.uniform(k_amp, (), minval=amplitude[0], maxval=amplitude[1])
    ph = jax.random.uniform(k_phase, (), minval=phase[0], maxval=phase[1])
    x = jax.random.uniform(k_x, (shots + query, 1), minval=x_range[0], maxval=x_range[1])
    y = amp * jnp.sin(x - ph)
    return Episode(x[:shots], y[:shots], x[shots:], y[shots:])

  return TaskDistribution(name="sinusoid", sample=sample, loss=mse, metric=mse,
                          metric_name="mse", output_size=1)
