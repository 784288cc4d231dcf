"""Predictions of a trained sinusoid model on one fixed task after 0, 1, ... fine-tuning
steps: the data of Finn et al. 2017's Figure 2 (MAML vs pretrained, K = 5).

Every run is shown the same task (amplitude, phase and K support points drawn from
:data:`TASK_SEED`), so the MAML and pretrained rows of the sinusoid table plot side by side.
"""
from __future__ import annotations

from pathlib import Path

TASK_SEED = 2017
GRID_POINTS = 100


def fixed_task(shots: int = 5, seed: int = TASK_SEED):
  """(amplitude, phase, support x, support y, grid x, grid y) of the figure's task, drawn
  from the sinusoid task family's ranges (amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5])."""
  import math

  import jax
  import jax.numpy as jnp
  k_amp, k_phase, k_x = jax.random.split(jax.random.key(seed), 3)
  amp = jax.random.uniform(k_amp, (), minval=0.1, maxval=5.0)
  phase = jax.random.uniform(k_phase, (), minval=0.0, maxval=math.pi)
  x = jax.random.uniform(k_x, (shots, 1), minval=-5.0, maxval=5.0)
  grid = jnp.linspace(-5.0, 5.0, GRID_POINTS)[:, None]
  return amp, phase, x, amp * jnp.sin(x - phase), grid, amp * jnp.sin(grid - phase)


def predictions(workdir: Path, steps=(0, 1, 10), shots: int = 5) -> dict:
  """The run's predictions on the fixed task's grid after each of ``steps`` SGD steps on
  its K support points, at the run's ``inner_lr`` (how the sinusoid rows are evaluated).

  Returns a JSON-ready dict: the task, the grid, the support points and
  ``{"after": {str(step): [prediction per grid point]}}``.
  """
  import jax
  import jax.numpy as jnp
  import numpy as np

  import jaxmeta
  from jaxmeta import experiment, registry
  config, params = experiment.load_run(Path(workdir))
  task = registry.build_task(config, "test", for_eval=True)
  model = registry.build_model(config, task)
  amp, phase, x, y, grid, grid_y = fixed_task(shots)

  def loss(p, batch):
    bx, by = batch
    return jnp.mean((model.apply(p, bx) - by) ** 2)

  @jax.jit
  def curve(p):
    adapted, (_, seen) = jaxmeta.adapt(loss, p, (x, y), lr=config.inner_lr, steps=max(steps),
                                       observe=lambda q: model.apply(q, grid)[:, 0])
    # ``observe`` sees the parameters before each step; append those after the last one.
    return jnp.concatenate([seen, model.apply(adapted, grid)[None, :, 0]])

  seen = np.asarray(curve(params))
  rnd = lambda v: [round(float(e), 5) for e in np.ravel(v)]
  return {"task_seed": TASK_SEED, "amplitude": float(amp), "phase": float(phase),
          "inner_lr": float(config.inner_lr), "grid_x": rnd(grid), "grid_y": rnd(grid_y),
          "support_x": rnd(x), "support_y": rnd(y),
          "after": {str(s): rnd(seen[s]) for s in steps}}
