"""The LSTM meta-learner of Ravi & Larochelle 2017, "Optimization as a Model for Few-Shot
Learning" (ICLR): a learned inner update rule whose cell state is the learner's parameters.

Two coordinate-wise layers, their weights shared by every coordinate of the learner's
parameters (as in Andrychowicz et al. 2016):

1. a standard LSTM (input 4, hidden 20) over the preprocessed gradient coordinate and the
   preprocessed loss (:func:`preprocess`, Andrychowicz et al. 2016 sec. 3.2, p = 10);
2. the "meta-LSTM" cell (Ravi & Larochelle 2017, eqs. 2-4), whose cell state IS the
   learner's parameter::

     f_t     = sigmoid(W_F [h_t, theta_{t-1}, f_{t-1}] + b_F)       (eq. 3)
     i_t     = sigmoid(W_I [h_t, theta_{t-1}, i_{t-1}] + b_I)       (eq. 2)
     theta_t = f_t * theta_{t-1} - i_t * grad_t                     (eq. 1 / 4, raw gradient)

   with ``h_t`` the first layer's hidden output for that coordinate. With ``f_t = 1`` and
   ``i_t = alpha`` this is SGD with rate ``alpha`` (the identity of the reference text,
   "LSTM meta-learner"), which is where the initialisation starts (``b_F ~ U(4, 5)``,
   ``b_I ~ U(-5, -4)``: ``f ~ 0.98..0.99``, ``i ~ 0.007..0.018``).

:func:`meta_lstm_rule` is that step as an :class:`~jaxmeta.inner_loop.UpdateRule`, run by
:func:`~jaxmeta.inner_loop.adapt` like every other rule; :func:`meta_lstm` is the method.
"""
from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxmeta import checks, options
from jaxmeta.algorithms.common import (EVAL_NORMS, adapted_query_loss, check_flag, check_model,
                                      check_task, finetune_curve, model_init)
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import UpdateRule, sgd
from jaxmeta.models.conv import Conv4
from jaxmeta.options import Registration
from jaxmeta.types import Algorithm, Episode, TaskDistribution

HIDDEN = 20          # the first layer's width (Ravi & Larochelle 2017, sec. 4)
PREPROCESS_P = 10.0  # Andrychowicz et al. 2016, sec. 3.2
_INIT_WEIGHT = 0.01  # weights ~ U(-0.01, 0.01)
FORGET_BIAS = (4.0, 5.0)   # b_F ~ U(4, 5): f close to 1 at the start
INPUT_BIAS = (-5.0, -4.0)  # b_I ~ U(-5, -4): a small learning rate at the start


def preprocess(x: jax.Array, p: float = PREPROCESS_P) -> jax.Array:
  """Andrychowicz et al. 2016 (sec. 3.2) input scaling, ``[...] -> [..., 2]``.

  ``x -> (log(|x|) / p, sign(x))`` if ``|x| >= e^-p``, else ``(-1, e^p x)``: magnitude and
  sign on comparable scales whatever the size of ``x``.

  Example:
    >>> import jax.numpy as jnp
    >>> [[round(float(v), 3) for v in row] for row in preprocess(jnp.array([jnp.e, -1.0, 0.0]))]
    [[0.1, 1.0], [0.0, -1.0], [-1.0, 0.0]]
  """
  x = jnp.asarray(x)
  big = jnp.abs(x) >= jnp.exp(-p)
  log_abs = jnp.log(jnp.maximum(jnp.abs(x), jnp.exp(-p))) / p   # safe where not taken
  first = jnp.where(big, log_abs, -1.0)
  second = jnp.where(big, jnp.sign(x), jnp.exp(p) * x)
  return jnp.stack([first, second], axis=-1).astype(x.dtype)


def init_meta_learner(key: jax.Array, hidden: int = HIDDEN) -> dict:
  """The meta-learner's parameters (the learner's ``theta_0`` is kept beside them).

  Every weight and the first layer's biases ~ ``U(-0.01, 0.01)``; ``b_F ~ U(4, 5)``,
  ``b_I ~ U(-5, -4)`` (Ravi & Larochelle 2017, sec. 3.3: start close to SGD with a small
  rate and no forgetting).

  Returns:
    ``{"lstm": {"kernel": [4 + hidden, 4 * hidden], "bias": [4 * hidden]},
    "forget": {"kernel": [hidden + 2], "bias": []}, "input": {...the same}}``; the
    first layer's gates are ordered input, forget, cell, output; the meta-LSTM's kernels
    read ``[h_t, theta_{t-1}, previous gate]``.

  Example:
    >>> import jax
    >>> m = init_meta_learner(jax.random.key(0))
    >>> m["lstm"]["kernel"].shape, m["forget"]["kernel"].shape, 4 <= float(m["forget"]["bias"]) <= 5
    ((24, 80), (22,), True)
  """
  k = jax.random.split(key, 6)
  u = lambda key, shape, lo, hi: jax.random.uniform(key, shape, jnp.float32, lo, hi)
  w = _INIT_WEIGHT
  return {
      "lstm": {"kernel": u(k[0], (4 + hidden, 4 * hidden), -w, w),
               "bias": u(k[1], (4 * hidden,), -w, w)},
      "forget": {"kernel": u(k[2], (hidden + 2,), -w, w), "bias": u(k[3], (), *FORGET_BIAS)},
      "input": {"kernel": u(k[4], (hidden + 2,), -w, w), "bias": u(k[5], (), *INPUT_BIAS)},
  }


class MetaLSTMState(NamedTuple):
  """The rule's state, one row per coordinate of the (flattened) learner parameters.

  Attributes:
    h, c: the first LSTM layer's hidden output and cell, ``[n, hidden]``.
    f, i: the meta-LSTM's previous forget and input gates, ``[n]`` (0 before the first
      update, the authors' code's zero initial state).
  """
  h: jax.Array
  c: jax.Array
  f: jax.Array
  i: jax.Array


def _lstm_cell(layer: dict, x: jax.Array, h: jax.Array, c: jax.Array):
  """A standard LSTM cell over rows (coordinates): gates input, forget, cell, output."""
  z = jnp.concatenate([x, h], axis=-1) @ layer["kernel"] + layer["bias"]
  zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
  c = jax.nn.sigmoid(zf) * c + jax.nn.sigmoid(zi) * jnp.tanh(zg)
  return jax.nn.sigmoid(zo) * jnp.tanh(c), c


def meta_lstm_rule(meta_params: dict) -> UpdateRule:
  """The meta-LSTM update of Ravi & Larochelle 2017 as an :class:`~jaxmeta.inner_loop.UpdateRule`.

  Every coordinate of the learner's parameters (all leaves flattened into one vector) is
  one row of both layers, their weights shared. One update: the first LSTM layer reads
  ``preprocess(grad) ++ preprocess(loss)`` (4 inputs), then the meta-LSTM cell computes
  ``f_t``, ``i_t`` and ``theta_t = f_t * theta_{t-1} - i_t * grad_t`` (eqs. 1-3 of the
  paper). The gradient and the loss are inputs; run it with ``adapt(...,
  first_order=True)`` for the paper's assumption that they do not depend on the
  meta-learner (sec. 3.2), so that the meta-gradient flows through ``f``, ``i`` and the
  ``theta`` path only.

  The previous-gate inputs start at ``f_0 = i_0 = 0``, as the zero initial state of the
  authors' code (which feeds back the gates' pre-activations; we feed back the gate
  values ``f_{t-1}``, ``i_{t-1}`` as written in the paper's eqs. 2-3).

  Args:
    meta_params: as built by :func:`init_meta_learner` (possibly traced).

  Returns:
    An :class:`~jaxmeta.inner_loop.UpdateRule` with state :class:`MetaLSTMState`.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxmeta.inner_loop import adapt
    >>> rule = meta_lstm_rule(init_meta_learner(jax.random.key(0)))
    >>> loss = lambda w, b: jnp.sum((w - b) ** 2)
    >>> w, losses = adapt(loss, jnp.zeros(3), jnp.ones(3), update=rule, steps=5, first_order=True)
    >>> bool(losses[-1] < losses[0]), w.shape
    (True, (3,))
  """
  lstm, forget, inp = meta_params["lstm"], meta_params["forget"], meta_params["input"]
  hidden = lstm["kernel"].shape[1] // 4

  def init(params):
    flat, _ = ravel_pytree(params)
    n, dtype = flat.shape[0], flat.dtype
    return MetaLSTMState(jnp.zeros((n, hidden), dtype), jnp.zeros((n, hidden), dtype),
                         jnp.zeros((n,), dtype), jnp.zeros((n,), dtype))

  def update(grads, state, params, loss):
    theta, unravel = ravel_pytree(params)
    grad, _ = ravel_pytree(grads)
    n = theta.shape[0]
    # Andrychowicz et al. 2016 sec. 3.2: the gradient coordinate and the loss, each as 2 inputs.
    x = jnp.concatenate([preprocess(grad),
                         jnp.broadcast_to(preprocess(jnp.asarray(loss, grad.dtype)), (n, 2))], -1)
    h, c = _lstm_cell(lstm, x, state.h, state.c)
    # Ravi & Larochelle 2017 eq. 3: f_t = sigmoid(W_F [h_t, theta_{t-1}, f_{t-1}] + b_F)
    f = jax.nn.sigmoid(jnp.concatenate([h, theta[:, None], state.f[:, None]], -1) @ forget["kernel"]
                       + forget["bias"])
    # eq. 2: i_t = sigmoid(W_I [h_t, theta_{t-1}, i_{t-1}] + b_I)
    i = jax.nn.sigmoid(jnp.concatenate([h, theta[:, None], state.i[:, None]], -1) @ inp["kernel"]
                       + inp["bias"])
    # eq. 1: c_t = f_t o c_{t-1} + i_t o c~_t with c = theta, c~_t = -grad_t
    new_theta = f * theta - i * grad
    return unravel(new_theta.astype(theta.dtype)), MetaLSTMState(h, c, f, i)

  return UpdateRule(init, update)


def clip_by_global_norm(tree, max_norm):
  """``tree * max_norm / max(norm, max_norm)``, ``norm`` the global L2 norm (as
  ``optax.clip_by_global_norm``); returns ``(clipped, norm)``.

  Example:
    >>> import jax.numpy as jnp
    >>> t, n = clip_by_global_norm({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, 0.5)
    >>> float(n), round(float(t["a"][0]), 6), round(float(t["b"][0]), 6)
    (5.0, 0.3, 0.4)
  """
  norm = jnp.sqrt(sum(jnp.sum(jnp.square(v)) for v in jax.tree.leaves(tree)))
  scale = max_norm / jnp.maximum(norm, max_norm)
  return jax.tree.map(lambda v: v * scale.astype(v.dtype), tree), norm


def _norm_modes(model: nn.Module, eval_norm: str):
  """(training model, evaluation model): Conv-4 with batch statistics, and at evaluation
  the support set's statistics (``eval_norm="support"``) or the episode's (``"episode"``:
  support and query normalised together, transductive)."""
  if isinstance(model, Conv4) and model.norm in ("batch", "support"):
    return model.clone(norm="batch"), model.clone(norm="batch" if eval_norm == "episode"
                                                  else "support")
  return model, model


def meta_lstm(model: nn.Module, task: TaskDistribution, *, meta_lstm_updates: int = 12,
              clip_norm: float = 0.25, remat: bool = False,
              test_update: UpdateRule | None = None, eval_norm: str = "support") -> Algorithm:
  """Ravi & Larochelle 2017's LSTM meta-learner, with the learner's ``theta_0`` meta-learned.

  The meta-parameters are ``{"model": theta_0, "meta_learner": ...}`` (the learner's
  initial parameters are the meta-LSTM's initial cell state, learned as in the authors'
  code; :func:`init_meta_learner`). One task: ``meta_lstm_updates`` (T) updates of
  :func:`meta_lstm_rule` on the support set, then the meta-loss is the query loss at
  ``theta_T``; its gradient, under the paper's assumption that the learner's gradients
  and losses are constants (``adapt(..., first_order=True)``: both under
  ``stop_gradient``), reaches the meta-learner and ``theta_0`` through the gates and the
  ``theta`` path.

  Every update uses the whole support set as its batch. The paper draws T mini-batches
  from the support set: 12 of 5 examples at 5-way 1-shot, 8 of 25 at 5-way 5-shot, i.e.
  the whole support set in both of its settings, so this is faithful there (other shot
  counts would differ).

  Clipping: the per-task meta-gradient is clipped to global norm ``clip_norm`` inside
  ``meta_grad``. The paper (and the authors' code) clips the meta-batch's gradient with
  Adam; with a meta-batch of 1, as in the authors' code and the ``meta-lstm-*`` presets,
  the two are the same; with larger meta-batches this clips each task's gradient before
  averaging, which is not the paper's.

  Normalisation, for a :class:`~jaxmeta.models.Conv4` learner with batch norm: in
  ``meta_grad`` ``norm="batch"`` (support and query each normalised by their own batch
  statistics, as a network in training mode); at evaluation ``norm="support"`` (updates
  on the support set's statistics, and the query set normalised with the support set's:
  the authors' running statistics, reset every episode, amount to that), or with
  ``eval_norm="episode"`` the statistics of support and query together (transductive,
  for comparison). Both have the same parameters. Other models are used as given.

  Args:
    model: the learner, a flax module (the paper's: ``Conv4(filters=32, stride=1,
      pool=True, readout="flatten")`` with a linear head).
    task: supplies ``loss`` and ``metric``.
    meta_lstm_updates: T >= 1, updates per training episode (12 at 1-shot, 8 at 5-shot).
    clip_norm: the global-norm bound on the per-task meta-gradient (0.25 in the paper).
    remat: rematerialise each update in the backward pass (passed to
      :func:`~jaxmeta.inner_loop.adapt`): the activations of an update are not kept, only
      the scan's carry: the learner's parameters and this rule's per-coordinate state
      (h and c of 20 floats, f, i: 43 floats per learner parameter in all). Measured with
      the 5-way Omniglot learner (28,357 parameters, 5 support + 75 query images): the
      compiled meta-gradient's temporaries grow by 4.65 MiB per update with remat (that
      carry), 31.7 MiB without; flat in T would need nested checkpointing in ``adapt``.
    test_update: evaluate with this rule from the learned ``theta_0`` instead of the
      meta-LSTM (e.g. ``sgd(lr)``: the paper's "learned initialisation + SGD" comparison).
    eval_norm: ``"support"`` or ``"episode"``: a batch-norm Conv-4 learner's statistics at
      evaluation (see Normalisation above).

  Raises:
    ConfigError: naming the bad argument (``meta_lstm_updates``, ``clip_norm``, ``model``,
      ...).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`; ``evaluate`` gives the query metric after
    0..num_steps meta-LSTM updates.

  Example:
    >>> import jax, jaxmeta
    >>> task = jaxmeta.tasks.sinusoid()
    >>> algo = meta_lstm(jaxmeta.models.MLP((40, 40), 1), task, meta_lstm_updates=3)
    >>> params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
    >>> sorted(params)
    ['meta_learner', 'model']
    >>> algo.evaluate(params, task.sample(jax.random.key(2)), 3, jax.random.key(3)).shape
    (4,)
  """
  check_model(model)
  check_task(task)
  updates = checks.integer("meta_lstm_updates", meta_lstm_updates, 1, 1000)
  clip_norm = checks.positive_number("clip_norm", clip_norm)
  remat = check_flag("remat", remat)
  if isinstance(model, Conv4) and (model.output_size is None or model.readout == "map"):
    raise ConfigError("model", "the meta-LSTM's learner needs a classifier: a Conv4 with a "
                      "linear head (output_size) over flattened or averaged features, such "
                      "as conv4-pool")
  if test_update is not None and not isinstance(test_update, UpdateRule):
    raise ConfigError("test_update", f"must be an UpdateRule or None, got {test_update!r}")
  checks.one_of("eval_norm", eval_norm, EVAL_NORMS)
  train_model, eval_model = _norm_modes(model, eval_norm)
  init_model = model_init(train_model, task)

  def init(key: jax.Array, episode: Episode):
    model_key, meta_key = jax.random.split(key)
    return {"model": init_model(model_key, episode), "meta_learner": init_meta_learner(meta_key)}

  def query_loss_after_updates(params, episode: Episode):
    # Sec. 3.2: gradients and losses of the learner are inputs, not differentiated.
    return adapted_query_loss(train_model, task, params["model"], episode,
                              meta_lstm_rule(params["meta_learner"]), steps=updates,
                              first_order=True, remat=remat)

  def meta_grad(params, episode: Episode, key: jax.Array):
    del key
    grads, metrics = jax.grad(query_loss_after_updates, has_aux=True)(params, episode)
    grads, norm = clip_by_global_norm(grads, clip_norm)
    return grads, dict(metrics, meta_grad_norm=norm)

  def evaluate(params, episode: Episode, num_steps: int, key: jax.Array,
               observe_at=None) -> jax.Array:
    del key
    rule = meta_lstm_rule(params["meta_learner"]) if test_update is None else test_update
    return finetune_curve(eval_model, task, params["model"], episode, rule, num_steps,
                          observe_at)

  return Algorithm("meta-lstm", init, meta_grad, evaluate)


OPTIONS = (
    options.integer("meta_lstm_updates", 12, "meta-LSTM: T, updates of the learner on the "
                    "support set per training episode (12 at 1-shot, 8 at 5-shot)",
                    maximum=1000),
    options.number("clip_norm", 0.25, "meta-LSTM: global-norm bound on each task's "
                   "meta-gradient (the paper's 0.25; the same as clipping the meta-batch's "
                   "at --meta-batch-size 1)"),
    options.choice("test_update", "learned", ("learned", "sgd"), "meta-LSTM: the update rule "
                   "at evaluation: learned (the meta-LSTM) or sgd (the learned initialisation "
                   "with SGD at --inner-lr, the paper's comparison)", resumable=True),
)


def _from_config(config, model, task) -> Algorithm:
  if isinstance(model, Conv4) and config.norm == "none":
    raise ConfigError("norm", "the meta-LSTM's learner has batch norm (Ravi & Larochelle "
                      "2017): use --norm batch (batch statistics in meta-training, the support "
                      "set's at evaluation)")
  test_update = sgd(config.inner_lr) if config.test_update == "sgd" else None
  return meta_lstm(model, task, meta_lstm_updates=config.meta_lstm_updates,
                   clip_norm=config.clip_norm, remat=config.remat, test_update=test_update,
                   eval_norm=config.eval_norm)


REGISTRATION = Registration(
    "meta-lstm", _from_config, OPTIONS, reads=("norm", "eval_norm", "remat", "inner_lr"),
    description="Ravi & Larochelle 2017's LSTM meta-learner: a learned update rule whose cell "
                "state is the learner's parameters, theta_0 learned too.")
