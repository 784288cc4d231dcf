"""jaxmeta: meta-learning ("learning to learn fast") as pure JAX.

Example:
  >>> import jax, optax, jaxmeta
  >>> task = jaxmeta.tasks.sinusoid(shots=10, query=10)
  >>> algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP((40, 40), 1), task, inner_lr=0.01)
  >>> optimizer = optax.adam(1e-3)
  >>> state = jaxmeta.init_state(jax.random.key(0), task, algo, optimizer)
  >>> train_step = jaxmeta.make_train_step(task, algo, optimizer, meta_batch_size=25)
  >>> state, metrics = train_step(state, jax.random.key(1))
"""
from jaxmeta import algorithms, identities, inner_loop, models, tasks
from jaxmeta.errors import CheckpointError, ConfigError, JaxmetaError, TrainingDivergedError
# The update-rule factories stay in their module (jaxmeta.inner_loop.sgd, .masked,
# .from_optax): a top-level jaxmeta.sgd would read like optax.sgd, an outer optimizer.
from jaxmeta.inner_loop import UpdateRule, adapt, sgd_step
from jaxmeta.train import (TrainState, evaluate, init_state, make_train_loop, make_train_step,
                           meta_batch_gradient, summarize)
from jaxmeta.types import (ADAPTATION_STEPS, PRESENTATIONS, Algorithm, CurveAxis, Episode,
                           TaskDistribution)

__version__ = "0.1.0"

__all__ = [
    "ADAPTATION_STEPS", "Algorithm", "CheckpointError", "ConfigError", "CurveAxis", "Episode",
    "JaxmetaError", "PRESENTATIONS", "TaskDistribution", "TrainState", "TrainingDivergedError",
    "UpdateRule", "adapt", "algorithms", "evaluate", "identities", "init_state", "inner_loop",
    "make_train_loop", "make_train_step", "meta_batch_gradient", "models", "sgd_step",
    "summarize", "tasks",
]
