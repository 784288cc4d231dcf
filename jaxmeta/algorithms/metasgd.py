"""Meta-SGD (Li, Zhou, Chen & Li 2017): MAML with learned per-parameter inner step sizes."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmeta.algorithms.common import finetune_evaluate, model_init, model_loss, query_batch
from jaxmeta.inner_loop import adapt
from jaxmeta.types import Algorithm, Episode, TaskDistribution


def metasgd(model: nn.Module, task: TaskDistribution, *, inner_lr: float = 0.01,
            inner_steps: int = 1, remat: bool = False) -> Algorithm:
  """Meta-SGD: ``theta' = theta - alpha * grad L_s(theta)`` with ``alpha`` a vector.

  The meta-parameters are ``{"model": theta, "inner_lr": alpha}``, ``alpha`` of the same
  shape as ``theta`` (Li et al. 2017, eq. 3), and both are learned by the outer optimizer
  from the query loss after adaptation, second order through :func:`~jaxmeta.inner_loop.adapt`
  (which takes a pytree learning rate). ``alpha`` starts at ``inner_lr`` everywhere.
  Evaluation fine-tunes with the learned ``alpha``.

  Args:
    model: a flax module.
    task: supplies ``loss`` and ``metric``.
    inner_lr: initial value of every entry of ``alpha``.
    inner_steps: k, inner steps during meta-training (the paper uses 1).
    remat: rematerialise inner steps in the backward pass.

  Returns:
    An :class:`~jaxmeta.types.Algorithm`.

  Example:
    >>> import jax, jaxmeta
    >>> task = jaxmeta.tasks.sinusoid()
    >>> algo = metasgd(jaxmeta.models.MLP((40, 40), 1), task)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> sorted(params)
    ['inner_lr', 'model']
  """
  loss_fn = model_loss(model, task)
  init_model = model_init(model)

  def init(key: jax.Array, episode: Episode):
    theta = init_model(key, episode)
    return {"model": theta, "inner_lr": jax.tree.map(lambda v: jnp.full_like(v, inner_lr), theta)}

  def query_loss_after_adaptation(params, episode: Episode):
    adapted, losses = adapt(loss_fn, params["model"], (episode.support_x, episode.support_y),
                            lr=params["inner_lr"], steps=inner_steps, remat=remat)
    loss = loss_fn(adapted, query_batch(model, episode))
    return loss, {"loss": loss, "pre_adaptation_loss": losses[0]}

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    return jax.grad(query_loss_after_adaptation, has_aux=True)(params, episode)

  return Algorithm("metasgd", init, meta_grad,
                   finetune_evaluate(model, task, lambda params: params["inner_lr"]))
