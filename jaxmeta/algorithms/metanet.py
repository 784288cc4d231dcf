"""Meta Networks (Munkhdalai & Yu 2017, "Meta Networks", ICML): fast weights from gradients.

Four parts, all meta-learned by the query loss (reference text, "元网络"; the paper's sec. 3
and its Omniglot setting; the authors' Chainer code, cited as facts):

* the **base learner** ``g`` and the **key network** ``f``: each 5 x [3x3 conv 64, no bias,
  no batch norm, ReLU, 2x2 max-pool] then ``64 -> 64 -> N`` (:func:`init_network`). Every
  weight has a fast weight and a layer combines the two as
  ``relu(W x) + relu(W* x)`` (the paper's layer augmentation, its Fig. 2); the last
  layer is linear, ``x W + x W*``. The key network's output (the key) is its
  ``64 -> 64`` layer, linear (``x W + x W*``), as in the authors' code.
* **F**, the task-level meta-learner: an LSTM (2 -> 20, then a linear 20 -> 1) applied to
  every coordinate of the key network's weights, its weights shared by the coordinates.
  It reads, step by step, the gradients of a representation loss on ``T`` mini-batches
  of the support set (``T = 5``: the authors' code splits the support set into ``IT = 5``
  mini-batches) and its last output is the key network's fast weights ``theta+`` (the
  reference text's ``theta+ = F_w(grad L^emb_1, ..., grad L^emb_T)``). Loss:
  ``metanet_loss="ce"`` (default, the authors' code): N-way softmax cross-entropy of the
  key network's own ``64 -> N`` head on the mini-batch; ``"verification"`` (the paper's
  text): ``L^emb_t`` of pair ``t`` as the binary cross-entropy of
  ``P_t = sigmoid(w . |f(x_(t,1)) - f(x_(t,2))| + b)``, the pairs drawn uniformly from the
  support set (mini-batches of one pair).
* **G**, the example-level meta-learner: an MLP 2 -> 20 -> 20 -> 1 (ReLU) per coordinate of
  the base learner's weights. For each support example ``i`` it maps the gradient of that
  example's loss to ``phi+_i``, stored as the value of memory slot ``i`` (``M``); the key of
  slot ``i`` is ``r'_i = f_{theta, theta+}(x'_i)`` (64 units).
* **Memory read**: a query ``x`` has the key ``r = f_{theta, theta+}(x)``, the attention
  ``a = softmax(cosine(R, r))`` and its fast weights ``phi+ = a^T M``; the prediction is
  ``g_{phi, phi+}(x)``, the loss the sum of the queries' cross-entropies (the code's sum).

As in the authors' code, F and G each come twice: one for the convolution kernels, one for
the dense layers' weights (the code's ``meta_lstm_l1`` / ``meta_g_lstm_l1`` and ``m_*`` /
``mc_*``). Their inputs are preprocessed with the code's ``logAndSign`` (k = 7;
:func:`log_and_sign`).

**Meta-information is a constant.** The authors' code reads the gradients out of
``.grad`` as arrays, so the query loss is not differentiated through them: here every
gradient fed to F and G is under ``jax.lax.stop_gradient``. Consequently the key network's
``64 -> N`` head (and the verification head) receive no gradient at all and keep their
initial values, as in the code: they only shape the meta-information.

**Speed** (benchmarks/metanet_speed.py). Per episode: the representation-loss gradients
are per support example, one ``jax.vmap(jax.grad(...))`` over examples, combined into the
``T`` mini-batch gradients by a ``[T, n]`` averaging matrix; the base learner's per-example
gradients likewise. F runs as one ``lax.scan`` over ``T`` of ``[P, 22] @ [22, 80]``
matmuls (P = 152 k coordinates), G as three matmuls over ``[n P, .]``. The key network
has one fast weight per task: each layer is ONE patches matmul with the slow and fast
kernels concatenated along the outputs. The base learner on the queries has a different
fast kernel per query: its ``[n_q, P]`` fast weights are ONE matmul ``a @ M``, and each
layer shares the patch extraction between the slow matmul and a batched matmul over the
queries (``einsum('qpk,qkc->qpc')``) -- the FLOPs of a plain convolution, no
per-query ``lax.conv`` (grouped convolution under ``vmap``, slow on XLA:CPU). Mixing the
outputs of the ``n`` memory slots' convolutions instead (linear in the kernel) would cost
``n`` times the FLOPs; ``n`` is 5 to 20 here, so the per-query kernels are cheaper.

**Deviations** (stated): the slow ``64 -> N`` weights of both networks have
``metanet_head`` columns (default: the training ``--ways``) and class ``c`` uses column
``c mod metanet_head``, so the parameters do not depend on the episode's N and a run
trained 5-way can be scored on 20-way episodes (``jaxmeta eval-lake``, ``--eval-ways``);
the labels are a fresh random permutation in every episode, so the columns are
exchangeable and only the fast weights can carry class identity. The 2x2 pools pad odd
maps (Chainer's ``cover_all`` pooling: 28 -> 14 -> 7 -> 4 -> 2 -> 1); ReLU outputs are >= 0,
so padding with 0 is the same as with -inf.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxmeta import checks, options
from jaxmeta.algorithms.metric import check_episode, check_ways
from jaxmeta.errors import ConfigError
from jaxmeta.models.conv import extract_patches
from jaxmeta.options import Registration
from jaxmeta.tasks.episodes import accuracy
from jaxmeta.types import Algorithm, Episode

LAYERS = 5            # conv blocks of both networks
HIDDEN = 20           # F's LSTM and G's MLP widths (paper / code)
PREPROCESS_K = 7.0    # the code's logAndSign(k=7)
# F's and G's output layers start at this multiple of Chainer's LeCun-normal scale (the
# code's default, 1). On Omniglot (sparse ink) the first episodes' query loss is ln 5 at
# 1, 0.1 and 0.01 alike (measured); on dense uniform-noise images it is ~1e8 at 1.
OUT_SCALE = 1.0
LOSSES = ("ce", "verification")
_EPS32 = float(np.finfo(np.float32).eps)


# --------------------------------------------------------------------------- pieces


def log_and_sign(x: jax.Array, k: float = PREPROCESS_K) -> jax.Array:
  """The authors' gradient preprocessing, ``[...] -> [..., 2]``:
  ``(max(log(|x| + eps) / k, -1), clip(x e^k, -1, 1))`` with eps float32's epsilon.

  Example:
    >>> import jax.numpy as jnp
    >>> [[round(float(v), 3) for v in row] for row in log_and_sign(jnp.array([1.0, -1e-4, 0.0]))]
    [[0.0, 1.0], [-1.0, -0.11], [-1.0, 0.0]]
  """
  log = jnp.maximum(jnp.log(jnp.abs(x) + _EPS32) / k, -1.0)
  sign = jnp.clip(x * math.exp(k), -1.0, 1.0)
  return jnp.stack([log, sign], axis=-1)


def pool(x: jax.Array) -> jax.Array:
  """2x2 max-pool, stride 2, odd sizes padded at the end with 0 (inputs are >= 0): the
  output side is ``ceil(side / 2)`` (Chainer's ``cover_all``)."""
  n, h, w, c = x.shape
  x = jnp.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
  return jnp.maximum(jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]),
                     jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]))


def _lecun(key, shape, fan_in):
  return jax.random.normal(key, shape, jnp.float32) / math.sqrt(fan_in)


def feature_side(side: int) -> int:
  """Side of the last feature map of a ``side`` x ``side`` image after 5 pools."""
  for _ in range(LAYERS):
    side = -(-side // 2)
  return side


def init_network(key, channels: int, side: int, filters: int, head: int,
                 with_head: bool = True) -> dict:
  """``{"conv": [5 HWIO kernels], "fc1": [d, 64], "fc2": [64, head]}``, LeCun-normal
  (Chainer's default), no biases (the code's ``nobias=True`` and bias-free blocks)."""
  keys = jax.random.split(key, LAYERS + 2)
  conv, cin = [], channels
  for i in range(LAYERS):
    conv.append(_lecun(keys[i], (3, 3, cin, filters), 9 * cin))
    cin = filters
  d = feature_side(side) ** 2 * filters
  net = {"conv": conv, "fc1": _lecun(keys[LAYERS], (d, 64), d)}
  if with_head:
    net["fc2"] = _lecun(keys[LAYERS + 1], (64, head), 64)
  return net


def expand_head(w: jax.Array, ways: int) -> jax.Array:
  """``[64, head] -> [64, ways]``: class ``c`` uses column ``c mod head``."""
  return w[:, np.arange(ways) % w.shape[1]]


def conv_features(conv: list, x: jax.Array, fast=None) -> jax.Array:
  """The 5 conv blocks on ``x [n, H, W, C]``: ``relu(W x) [+ relu(W* x)]``, pool.

  ``fast``: ``None`` (slow only), a list of kernels shared by the batch (one matmul per
  layer, slow and fast kernels side by side), or a list of per-example kernels
  ``[n, 3, 3, cin, cout]`` (a batched matmul per layer). Returns ``[n, d]``.
  """
  h = x if x.ndim == 4 else x[..., None]
  for i, w in enumerate(conv):
    patches = extract_patches(h, 3, 3, 1)                           # [n, H, W, 9 cin]
    n, hh, ww, p = patches.shape
    cout = w.shape[-1]
    flat = patches.reshape(n, hh * ww, p)
    if fast is None:
      out = jax.nn.relu(flat @ w.reshape(p, cout))
    elif fast[i].ndim == 4:                                         # one fast kernel
      both = flat @ jnp.concatenate([w.reshape(p, cout), fast[i].reshape(p, cout)], -1)
      out = jax.nn.relu(both[..., :cout]) + jax.nn.relu(both[..., cout:])
    else:                                                           # a kernel per example
      slow = flat @ w.reshape(p, cout)
      quick = jnp.einsum("nqp,npc->nqc", flat, fast[i].reshape(n, p, cout))
      out = jax.nn.relu(slow) + jax.nn.relu(quick)
    h = pool(out.reshape(n, hh, ww, cout))
  return h.reshape(h.shape[0], -1)


def slow_logits(net: dict, x: jax.Array, ways: int) -> jax.Array:
  """The network with its slow weights only: ``relu(relu(conv(x)) W1) W2``, ``[n, ways]``."""
  h = jax.nn.relu(conv_features(net["conv"], x) @ net["fc1"])
  return h @ expand_head(net["fc2"], ways)


def key_embedding(net: dict, x: jax.Array, fast=None) -> jax.Array:
  """The key network's output (the keys, 64 units): ``h W1 [+ h W1*]``, linear (code)."""
  h = conv_features(net["conv"], x, None if fast is None else fast["conv"])
  out = h @ net["fc1"]
  return out if fast is None else out + h @ fast["fc1"]


def fast_logits(net: dict, x: jax.Array, fast: dict, ways: int) -> jax.Array:
  """The base learner with per-example fast weights ``fast`` (leaves ``[n, ...]``):
  conv blocks, ``relu(h W1) + relu(h W1*)``, ``h W2 + h W2*``; ``[n, ways]``."""
  h = conv_features(net["conv"], x, fast["conv"])
  h = jax.nn.relu(h @ net["fc1"]) + jax.nn.relu(jnp.einsum("nd,nde->ne", h, fast["fc1"]))
  return h @ expand_head(net["fc2"], ways) + jnp.einsum("nd,ndc->nc", h, fast["fc2"])


def cosine(a: jax.Array, b: jax.Array) -> jax.Array:
  """``[m, d], [n, d] -> [m, n]`` cosine similarities (norms floored at 1e-8)."""
  na = a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), 1e-8)
  nb = b / jnp.maximum(jnp.linalg.norm(b, axis=-1, keepdims=True), 1e-8)
  return na @ nb.T


def read_memory(keys: jax.Array, values: jax.Array, queries: jax.Array) -> jax.Array:
  """``softmax(cosine(R, r))^T M`` for every query: keys ``R [n, d]``, values ``M [n, P]``,
  query keys ``r [m, d]`` -> ``[m, P]`` (reference text, MetaNet step 4b).

  Example:
    >>> import jax.numpy as jnp
    >>> v = read_memory(jnp.eye(2), jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([[3.0, 0.0]]))
    >>> [round(float(x), 4) for x in v[0]]     # e / (e + 1), 1 / (e + 1)
    [0.7311, 0.2689]
  """
  return jax.nn.softmax(cosine(queries, keys), axis=-1) @ values


# --------------------------------------------------------------------------- F and G


def init_lstm(key) -> dict:
  """F: an LSTM 2 -> 20 (gates input, forget, cell, output; forget bias 1 as Chainer's
  ``L.LSTM``) and a linear 20 -> 1, LeCun-normal weights."""
  k = jax.random.split(key, 3)
  bias = jnp.zeros((4 * HIDDEN,)).at[HIDDEN:2 * HIDDEN].set(1.0)
  return {"wx": _lecun(k[0], (2, 4 * HIDDEN), 2), "wh": _lecun(k[1], (HIDDEN, 4 * HIDDEN), HIDDEN),
          "b": bias, "out_w": OUT_SCALE * _lecun(k[2], (HIDDEN, 1), HIDDEN), "out_b": jnp.zeros((1,))}


CHUNK = 4096   # coordinates per block of F and G (see coordinatewise)


def coordinatewise(core, chunk: int = CHUNK):
  """``core(p, x [..., C]) -> [C]``, a function applied to each coordinate (the last axis)
  with shared parameters ``p``, run over blocks of ``chunk`` coordinates.

  Forward: ``lax.map`` over the blocks, so every intermediate of a block ([80, chunk] gates
  of F) stays in cache instead of streaming [80, 148 k] arrays through memory several
  times a step. Backward (a ``custom_vjp``): a ``lax.scan`` over the blocks that recomputes
  a block's forward and takes its VJP, summing the parameters' cotangents in the carry; no
  residual is stored. Measured for F on this CPU (P = 148 k, T = 5): forward 0.09 s against
  0.28 s for the whole array at once; forward + backward: see benchmarks/RESULTS.md.
  """
  def split(x):
    n = -(-x.shape[-1] // chunk)
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n * chunk - x.shape[-1])]
    x = jnp.pad(x, pad).reshape(x.shape[:-1] + (n, chunk))
    return jnp.moveaxis(x, -2, 0), n

  def forward(p, x):
    blocks, _ = split(x)
    return jax.lax.map(lambda b: core(p, b), blocks).reshape(-1)[:x.shape[-1]]

  run = jax.custom_vjp(forward)

  def fwd(p, x):
    return forward(p, x), (p, x)

  def bwd(res, g):
    p, x = res
    blocks, n = split(x)
    g_blocks = jnp.pad(g, (0, n * chunk - g.shape[0])).reshape(n, chunk)

    def body(acc, args):
      b, gb = args
      _, vjp = jax.vjp(core, p, b)
      dp, db = vjp(gb)
      return jax.tree.map(jnp.add, acc, dp), db

    dp, db = jax.lax.scan(body, jax.tree.map(jnp.zeros_like, p), (blocks, g_blocks))
    dx = jnp.moveaxis(db, 0, -2).reshape(x.shape[:-1] + (-1,))[..., :x.shape[-1]]
    return dp, dx

  run.defvjp(fwd, bwd)
  return run


def _lstm_block(p: dict, x: jax.Array) -> jax.Array:
  """F on ``x [T, 2, C]`` (coordinates last): the output after the last step, ``[C]``.
  ``[80, 20] @ [20, C]`` matmuls, T unrolled; the first step's recurrent matmul is
  skipped (its state is 0)."""
  wx, wh, b = p["wx"].T, p["wh"].T, p["b"][:, None]
  h = c = None
  for t in range(x.shape[0]):
    z = wx @ x[t] + b                                               # [80, C]
    if h is not None:
      z = z + wh @ h
    i, f, g, o = (z[k * HIDDEN:(k + 1) * HIDDEN] for k in range(4))
    c = jax.nn.sigmoid(i) * jnp.tanh(g) + (0.0 if c is None else jax.nn.sigmoid(f) * c)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
  return (p["out_w"].T @ h + p["out_b"][:, None])[0]


_run_lstm_blocks = coordinatewise(_lstm_block)


def run_lstm(p: dict, inputs: jax.Array) -> jax.Array:
  """F over ``inputs [T, P, 2]`` (T steps, P coordinates): the output after the last
  step, ``[P]``; in blocks of coordinates (:func:`coordinatewise`)."""
  return _run_lstm_blocks(p, jnp.swapaxes(inputs, -1, -2))


def init_mlp(key) -> dict:
  """G: 2 -> 20 -> 20 -> 1, ReLU between, LeCun-normal weights, zero biases."""
  k = jax.random.split(key, 3)
  return {"w1": _lecun(k[0], (2, HIDDEN), 2), "b1": jnp.zeros((HIDDEN,)),
          "w2": _lecun(k[1], (HIDDEN, HIDDEN), HIDDEN), "b2": jnp.zeros((HIDDEN,)),
          "w3": OUT_SCALE * _lecun(k[2], (HIDDEN, 1), HIDDEN), "b3": jnp.zeros((1,))}


def _mlp_block(p: dict, x: jax.Array) -> jax.Array:
  """G on ``x [2, C]`` (coordinates last) -> ``[C]``."""
  h = jax.nn.relu(p["w1"].T @ x + p["b1"][:, None])
  h = jax.nn.relu(p["w2"].T @ h + p["b2"][:, None])
  return (p["w3"].T @ h + p["b3"][:, None])[0]


_run_mlp_blocks = coordinatewise(_mlp_block)


def run_mlp(p: dict, inputs: jax.Array) -> jax.Array:
  """G over ``inputs [..., 2]`` -> ``[...]``, in blocks of coordinates."""
  x = jnp.moveaxis(inputs, -1, 0).reshape(2, -1)
  return _run_mlp_blocks(p, x).reshape(inputs.shape[:-1])


def _flatten(leaves, batch_dims: int):
  """Leaves with ``batch_dims`` leading axes -> ``[..., P]`` and the way back."""
  shapes = [l.shape[batch_dims:] for l in leaves]
  flat = jnp.concatenate([l.reshape(l.shape[:batch_dims] + (-1,)) for l in leaves], -1)
  sizes = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

  def unflatten(v):
    parts = jnp.split(v, sizes, axis=-1)
    return [p.reshape(p.shape[:-1] + s) for p, s in zip(parts, shapes)]
  return flat, unflatten


def chunk_matrix(n: int, t: int) -> np.ndarray:
  """``[T, n]``: row ``s`` averages the examples of mini-batch ``s`` (example ``i`` is in
  mini-batch ``floor(i T / n)``, ``T = min(t, n)``; contiguous, as the code's slices)."""
  t = min(t, n)
  owner = (np.arange(n) * t) // n
  m = (owner[None, :] == np.arange(t)[:, None]).astype(np.float32)
  return m / m.sum(1, keepdims=True)


# --------------------------------------------------------------------------- the method


def init_params(key, episode: Episode, *, head: int, filters: int = 64,
                loss: str = "ce") -> dict:
  """All meta-parameters: ``base``, ``key`` (networks), ``F`` and ``G`` (``conv`` and
  ``fc`` each), and ``verify`` with ``loss="verification"``."""
  x = episode.support_x
  channels = x.shape[-1] if x.ndim == 4 else 1
  side = x.shape[1]
  k = jax.random.split(key, 7)
  params = {"base": init_network(k[0], channels, side, filters, head),
            "key": init_network(k[1], channels, side, filters, head, with_head=loss == "ce"),
            "F": {"conv": init_lstm(k[2]), "fc": init_lstm(k[3])},
            "G": {"conv": init_mlp(k[4]), "fc": init_mlp(k[5])}}
  if loss == "verification":
    params["verify"] = {"w": _lecun(k[6], (64,), 64), "b": jnp.zeros(())}
  return params


def representation_gradients(params: dict, x: jax.Array, y: jax.Array, ways: int,
                             minibatches: int, loss: str, key) -> dict:
  """The T gradients of the representation loss w.r.t. the key network's conv kernels and
  ``fc1`` at its slow weights, ``{"conv": [T, ...], "fc1": [T, ...]}``, constants."""
  net = params["key"]
  body = {"conv": net["conv"], "fc1": net["fc1"]}
  if loss == "ce":
    def example_loss(b, xi, yi):
      h = jax.nn.relu(conv_features(b["conv"], xi[None]) @ b["fc1"])
      logits = h @ expand_head(net["fc2"], ways)
      return -jax.nn.log_softmax(logits[0])[yi]
    per_example = jax.vmap(jax.grad(example_loss), (None, 0, 0))(body, x, y)
    mix = jnp.asarray(chunk_matrix(x.shape[0], minibatches))
    grads = jax.tree.map(lambda g: jnp.tensordot(mix, g, 1), per_example)
  else:
    n = x.shape[0]
    pairs = jax.random.randint(key, (minibatches, 2), 0, n)
    w, b = params["verify"]["w"], params["verify"]["b"]

    def pair_loss(body_, i, j):
      f = key_embedding(body_, jnp.stack([x[i], x[j]]))
      logit = jnp.abs(f[0] - f[1]) @ w + b
      same = (y[i] == y[j]).astype(jnp.float32)
      return -(same * jax.nn.log_sigmoid(logit) + (1 - same) * jax.nn.log_sigmoid(-logit))
    grads = jax.vmap(jax.grad(pair_loss), (None, 0, 0))(body, pairs[:, 0], pairs[:, 1])
  return jax.lax.stop_gradient(grads)


def task_fast_weights(params: dict, grads: dict) -> dict:
  """F on the T preprocessed gradients: the key network's fast weights (conv, fc1)."""
  conv, unflat_conv = _flatten(grads["conv"], 1)                    # [T, P_conv]
  fc, unflat_fc = _flatten([grads["fc1"]], 1)
  fast_conv = run_lstm(params["F"]["conv"], log_and_sign(conv))
  fast_fc = run_lstm(params["F"]["fc"], log_and_sign(fc))
  return {"conv": unflat_conv(fast_conv), "fc1": unflat_fc(fast_fc)[0]}


def example_memory(params: dict, x: jax.Array, y: jax.Array, ways: int):
  """G on each support example's loss gradient at the base learner's slow weights:
  memory values ``(conv [n, P_conv], fc [n, P_fc])`` and the way back to kernels."""
  net = params["base"]
  body = {"conv": net["conv"], "fc1": net["fc1"], "fc2": expand_head(net["fc2"], ways)}

  def example_loss(b, xi, yi):
    h = jax.nn.relu(conv_features(b["conv"], xi[None]) @ b["fc1"])
    return -jax.nn.log_softmax((h @ b["fc2"])[0])[yi]
  grads = jax.lax.stop_gradient(jax.vmap(jax.grad(example_loss), (None, 0, 0))(body, x, y))
  conv, unflat_conv = _flatten(grads["conv"], 1)                    # [n, P_conv]
  fc, unflat_fc = _flatten([grads["fc1"], grads["fc2"]], 1)
  return ((run_mlp(params["G"]["conv"], log_and_sign(conv)), unflat_conv),
          (run_mlp(params["G"]["fc"], log_and_sign(fc)), unflat_fc))


def metanet_logits(params: dict, episode: Episode, ways: int, *, minibatches: int = 5,
                   loss: str = "ce", key=None) -> jax.Array:
  """MetaNet's query logits ``[n_query, ways]`` for one episode (module docstring)."""
  xs, ys = episode.support_x, episode.support_y
  theta_fast = task_fast_weights(
      params, representation_gradients(params, xs, ys, ways, minibatches, loss, key))
  n_s = xs.shape[0]
  keys = key_embedding(params["key"], jnp.concatenate([xs, episode.query_x]), theta_fast)
  support_keys, query_keys = keys[:n_s], keys[n_s:]
  (m_conv, unflat_conv), (m_fc, unflat_fc) = example_memory(params, xs, ys, ways)
  attention = jax.nn.softmax(cosine(query_keys, support_keys), axis=-1)   # [n_q, n_s]
  fc1, fc2 = unflat_fc(attention @ m_fc)
  fast = {"conv": unflat_conv(attention @ m_conv), "fc1": fc1, "fc2": fc2}
  return fast_logits(params["base"], episode.query_x, fast, ways)


def check_loss(value) -> str:
  return checks.one_of("metanet_loss", value, LOSSES)


def metanet(ways: int, *, head: int | None = None, filters: int = 64, minibatches: int = 5,
            loss: str = "ce", clip_norm: float = 10.0) -> Algorithm:
  """Meta Networks for N-way classification (module docstring).

  Args:
    ways: N of the episodes it scores.
    head: columns of the slow ``64 -> N`` weights (default ``ways``); class ``c`` uses
      column ``c mod head``.
    filters: conv channels (64 in the paper).
    minibatches: T, support mini-batches (or pairs) for the representation loss (the
      code's IT = 5).
    loss: ``"ce"`` (the code's N-way cross-entropy, default) or ``"verification"`` (the
      paper's).
    clip_norm: the per-task meta-gradient is clipped to this global norm (the code's
      ``GradientClipping(10)`` with one episode per update).

  Returns:
    An :class:`~jaxmeta.types.Algorithm`; ``evaluate`` is the query accuracy, constant
    along the curve (nothing is adapted by steps).

  Raises:
    ConfigError: naming the bad argument (``ways``, ``metanet_head``, ``filters``,
      ``metanet_minibatches``, ``metanet_loss``, ``metanet_clip``).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> from jaxmeta.types import Episode
    >>> ep = Episode(jnp.ones((2, 8, 8, 1)), jnp.array([0, 1]), jnp.ones((4, 8, 8, 1)), jnp.array([0, 1, 0, 1]))
    >>> algo = metanet(2, filters=4, minibatches=2)
    >>> params = jax.jit(algo.init)(jax.random.key(0), ep)
    >>> jax.jit(algo.evaluate, static_argnums=2)(params, ep, 0, jax.random.key(1)).shape
    (1,)
  """
  ways = check_ways(ways)
  head = ways if head is None else checks.integer("metanet_head", head, minimum=2)
  filters = checks.integer("filters", filters)
  minibatches = checks.integer("metanet_minibatches", minibatches)
  loss = check_loss(loss)
  clip_norm = checks.positive_number("metanet_clip", clip_norm)

  def init(key, episode: Episode):
    check_episode(episode, ways)
    x = episode.support_x
    if x.ndim not in (3, 4) or x.shape[1] != x.shape[2]:
      raise ConfigError("image_size", f"MetaNet takes square images [n, S, S, C]; the task's "
                        f"are {tuple(x.shape)}")
    return init_params(key, episode, head=head, filters=filters, loss=loss)

  def episode_loss(params, episode, key):
    logits = metanet_logits(params, episode, ways, minibatches=minibatches, loss=loss, key=key)
    ce = -jnp.take_along_axis(jax.nn.log_softmax(logits), episode.query_y[:, None], -1)
    total = jnp.sum(ce)    # the code sums the queries' losses
    return total, {"loss": total / ce.shape[0], "accuracy": accuracy(logits, episode.query_y)}

  def meta_grad(params, episode: Episode, key):
    check_episode(episode, ways)
    grads, metrics = jax.grad(episode_loss, has_aux=True)(params, episode, key)
    norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
    scale = clip_norm / jnp.maximum(norm, clip_norm)
    return jax.tree.map(lambda g: g * scale, grads), dict(metrics, meta_grad_norm=norm)

  def evaluate(params, episode: Episode, num_steps: int, key, observe_at=None) -> jax.Array:
    del observe_at   # the fast weights come from one pass: every point is the same
    check_episode(episode, ways)
    logits = metanet_logits(params, episode, ways, minibatches=minibatches, loss=loss, key=key)
    return jnp.full((num_steps + 1,), accuracy(logits, episode.query_y))

  return Algorithm("metanet", init, meta_grad, evaluate)


OPTIONS = (
    options.choice("metanet_loss", "ce", LOSSES, "MetaNet: the representation loss whose "
                   "gradients F reads: ce (N-way cross-entropy of the key network's head, the "
                   "authors' code) | verification (same-class pairs, the paper's text)"),
    options.integer("metanet_minibatches", 5, "MetaNet: T, support mini-batches (pairs for "
                    "--metanet-loss verification) fed to F (the code's 5)", maximum=1000),
    options.integer("metanet_head", None, "MetaNet: columns of the slow 64->N weights (default "
                    "--ways); class c uses column c mod this, so other N can be scored",
                    minimum=2, maximum=100_000),
    options.number("metanet_clip", 10.0, "MetaNet: global-norm bound on each task's "
                   "meta-gradient (the code's 10)"),
)


def _from_config(config, model, task) -> Algorithm:
  del model   # MetaNet has its own two networks (the paper's)
  return metanet(task.output_size, head=config.metanet_head or config.ways,
                 filters=config.filters, minibatches=config.metanet_minibatches,
                 loss=config.metanet_loss, clip_norm=config.metanet_clip)


REGISTRATION = Registration(
    "metanet", _from_config, OPTIONS, reads=("ways", "filters"),
    description="Meta Networks (Munkhdalai & Yu 2017): fast weights from loss gradients, "
                "task-level (LSTM F) and example-level (MLP G, memory read by cosine attention).")
