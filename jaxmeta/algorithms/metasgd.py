"""Meta-SGD (Li, Zhou, Chen & Li 2017): MAML with learned per-parameter inner step sizes."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta import options
from jaxmeta.algorithms.common import (adapted_query_loss, check_flag, check_inner_lr,
                                      check_inner_steps, check_model, check_task, finetune_curve,
                                      model_init)
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import sgd
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode, TaskDistribution


# Li et al. 2017 sec. 4: "alpha is randomly initialized from [0.005, 0.1]".
PAPER_ALPHA_RANGE = (0.005, 0.1)


def metasgd(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
            inner_steps: int = 1, remat: bool = False,
            alpha_range: tuple[float, float] | None = None) -> Algorithm:
  """Meta-SGD: ``theta' = theta - alpha * grad L_s(theta)`` with ``alpha`` a vector.

  The meta-parameters are ``{"model": theta, "inner_lr": alpha}``, ``alpha`` of the same
  shape as ``theta`` (Li et al. 2017, eq. 3), and both are learned by the outer optimizer
  from the query loss after adaptation, second order through :func:`~jaxmeta.inner_loop.adapt`
  with the update rule ``jaxmeta.inner_loop.sgd(alpha)`` (MAML's rule with a pytree of
  rates). ``alpha`` starts at ``inner_lr`` everywhere, or, given ``alpha_range``, each
  entry uniformly in it (the paper's :data:`PAPER_ALPHA_RANGE`). Evaluation fine-tunes
  with the learned ``alpha``.

  With ``inner_steps=0`` nothing adapts: the meta-gradient is ``grad L_q(theta)`` for
  ``theta`` and zero for ``alpha`` (unused), as for :func:`~jaxmeta.algorithms.maml`.

  Args:
    model: a flax module.
    task: supplies ``loss`` and ``metric``.
    inner_lr: initial value of every entry of ``alpha``, a positive finite number.
    inner_steps: k >= 0, inner steps during meta-training (the paper uses 1).
    remat: rematerialise inner steps in the backward pass.
    alpha_range: ``(low, high)``, 0 < low < high: draw each initial rate uniformly in it
      instead of starting at ``inner_lr`` (then only checked).

  Raises:
    ConfigError: naming the bad argument (``inner_lr``, ``inner_steps``, ``model``, ...).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Example:
    >>> import jax, jaxmeta
    >>> task = jaxmeta.tasks.sinusoid()
    >>> algo = metasgd(jaxmeta.models.MLP((40, 40), 1), task)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> sorted(params)
    ['inner_lr', 'model']
    >>> algo.evaluate(params, task.sample(jax.random.key(2)), 3, jax.random.key(3)).shape
    (4,)
  """
  check_model(model)
  check_task(task)
  inner_lr = check_inner_lr(inner_lr)
  inner_steps = check_inner_steps(inner_steps)
  remat = check_flag("remat", remat)
  if alpha_range is not None:
    if (not isinstance(alpha_range, (tuple, list)) or len(alpha_range) != 2
        or not all(isinstance(v, (int, float)) for v in alpha_range)
        or not 0 < alpha_range[0] < alpha_range[1]):
      raise ConfigError("alpha_range", f"must be (low, high) with 0 < low < high, got "
                        f"{alpha_range!r}")
  init_model = model_init(model, task)

  def init(key: jax.Array, episode: Episode):
    theta = init_model(key, episode)   # the same theta as before alpha_range existed
    if alpha_range is None:
      alpha = jax.tree.map(lambda v: jnp.full_like(v, inner_lr), theta)
    else:
      leaves, treedef = jax.tree.flatten(theta)
      keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
      alpha = treedef.unflatten([jax.random.uniform(k, v.shape, v.dtype, *alpha_range)
                                 for k, v in zip(keys, leaves)])
    return {"model": theta, "inner_lr": alpha}

  def query_loss_after_adaptation(params, episode: Episode):
    # theta - alpha o grad L_s(theta) (Li et al. 2017, eq. 3)
    return adapted_query_loss(model, task, params["model"], episode, sgd(params["inner_lr"]),
                              steps=inner_steps, remat=remat)

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    return jax.grad(query_loss_after_adaptation, has_aux=True)(params, episode)

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del key
    return finetune_curve(model, task, params["model"], episode, sgd(params["inner_lr"]),
                          num_steps, observe_at)

  return Algorithm("metasgd", init, meta_grad, evaluate)


def _from_config(config, model, task) -> Algorithm:
  optimizer = getattr(config, "inner_optimizer", "sgd")
  if optimizer != "sgd":
    raise ConfigError("inner_optimizer", f"Meta-SGD's inner rule is SGD with its learned "
                      f"per-parameter rates; got {optimizer!r} (use sgd, or another method)")
  alpha_range = PAPER_ALPHA_RANGE if config.metasgd_init == "uniform" else None
  return metasgd(model, task, inner_lr=config.inner_lr, inner_steps=config.inner_steps,
                 remat=config.remat, alpha_range=alpha_range)


OPTIONS = (
    options.choice("metasgd_init", "constant", ("constant", "uniform"), "Meta-SGD: initial "
                   "per-parameter rates: constant (--inner-lr everywhere) | uniform (each in "
                   "[0.005, 0.1], the paper's)"),
)

REGISTRATION = Registration(
    "metasgd", _from_config, OPTIONS, reads=("inner_lr", "inner_steps", "remat", "inner_optimizer"),
    description="Meta-SGD (Li et al. 2017): learned per-parameter inner rates, initialised at "
                "--inner-lr.")
