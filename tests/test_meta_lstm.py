"""The LSTM meta-learner (Ravi & Larochelle 2017): the rule's SGD identities, its
meta-gradient against finite differences, training, and the command line's refusals."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import jaxmeta
from jaxmeta import cli
from jaxmeta.algorithms.common import model_loss, support_batch
from jaxmeta.algorithms.meta_lstm import (FORGET_BIAS, INPUT_BIAS, clip_by_global_norm,
                                          init_meta_learner, meta_lstm, meta_lstm_rule,
                                          preprocess)
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import adapt

from data_paths import OMNIGLOT, requires_omniglot


def _norm(tree) -> float:
  return float(jnp.linalg.norm(ravel_pytree(tree)[0]))


def _tiny(dtype=jnp.float32):
  """A sinusoid task, a small MLP learner, one episode and its parameters."""
  task = jaxmeta.tasks.sinusoid(shots=5, query=5)
  model = jaxmeta.models.MLP((8,), 1)
  episode = task.sample(jax.random.key(1))
  episode = jax.tree.map(lambda v: jnp.asarray(v, dtype), episode)
  theta = jax.tree.map(lambda v: jnp.asarray(v, dtype),
                       jax.jit(model.init)(jax.random.key(0), episode.support_x))
  return task, model, episode, theta


def test_preprocessing_of_andrychowicz_et_al():
  x = jnp.array([1e3, -2.0, 1e-5, -1e-5, 0.0])
  out = np.asarray(preprocess(x))
  np.testing.assert_allclose(out[:2], [[math.log(1e3) / 10, 1.0], [math.log(2.0) / 10, -1.0]],
                             rtol=1e-6)
  # |x| < e^-10 ~ 4.5e-5: (-1, e^10 x)
  np.testing.assert_allclose(out[2:], [[-1.0, math.exp(10) * 1e-5], [-1.0, -math.exp(10) * 1e-5],
                                       [-1.0, 0.0]], rtol=1e-6)


def test_initialisation_ranges():
  m = init_meta_learner(jax.random.key(3))
  for w in (m["lstm"]["kernel"], m["lstm"]["bias"], m["forget"]["kernel"], m["input"]["kernel"]):
    assert float(jnp.max(jnp.abs(w))) <= 0.01
  assert FORGET_BIAS[0] <= float(m["forget"]["bias"]) <= FORGET_BIAS[1] == 5.0
  assert INPUT_BIAS[0] == -5.0 <= float(m["input"]["bias"]) <= INPUT_BIAS[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_initialisation_an_update_is_sgd_with_rate_sigmoid_b_i(seed):
  """theta_1 = f theta_0 - i g with f = sigmoid(b_F + a_F), i = sigmoid(b_I + a_I), where
  a = W . [h_1, theta_0, 0] and |a| <= d = 0.01 (20 + |theta_0|) (|W| <= 0.01, |h| < 1, the
  previous gate 0). Hence, per coordinate,
  |theta_1 - (theta_0 - sigmoid(b_I) g)| <= (1 - sigmoid(b_F - d)) |theta_0|
                                            + (sigmoid(b_I + d) - sigmoid(b_I)) |g|,
  the second term bounding |i - sigmoid(b_I)| as sigmoid is convex below 0 (b_I + d < 0)."""
  task, model, episode, theta = _tiny()
  meta = init_meta_learner(jax.random.key(seed))
  loss, grads = jax.value_and_grad(model_loss(model, task))(theta, support_batch(episode))
  rule = meta_lstm_rule(meta)
  new, state = rule.update(grads, rule.init(theta), theta, loss)
  t, g, n = (np.asarray(ravel_pytree(v)[0], np.float64) for v in (theta, grads, new))
  b_f, b_i = float(meta["forget"]["bias"]), float(meta["input"]["bias"])
  sig = lambda z: 1.0 / (1.0 + np.exp(-z))
  d = 0.01 * (20 + np.abs(t))
  assert np.all(b_i + d < 0)
  tolerance = (1 - sig(b_f - d)) * np.abs(t) + (sig(b_i + d) - sig(b_i)) * np.abs(g)
  deviation = np.abs(n - (t - sig(b_i) * g))
  assert np.all(deviation <= tolerance + 1e-6), float(np.max(deviation - tolerance))
  # A priori (|theta_0| < 2): f >= sigmoid(4 - 0.22) > 0.977 and i / sigmoid(b_I) < e^0.22.
  assert np.max(np.abs(t)) < 2
  assert np.all(sig(b_f - d) > 0.977) and np.all(sig(b_i + d) / sig(b_i) < math.exp(0.22))
  # With the first layer's actual outputs (|h| ~ 1e-3 at init), d = 0.01 (sum |h| + |theta_0|):
  d_h = 0.01 * (np.abs(np.asarray(state.h, np.float64)).sum(1) + np.abs(t))
  tight = (1 - sig(b_f - d_h)) * np.abs(t) + (sig(b_i + d_h) - sig(b_i)) * np.abs(g)
  assert np.all(deviation <= tight + 1e-6), float(np.max(deviation - tight))
  assert float(jnp.min(state.f)) > 0.977                      # the gates themselves
  np.testing.assert_allclose(np.asarray(state.i), sig(b_i), rtol=math.exp(0.22) - 1)


def test_forced_gates_make_the_cell_exactly_sgd():
  """f = 1 and i = alpha: theta_t = theta_{t-1} - alpha grad_t (reference text, "LSTM
  meta-learner"), whatever the first layer does."""
  task, model, episode, theta = _tiny()
  alpha = 0.05
  meta = init_meta_learner(jax.random.key(0))
  meta["forget"] = {"kernel": jnp.zeros_like(meta["forget"]["kernel"]), "bias": jnp.float32(40.0)}
  meta["input"] = {"kernel": jnp.zeros_like(meta["input"]["kernel"]),
                   "bias": jnp.float32(math.log(alpha / (1 - alpha)))}
  assert float(jax.nn.sigmoid(meta["forget"]["bias"])) == 1.0
  rate = float(jax.nn.sigmoid(meta["input"]["bias"]))
  assert abs(rate - alpha) < 1e-8
  loss_fn, support = model_loss(model, task), support_batch(episode)
  w_lstm, l_lstm = adapt(loss_fn, theta, support, update=meta_lstm_rule(meta), steps=4,
                         first_order=True)
  w_sgd, l_sgd = adapt(loss_fn, theta, support, lr=rate, steps=4)
  for a, b in zip(jax.tree.leaves(w_lstm), jax.tree.leaves(w_sgd)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(l_lstm, l_sgd, rtol=1e-6)
  assert float(l_lstm[-1]) < float(l_lstm[0])


def _perturbed(params, key):
  """Meta-learner weights large enough that the gates depend on their inputs."""
  meta = jax.tree.map(lambda v: v * 40.0, params["meta_learner"])
  meta["forget"]["bias"] = jnp.asarray(2.0, meta["forget"]["bias"].dtype)
  meta["input"]["bias"] = jnp.asarray(-2.0, meta["input"]["bias"].dtype)
  del key
  return {"model": params["model"], "meta_learner": meta}


def test_meta_gradient_matches_finite_differences(x64):
  """The meta-gradient in float64 against central differences of the query loss after T = 3
  updates whose inputs (the learner's gradients and losses) are held at their values along
  the trajectory: the paper's assumption (sec. 3.2), what adapt(first_order=True) does."""
  task, model, episode, _ = _tiny(jnp.float64)
  updates = 3
  algo = meta_lstm(model, task, meta_lstm_updates=updates, clip_norm=1e9)
  params = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64),
                        jax.jit(algo.init)(jax.random.key(5), episode))
  params = _perturbed(params, jax.random.key(6))
  loss_fn, support = model_loss(model, task), support_batch(episode)
  query = (episode.query_x, episode.query_y)

  # The inputs the rule sees along the trajectory from params.
  rule = meta_lstm_rule(params["meta_learner"])
  theta, state, inputs = params["model"], rule.init(params["model"]), []
  for _ in range(updates):
    loss, grads = jax.value_and_grad(loss_fn)(theta, support)
    inputs.append((grads, loss))
    theta, state = rule.update(grads, state, theta, loss)

  def with_inputs_held(p):
    rule = meta_lstm_rule(p["meta_learner"])
    theta, state = p["model"], rule.init(p["model"])
    for grads, loss in inputs:
      theta, state = rule.update(grads, state, theta, loss)
    return loss_fn(theta, query)

  grads, metrics = algo.meta_grad(params, episode, jax.random.key(0))
  np.testing.assert_allclose(metrics["loss"], with_inputs_held(params), rtol=1e-12)
  assert float(metrics["meta_grad_norm"]) > 0
  # Both parts get a gradient: the meta-learner and theta_0.
  for part in ("meta_learner", "model"):
    assert _norm((grads[part])) > 1e-6, part
  flat, unravel = ravel_pytree(params)
  g_flat = ravel_pytree(grads)[0]
  n_meta = ravel_pytree(params["meta_learner"])[0].shape[0]
  rng = np.random.default_rng(0)
  for which in ("all", "meta_learner", "model"):
    direction = rng.standard_normal(flat.shape[0])
    mask = np.zeros(flat.shape[0])
    # ravel_pytree orders the top-level keys alphabetically: meta_learner, then model.
    if which == "meta_learner":
      mask[:n_meta] = 1
    elif which == "model":
      mask[n_meta:] = 1
    else:
      mask[:] = 1
    direction = jnp.asarray(direction * mask / np.linalg.norm(direction * mask))
    eps = 1e-6
    fd = (with_inputs_held(unravel(flat + eps * direction))
          - with_inputs_held(unravel(flat - eps * direction))) / (2 * eps)
    analytic = float(jnp.vdot(g_flat, direction))
    assert abs(float(fd) - analytic) <= 1e-8 + 1e-6 * abs(analytic), (which, float(fd), analytic)
    assert abs(analytic) > 1e-5, which


def test_clipping_and_remat():
  task, model, episode, _ = _tiny()
  loose = meta_lstm(model, task, meta_lstm_updates=3, clip_norm=1e9)
  params = jax.jit(loose.init)(jax.random.key(0), episode)
  g, m = loose.meta_grad(params, episode, jax.random.key(0))
  norm = float(m["meta_grad_norm"])
  np.testing.assert_allclose(norm, _norm((g)), rtol=1e-5)
  bound = norm / 10
  g_clip, m_clip = meta_lstm(model, task, meta_lstm_updates=3, clip_norm=bound).meta_grad(
      params, episode, jax.random.key(0))
  np.testing.assert_allclose(_norm((g_clip)), bound, rtol=1e-5)
  np.testing.assert_allclose(ravel_pytree(g_clip)[0], ravel_pytree(g)[0] / 10, rtol=1e-4, atol=1e-9)
  g_remat, _ = meta_lstm(model, task, meta_lstm_updates=3, clip_norm=1e9, remat=True).meta_grad(
      params, episode, jax.random.key(0))
  np.testing.assert_allclose(ravel_pytree(g_remat)[0], ravel_pytree(g)[0], rtol=1e-5, atol=1e-7)
  clipped, n = clip_by_global_norm({"a": jnp.ones(4)}, 1.0)
  assert float(n) == 2.0 and clipped["a"].tolist() == [0.5] * 4


def test_meta_training_reduces_the_query_loss():
  """150 meta-steps (5 tasks each, Adam 3e-3) on sinusoids: the query MSE after 5 meta-LSTM
  updates on 100 fixed test tasks falls from 5.09 at initialisation to about 3.0 (measured),
  and the learned rule improves on theta_0 (about 3.48 before the updates)."""
  task = jaxmeta.tasks.sinusoid(shots=10, query=10)
  algo = meta_lstm(jaxmeta.models.MLP((40, 40), 1), task, meta_lstm_updates=5)
  opt = optax.adam(3e-3)
  state = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  loop = jaxmeta.make_train_loop(task, algo, opt, 5, 50)
  test_keys = jax.random.split(jax.random.key(99), 100)

  @jax.jit
  def curve(params):
    return jnp.mean(jax.vmap(lambda k: algo.evaluate(params, task.sample(k), 5, k))(test_keys), 0)

  before = np.asarray(curve(state.params))
  for _ in range(3):
    state, metrics = loop(state, jax.random.key(1))
  after = np.asarray(curve(state.params))
  assert int(state.step) == 150 and np.all(np.isfinite(np.asarray(metrics["loss"])))
  assert after[-1] < 0.7 * before[-1], (before, after)
  assert after[-1] < 0.95 * after[0], after


def test_cli_trains_and_evaluates_meta_lstm_on_sinusoids(tmp_path, capsys):
  run = tmp_path / "run"
  code = cli.main(["train", "--algo", "meta-lstm", "--task", "sinusoid", "--meta-lstm-updates", "3",
                   "--steps", "20", "--steps-per-call", "10", "--meta-batch-size", "4",
                   "--eval-tasks", "10", "--eval-steps", "0,3", "--workdir", str(run),
                   "--no-progress"])
  assert code == 0, capsys.readouterr().err
  assert (run / "eval.json").exists()


def test_builder_refusals_name_the_parameter():
  task = jaxmeta.tasks.sinusoid()
  model = jaxmeta.models.MLP((8,), 1)
  with pytest.raises(ConfigError) as e:
    meta_lstm(model, task, meta_lstm_updates=0)
  assert e.value.parameter == "meta_lstm_updates"
  with pytest.raises(ConfigError) as e:
    meta_lstm(model, task, clip_norm=-1.0)
  assert e.value.parameter == "clip_norm"
  with pytest.raises(ConfigError) as e:
    meta_lstm(jaxmeta.models.Conv4(filters=8), task)          # no head
  assert e.value.parameter == "model"
  with pytest.raises(ConfigError, match="one of episode, support") as e:
    meta_lstm(model, task, eval_norm="running")
  assert e.value.parameter == "eval_norm"


@pytest.mark.parametrize("flag, value", [("--meta-lstm-updates", "0"), ("--clip-norm", "0")])
def test_bad_values_are_one_line_naming_the_flag(capsys, tmp_path, flag, value):
  work = tmp_path / "w"
  code = cli.main(["train", "--algo", "meta-lstm", flag, value, "--workdir", str(work),
                   "--no-progress"])
  err = capsys.readouterr().err
  assert code == 2, err
  assert err.startswith(f"jaxmeta: error: {flag}: ") and err.count("\n") == 1, err
  assert not work.exists()


@requires_omniglot
def test_the_omniglot_preset_refuses_a_learner_without_batch_norm(capsys, tmp_path):
  work = tmp_path / "w"
  code = cli.main(["train", "--preset", "meta-lstm-omniglot-5w1s", "--norm", "none",
                   "--data-dir", str(OMNIGLOT), "--cache-dir", str(tmp_path / "cache"),
                   "--workdir", str(work), "--no-progress"])
  err = capsys.readouterr().err
  assert code == 2, err
  assert err.startswith("jaxmeta: error: --norm: ") and err.count("\n") == 1, err
  assert "batch norm" in err
  assert not work.exists()


@pytest.mark.parametrize("name", ["meta-lstm-omniglot-5w1s", "meta-lstm-omniglot-5w5s",
                                  "meta-lstm-miniimagenet-5w1s", "meta-lstm-miniimagenet-5w5s"])
def test_presets_build_the_papers_learner_and_settings(name):
  import types
  from jaxmeta import registry
  from jaxmeta.config import from_preset, validate
  config = validate(from_preset(name))
  shots = 1 if name.endswith("5w1s") else 5
  assert (config.algo, config.ways, config.shots, config.query) == ("meta-lstm", 5, shots, 15)
  assert config.meta_lstm_updates == (12 if shots == 1 else 8)
  assert config.eval_steps == (0, config.meta_lstm_updates) and config.eval_shots == shots
  assert (config.optimizer, config.outer_lr, config.clip_norm, config.meta_batch_size) == (
      "adam", 1e-3, 0.25, 1)
  task = types.SimpleNamespace(output_size=5, loss=lambda *a: 0.0, metric=lambda *a: 0.0)
  model = registry.build_model(config, task)
  assert isinstance(model, jaxmeta.models.Conv4)
  learner = (model.filters, model.stride, model.pool, model.readout, model.norm, model.output_size)
  assert learner == (32, 1, True, "flatten", "batch", 5)
  assert registry.build_algorithm(config, task).name == "meta-lstm"


@pytest.mark.parametrize("eval_norm,scoring_norm", [("support", "support"), ("episode", "batch")])
def test_conv4_learner_batch_norm_in_training_support_statistics_at_evaluation(eval_norm,
                                                                               scoring_norm):
  """The same parameters serve norm="batch" (meta_grad) and norm="support" (evaluate): the
  evaluation curve is that of the support-statistics model, a norm="batch" learner's; with
  eval_norm="episode" that of the batch-statistics model (support and query together)."""
  import types
  from jaxmeta.algorithms.common import finetune_curve
  from jaxmeta.types import Episode
  x = jax.random.normal(jax.random.key(0), (15, 16, 16, 1))   # 16x16: the smallest 4-pool size
  y = jnp.tile(jnp.arange(5), 3)
  episode = Episode(x[:5], y[:5], x[5:], y[5:])
  task = types.SimpleNamespace(
      output_size=5,
      loss=lambda logits, y: jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y)),
      metric=lambda logits, y: jnp.mean(jnp.argmax(logits, -1) == y))
  model = jaxmeta.models.Conv4(filters=4, stride=1, pool=True, output_size=5)
  algo = meta_lstm(model, task, meta_lstm_updates=2, eval_norm=eval_norm)
  params = jax.jit(algo.init)(jax.random.key(1), episode)
  support_model = model.clone(norm=scoring_norm)
  assert (jax.tree.structure(jax.jit(support_model.init)(jax.random.key(1), x[:5]))
          == jax.tree.structure(params["model"]))
  curve = jax.jit(algo.evaluate, static_argnums=2)(params, episode, 2, jax.random.key(2))
  expected = jax.jit(lambda p: finetune_curve(support_model, task, p["model"], episode,
                                              meta_lstm_rule(p["meta_learner"]), 2))(params)
  np.testing.assert_allclose(curve, expected, rtol=1e-5)
  grads, metrics = jax.jit(algo.meta_grad)(params, episode, jax.random.key(3))
  assert np.isfinite(float(metrics["loss"])) and _norm(grads) <= 0.25 * (1 + 1e-5)
