"""A memory-augmented network with Least Recently Used Access (Santoro et al. 2016), and
its LSTM-only baseline, as pure functions over a parameter dict.

Equations are numbered as in Santoro, Bartunov, Botvinick, Wierstra & Lillicrap, "Meta-
Learning with Memory-Augmented Neural Networks", ICML 2016 (sec. 3.1-3.2), and match the
reference text (meta-learning.md, "基于模型" / "用于元学习的寻址机制"). One step ``t``:

* Controller: an LSTM of ``units`` cells whose input is ``[x_t, y_{t-1}, r_{t-1}]`` (the
  image, the previous label and the previous step's read vectors, as in the NTM). Its
  four gates are ONE matmul: ``z_t = [x_t, y_{t-1}] W_in + [r_{t-1}, h_{t-1}] W_rec + b``;
  the ``[x_t, y_{t-1}] W_in`` part does not depend on the recurrence, so it is computed for
  all ``T`` steps before the scan, as one ``[T, D] x [D, 4 units]`` matmul.
* Heads: ``heads`` read heads; from ``h_t`` each emits a key ``k_t`` (``tanh``, ``width``
  wide) and a scalar ``alpha_t`` (one matmul ``h_t W_head``). ``alpha`` is emitted by the
  controller per head and per step; it is not a hyper-parameter.
* LRUA, in this order within a step:

  1. least-used weights from the previous usage, ``w^lu_{t-1}(i) = 1`` if
     ``w^u_{t-1}(i) <= m(w^u_{t-1}, n)`` (the ``n``-th smallest usage, ``n = heads``),
     else 0 (paper eq. 8);
  2. write weights ``w^w_t = sigmoid(alpha_t) w^r_{t-1} + (1 - sigmoid(alpha_t)) w^lu_{t-1}``
     per head (eq. 7);
  3. the single least-used slot, ``argmin_i w^u_{t-1}(i)``, is set to zero (sec. 3.2:
     "prior to writing to memory, the least used memory location is computed from
     w^u_{t-1} and is set to zero");
  4. write ``M_t(i) = M_{t-1}(i) + sum_heads w^w_t(i) k_t`` (eq. 9);
  5. read from the NEW memory: ``K(k_t, M_t(i)) = k_t . M_t(i) / (||k_t|| ||M_t(i)|| +
     eps)`` (eq. 2, cosine with an epsilon), ``w^r_t = softmax_i K`` (eq. 3),
     ``r_t = sum_i w^r_t(i) M_t(i)`` (eq. 4);
  6. usage ``w^u_t = gamma w^u_{t-1} + sum_heads (w^r_t + w^w_t)`` (eq. 6, ``gamma`` 0.95).

* Output: ``o_t = [h_t, r_t] W_out + b`` (the output layer reads the controller and the
  reads); computed after the scan for all steps as one matmul.

Two readings of the paper are options (``write_vector``, ``least_used_slots``), the paper's
text being the default:

* ``write_vector="key"``: eq. 9 writes the read key ``k_t``, so one vector must both store
  this step's binding and query for this step's image. ``"add"``: each head also emits an
  add vector ``a_t = tanh(h_t W_a)`` that is written instead (the NTM's add vector; the
  public reimplementations of the MANN write one), the key only addresses the reads.
* ``least_used_slots="shared"``: eq. 8 as written, every head's ``w^lu`` marks the same
  ``n`` least-used slots, so the heads' writes are summed into the same slots.
  ``"per-head"``: head ``h`` gets the ``h``-th least-used slot alone, so the ``n`` heads
  write ``n`` distinct slots (the reading of the public reimplementations).

Their effect on learning is measured in benchmarks/RESULTS.md (issue 11).

The memory starts at a small constant (``memory_init``, 1e-6) so that every cosine is
defined; usage, read weights and reads start at zero (so the first writes go to the ``n``
least-used slots, the lowest indices on ties).

The LSTM baseline (paper Table 1, "LSTM") is the same controller without the memory: input
``[x_t, y_{t-1}]``, output ``o_t = h_t W_out + b``.

Everything inside the scan is a handful of small matmuls; the image encodings and the
output layer are batched over the whole sequence outside it. The recurrence is one
``jax.lax.scan``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

COSINE_EPS = 1e-8


class MemoryState(NamedTuple):
  """The LRUA state of one episode: memory ``[N, M]``, usage ``[N]``, read weights
  ``[heads, N]``."""
  memory: jax.Array
  usage: jax.Array
  read_weights: jax.Array


def initial_memory(slots: int, width: int, heads: int, init: float = 1e-6) -> MemoryState:
  return MemoryState(jnp.full((slots, width), init, jnp.float32), jnp.zeros((slots,), jnp.float32),
                     jnp.zeros((heads, slots), jnp.float32))


LEAST_USED = ("shared", "per-head")
WRITE_VECTORS = ("key", "add")


def least_used(usage: jax.Array, n: int, per_head: bool = False):
  """``(w^lu, the least-used slot one-hot [N])``.

  ``per_head=False`` (eq. 8 as written): ``w^lu [N]`` has ones at the ``n`` slots of
  smallest usage, the same for every head. ``per_head=True``: ``w^lu [n, N]``, head ``h``
  gets the ``h``-th least-used slot alone, so the heads' writes land in distinct slots
  instead of being summed into the same ``n`` (the reading of Santoro et al.'s public
  reimplementations). Ties: the lowest index first.
  """
  _, idx = jax.lax.top_k(-usage, n)                            # idx[0]: the least used
  slots = usage.shape[-1]
  one_hots = jax.nn.one_hot(idx, slots, dtype=usage.dtype)     # [n, N]
  w_lu = one_hots if per_head else jnp.sum(one_hots, axis=0)
  return w_lu, one_hots[0]


def cosine_similarity(keys: jax.Array, memory: jax.Array, eps: float = COSINE_EPS) -> jax.Array:
  """``[heads, N]``: ``k . M(i) / (||k|| ||M(i)|| + eps)`` (eq. 2)."""
  norm = lambda v: jnp.sqrt(jnp.sum(v * v, axis=-1) + 1e-16)
  return (keys @ memory.T) / (norm(keys)[:, None] * norm(memory)[None, :] + eps)


def lrua_step(state: MemoryState, keys: jax.Array, alpha: jax.Array, gamma: float,
              writes: jax.Array | None = None, per_head: bool = False):
  """One LRUA write-then-read (steps 1-6 of the module docstring) for one episode.

  Args:
    state: the previous :class:`MemoryState`.
    keys: ``[heads, M]``, ``k_t`` of each head.
    alpha: ``[heads]``, the write-gate logits.
    gamma: the usage decay.
    writes: ``[heads, M]``, the vectors written; ``None``: the keys (eq. 9 as written).
    per_head: each head's least-used weights pick its own slot (:func:`least_used`).

  Returns:
    ``(new state, reads [heads, M], write weights [heads, N])``.
  """
  heads = keys.shape[0]
  w_lu, least = least_used(state.usage, heads, per_head)               # 1.
  gate = jax.nn.sigmoid(alpha)[:, None]
  w_w = gate * state.read_weights + (1.0 - gate) * w_lu                # 2.
  memory = state.memory * (1.0 - least)[:, None]                       # 3.
  memory = memory + w_w.T @ (keys if writes is None else writes)       # 4.
  w_r = jax.nn.softmax(cosine_similarity(keys, memory), axis=-1)       # 5.
  reads = w_r @ memory
  # 6. The usage only ranks the slots (steps 1 and 3 take indices from it), so no gradient
  # flows through it: stop_gradient spares the backward pass a zero cotangent, same result.
  usage = gamma * state.usage + jax.lax.stop_gradient(jnp.sum(w_r, 0) + jnp.sum(w_w, 0))
  return MemoryState(memory, usage, w_r), reads, w_w


def _dense(key, fan_in: int, fan_out: int):
  return jax.random.normal(key, (fan_in, fan_out), jnp.float32) / jnp.sqrt(fan_in)


def init_params(key: jax.Array, input_size: int, label_size: int, output_size: int, *,
                units: int = 200, slots: int = 128, width: int = 40, heads: int = 4,
                memory: bool = True, write_vector: str = "key") -> dict:
  """Parameters of the MANN (``memory=True``) or of the LSTM baseline.

  Weights ~ N(0, 1/fan_in); biases 0 except the LSTM forget gate's, 1. With
  ``write_vector="add"`` each head also emits an add vector (``width`` more outputs).
  """
  del slots  # the memory has no parameters
  k = jax.random.split(key, 4)
  reads = heads * width if memory else 0
  bias = jnp.zeros((4 * units,)).at[units:2 * units].set(1.0)         # gates i, f, g, o
  params = {"lstm": {"w_in": _dense(k[0], input_size + label_size, 4 * units),
                     "w_rec": _dense(k[1], reads + units, 4 * units), "b": bias},
            "out": {"w": _dense(k[2], units + reads, output_size), "b": jnp.zeros((output_size,))}}
  if memory:
    per_head = width + 1 + (width if write_vector == "add" else 0)
    params["heads"] = {"w": _dense(k[3], units, heads * per_head),
                       "b": jnp.zeros((heads * per_head,))}
  return params


def _lstm_cell(z: jax.Array, c: jax.Array):
  i, f, g, o = jnp.split(z, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return jnp.tanh(c) * jax.nn.sigmoid(o), c


def apply(params: dict, images: jax.Array, label_input: jax.Array, *, slots: int = 128,
          width: int = 40, heads: int = 4, gamma: float = 0.95, memory_init: float = 1e-6,
          least_used_slots: str = "shared") -> jax.Array:
  """Logits ``[T, output_size]`` of one episode (``images [T, ...]``, ``label_input
  [T, label_size]``); the MANN if ``params`` has ``"heads"``, else the LSTM baseline.
  The write vector (key or a separate add vector) is read off the head layer's width;
  ``least_used_slots`` is ``"shared"`` (eq. 8) or ``"per-head"`` (:func:`least_used`)."""
  lstm = params["lstm"]
  units = lstm["w_rec"].shape[-1] // 4
  steps = images.shape[0]
  x = jnp.concatenate([images.reshape(steps, -1), label_input], axis=-1)
  pre = x @ lstm["w_in"] + lstm["b"]                                   # [T, 4 units], hoisted
  zeros = jnp.zeros((units,), jnp.float32)
  if "heads" not in params:
    def lstm_step(carry, pre_t):
      h, c = carry
      h, c = _lstm_cell(pre_t + h @ lstm["w_rec"], c)
      return (h, c), h
    _, hs = jax.lax.scan(lstm_step, (zeros, zeros), pre)
    return hs @ params["out"]["w"] + params["out"]["b"]

  w_head, b_head = params["heads"]["w"], params["heads"]["b"]
  per_head_outputs = w_head.shape[-1] // heads
  add = per_head_outputs == 2 * width + 1

  def step(carry, pre_t):
    h, c, reads, state = carry
    h, c = _lstm_cell(pre_t + jnp.concatenate([reads, h]) @ lstm["w_rec"], c)
    out = (h @ w_head + b_head).reshape(heads, per_head_outputs)
    keys, alpha = jnp.tanh(out[:, :width]), out[:, width]
    writes = jnp.tanh(out[:, width + 1:]) if add else None
    state, r, _ = lrua_step(state, keys, alpha, gamma, writes, least_used_slots == "per-head")
    reads = r.reshape(-1)
    return (h, c, reads, state), jnp.concatenate([h, reads])

  init = (zeros, zeros, jnp.zeros((heads * width,), jnp.float32),
          initial_memory(slots, width, heads, memory_init))
  _, hr = jax.lax.scan(step, init, pre)                                # [T, units + reads]
  return hr @ params["out"]["w"] + params["out"]["b"]
