"""Inner optimizers as optax transformations (--inner-optimizer sgd|adam), the linearly
annealed outer step (--outer-schedule linear), Reptile's inner mini-batches, and the
refusals: metasgd with Adam, the identities with a non-SGD rule, bad flags."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import jaxmeta
from jaxmeta import algorithms, cli, identities, registry
from jaxmeta.algorithms.common import inner_rule, model_loss, query_batch, support_batch
from jaxmeta.algorithms.reptile import minibatches
from jaxmeta.config import Config, validate
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import adapt, from_optax, named, sgd


def _setup(shots=10, query=9, hidden=(8,), dtype=jnp.float32):
  task = jaxmeta.tasks.sinusoid(shots=shots, query=query)
  model = jaxmeta.models.MLP(hidden, 1)
  episode = jax.tree.map(lambda v: v.astype(dtype), task.sample(jax.random.key(3)))
  params = jax.tree.map(lambda v: v.astype(dtype), jax.jit(model.init)(jax.random.key(4), episode.support_x))
  return task, model, episode, params


def _config(**values):
  return validate(Config(**values))


# --------------------------------------------------------------------------- sgd: unchanged


@pytest.mark.parametrize("algo", ["maml", "fomaml", "reptile"])
def test_inner_optimizer_sgd_is_bit_identical_to_the_inner_lr_path(algo):
  task, model, episode, params = _setup()
  config = _config(algo=algo, inner_lr=0.03, inner_steps=3)
  assert config.inner_optimizer == "sgd"
  built = registry.ALGORITHMS[algo].build(config, model, task)
  factory = {"maml": algorithms.maml, "fomaml": algorithms.fomaml, "reptile": algorithms.reptile}[algo]
  direct = factory(model, task, inner_lr=0.03, inner_steps=3)
  key = jax.random.key(5)
  got, want = jax.jit(built.meta_grad)(params, episode, key), jax.jit(direct.meta_grad)(params, episode, key)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(built.evaluate(params, episode, 4, key),
                                direct.evaluate(params, episode, 4, key))


def test_constant_outer_schedule_is_the_plain_optimizer():
  for name, make in registry.OPTIMIZERS.items():
    opt = registry.build_optimizer(Config(optimizer=name, outer_lr=0.3))
    want = make(0.3)
    p, g = jnp.arange(3.0), jnp.array([1.0, -2.0, 0.5])
    u, _ = opt.update(g, opt.init(p), p)
    v, _ = want.update(g, want.init(p), p)
    np.testing.assert_array_equal(u, v)


# --------------------------------------------------------------------------- adam


def _hand_adam(loss, params, batch, lr, b1, b2, steps, batches=None):
  """optax.adam as a Python loop, independent of adapt()'s lax.scan."""
  opt = optax.adam(lr, b1=b1, b2=b2)
  state = opt.init(params)
  for i in range(steps):
    g = jax.grad(loss)(params, batch if batches is None else jax.tree.map(lambda v: v[i], batches))
    updates, state = opt.update(g, state, params)
    params = optax.apply_updates(params, updates)
  return params


def test_adam_inner_loop_equals_hand_unrolled_optax_adam():
  task, model, episode, params = _setup()
  loss = model_loss(model, task)
  config = _config(algo="reptile", inner_optimizer="adam", inner_lr=0.01, inner_beta1=0.0,
                   inner_beta2=0.99, inner_steps=4)
  want = _hand_adam(loss, params, support_batch(episode), 0.01, 0.0, 0.99, 4)
  got, _ = adapt(loss, params, support_batch(episode), update=inner_rule(config), steps=4)
  chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-7)
  # Reptile's pseudo-gradient is (theta - W) / alpha with W where Adam ends.
  algo = registry.ALGORITHMS["reptile"].build(config, model, task)
  grads, _ = algo.meta_grad(params, episode, jax.random.key(0))
  chex.assert_trees_all_close(grads, jax.tree.map(lambda p, w: (p - w) / 0.01, params, want),
                              rtol=1e-4, atol=1e-5)
  # The state is fresh per task: two calls give the same result.
  again, _ = algo.meta_grad(params, episode, jax.random.key(0))
  chex.assert_trees_all_equal(grads, again)


def test_python_factories_take_any_update_rule():
  task, model, episode, params = _setup()
  rule = from_optax(optax.adam(1e-2))
  for factory in (algorithms.maml, algorithms.fomaml, algorithms.reptile, algorithms.pretrained):
    algo = factory(model, task, update=rule)
    grads, metrics = algo.meta_grad(params, episode, jax.random.key(0))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert algo.evaluate(params, episode, 2, jax.random.key(1)).shape == (3,)
  with pytest.raises(ConfigError) as e:
    algorithms.maml(model, task, update="adam")
  assert e.value.parameter == "update"


def _meta_loss(model, task, episode, rule, steps):
  loss = model_loss(model, task)
  def f(p):
    adapted, _ = adapt(loss, p, support_batch(episode), update=rule, steps=steps)
    return loss(adapted, query_batch(model, episode))
  return f


def test_maml_second_order_through_adam_matches_finite_differences(x64):
  task, model, episode, params = _setup(hidden=(5,), dtype=jnp.float64)
  config = _config(inner_optimizer="adam", inner_lr=0.05, inner_beta1=0.5, inner_beta2=0.9,
                   inner_steps=3)
  algo = registry.ALGORITHMS["maml"].build(config, model, task)
  grads, _ = algo.meta_grad(params, episode, jax.random.key(0))
  f = jax.jit(_meta_loss(model, task, episode, inner_rule(config, differentiated=True), 3))
  chex.assert_trees_all_close(grads, jax.grad(f)(params), rtol=1e-10)
  flat, unravel = ravel_pytree(params)
  eps = 1e-6
  fd = np.array([(f(unravel(flat + eps * e)) - f(unravel(flat - eps * e))) / (2 * eps)
                 for e in np.eye(flat.size)])
  np.testing.assert_allclose(ravel_pytree(grads)[0], fd, rtol=1e-5, atol=1e-8)
  # The first-order path differs (no derivative through Adam), as FOMAML should.
  fo = registry.ALGORITHMS["fomaml"].build(config, model, task).meta_grad(params, episode, None)[0]
  assert not np.allclose(ravel_pytree(fo)[0], fd, rtol=1e-3)


def test_second_order_adam_is_finite_where_a_gradient_is_exactly_zero(x64):
  """A dead ReLU unit's weight has gradient exactly 0, so Adam's v = 0 and d sqrt(v) = inf:
  with eps_root = 0 the meta-gradient is nan, with the rule built for MAML (eps_root 1e-8)
  it is finite."""
  loss = lambda p, b: jnp.mean((jax.nn.relu(b[0] * p["dead"]) * p["a"] + b[0] * p["w"] - b[1]) ** 2)
  x = jnp.linspace(0.1, 1.0, 5)
  batch = (x, jnp.cos(x))
  params = {"w": jnp.asarray(0.3), "dead": jnp.asarray(-1.0), "a": jnp.asarray(0.7)}
  def meta(rule):
    return jax.grad(lambda p: loss(adapt(loss, p, batch, update=rule, steps=2)[0], batch))(params)
  assert not np.all(np.isfinite(ravel_pytree(meta(named("adam", 0.1)))[0]))
  config = _config(inner_optimizer="adam", inner_lr=0.1)
  assert np.all(np.isfinite(ravel_pytree(meta(inner_rule(config, differentiated=True)))[0]))


def test_metasgd_refuses_another_inner_optimizer():
  task, model, _, _ = _setup()
  with pytest.raises(ConfigError) as e:
    registry.ALGORITHMS["metasgd"].build(_config(algo="metasgd", inner_optimizer="adam"), model, task)
  assert e.value.parameter == "inner_optimizer"
  registry.ALGORITHMS["metasgd"].build(_config(algo="metasgd"), model, task)   # sgd: fine


def test_methods_declare_the_inner_optimizer_options():
  for name in ("maml", "fomaml", "reptile", "pretrained", "anil"):
    reads = registry.options_read_by(name)
    assert {"inner_optimizer", "inner_beta1", "inner_beta2"} <= set(reads), name
  assert "inner_optimizer" in registry.options_read_by("metasgd")
  assert {"inner_batch", "eval_inner_batch"} <= set(registry.options_read_by("reptile"))


# --------------------------------------------------------------------------- outer schedule


def _rates(optimizer, steps, state=None, p=jnp.zeros(())):
  """The learning rate of each of ``steps`` updates: -update of the gradient 1 (sgd)."""
  state = optimizer.init(p) if state is None else state
  rates = []
  for _ in range(steps):
    update, state = optimizer.update(jnp.ones(()), state, p)
    rates.append(float(-update))
  return rates, state


def test_linear_schedule_anneals_from_outer_lr_to_zero_and_resumes_from_the_state_count():
  config = Config(optimizer="sgd", outer_lr=0.5, outer_schedule="linear", steps=10)
  opt = registry.build_optimizer(config)
  rates, _ = _rates(opt, 11)
  np.testing.assert_allclose([rates[0], rates[5], rates[10]], [0.5, 0.25, 0.0], atol=1e-7)
  np.testing.assert_allclose(rates, 0.5 * (1 - np.minimum(np.arange(11), 10) / 10), atol=1e-7)
  # The count lives in the optimizer state (the checkpoint): a rebuilt optimizer continues.
  _, state = _rates(opt, 5)
  assert int(optax.tree_utils.tree_get(state, "count")) == 5
  resumed, _ = _rates(registry.build_optimizer(config), 5, state)
  np.testing.assert_allclose(resumed, rates[5:10], atol=1e-7)
  # Raising --steps on resume stretches what is left: outer_lr * (1 - s / new_steps).
  stretched, _ = _rates(registry.build_optimizer(config.replace(steps=20)), 1, state)
  np.testing.assert_allclose(stretched, [0.5 * (1 - 5 / 20)], atol=1e-7)


def test_linear_schedule_with_adam_scales_adams_step():
  config = Config(optimizer="adam", outer_lr=0.1, outer_schedule="linear", steps=4)
  rates, _ = _rates(registry.build_optimizer(config), 4)
  np.testing.assert_allclose(rates, [0.1, 0.075, 0.05, 0.025], rtol=1e-5)


def test_reptile_published_meta_step_is_epsilon_times_w_minus_theta():
  """outer SGD at epsilon * alpha on (theta - W) / alpha is theta + epsilon (W - theta)."""
  task, model, episode, params = _setup()
  config = _config(algo="reptile", inner_optimizer="adam", inner_lr=0.001, inner_beta1=0.0,
                   inner_steps=5, optimizer="sgd", outer_lr=0.001, outer_schedule="linear",
                   steps=4)
  algo = registry.ALGORITHMS["reptile"].build(config, model, task)
  grads, _ = algo.meta_grad(params, episode, jax.random.key(0))
  w = _hand_adam(model_loss(model, task), params, support_batch(episode), 0.001, 0.0, 0.999, 5)
  opt = registry.build_optimizer(config)
  state = opt.init(params)
  for epsilon in (1.0, 0.75):
    updates, state = opt.update(grads, state, params)
    new = optax.apply_updates(params, updates)
    chex.assert_trees_all_close(new, jax.tree.map(lambda t, wi: t + epsilon * (wi - t), params, w),
                                rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- reptile batches


def test_minibatches_differ_per_step_and_cover_the_support_set():
  batches = minibatches(jax.random.key(0), (jnp.arange(50), -jnp.arange(50)), 10, 5)
  x, y = batches
  assert x.shape == (5, 10)
  np.testing.assert_array_equal(y, -x)                      # pairs stay together
  assert sorted(np.asarray(x).reshape(-1).tolist()) == list(range(50))   # one pass: each once
  assert len({tuple(sorted(row)) for row in np.asarray(x).tolist()}) == 5
  other = minibatches(jax.random.key(1), jnp.arange(50), 10, 5)
  assert not np.array_equal(np.asarray(other), np.asarray(x))
  # More steps than one pass: a fresh order after each pass, every example equally often.
  long = np.asarray(minibatches(jax.random.key(2), jnp.arange(6), 4, 3)).reshape(-1)
  assert sorted(long.tolist()) == sorted(list(range(6)) * 2)


def test_reptile_inner_steps_use_the_minibatches_drawn_with_the_key():
  task, model, episode, params = _setup(shots=20)
  loss = model_loss(model, task)
  algo = algorithms.reptile(model, task, inner_lr=0.02, inner_steps=4, inner_batch=5)
  key = jax.random.key(7)
  grads, _ = algo.meta_grad(params, episode, key)
  batches = minibatches(key, support_batch(episode), 5, 4)
  w = params
  for i in range(4):
    w = jax.tree.map(lambda a, g: a - 0.02 * g, w,
                     jax.grad(loss)(w, jax.tree.map(lambda v: v[i], batches)))
  chex.assert_trees_all_close(grads, jax.tree.map(lambda p, wi: (p - wi) / 0.02, params, w),
                              rtol=1e-4, atol=1e-5)
  other, _ = algo.meta_grad(params, episode, jax.random.key(8))
  assert not np.allclose(ravel_pytree(other)[0], ravel_pytree(grads)[0])
  full = algorithms.reptile(model, task, inner_lr=0.02, inner_steps=4)
  assert not np.allclose(ravel_pytree(full.meta_grad(params, episode, key)[0])[0],
                         ravel_pytree(grads)[0])
  curve = algorithms.reptile(model, task, inner_lr=0.02, eval_inner_batch=5).evaluate(
      params, episode, 3, key)
  assert curve.shape == (4,) and np.all(np.isfinite(curve))
  with pytest.raises(ConfigError) as e:
    algorithms.reptile(model, task, inner_batch=0)
  assert e.value.parameter == "inner_batch"


def test_reptile_carried_inner_state_is_the_mean_final_state_of_the_meta_batch():
  """inner_state="carried": every task's Adam starts from the carried moments and step
  count; after a meta-step they are the mean of the tasks' final ones, theta moves as
  theta + epsilon (mean W - theta), and evaluation starts from the carried moments."""
  task, model, _, _ = _setup()
  adam = optax.adam(0.001, b1=0.0)
  algo = algorithms.reptile(model, task, inner_lr=0.001, inner_steps=3,
                            update=from_optax(adam), inner_state="carried")
  outer = optax.sgd(0.001 * 0.5)   # epsilon = 0.5
  state = jaxmeta.init_state(jax.random.key(0), task, algo, outer)
  theta0, moments0 = state.params["model"], state.params["inner_state"]
  assert float(moments0[0].count) == 0.0          # Adam's fresh state, count as float32
  step = jaxmeta.make_train_step(task, algo, outer, meta_batch_size=2, donate=False)
  key = jax.random.key(5)
  state1, _ = step(state, key)
  state2, _ = step(state1, jax.random.key(6))
  # The step's tasks, by hand: episodes and keys as jaxmeta.train.meta_batch_gradient draws them.
  loss = model_loss(model, task)

  def by_hand(theta, moments, key):
    task_key, _ = jax.random.split(key)
    finals, ws = [], []
    for k in jax.random.split(task_key, 2):
      support = support_batch(task.sample(k))
      s = jax.tree.map(lambda v, like: v.astype(like.dtype), moments, adam.init(theta))
      w = theta
      for _ in range(3):
        updates, s = adam.update(jax.grad(loss)(w, support), s, w)
        w = optax.apply_updates(w, updates)
      finals.append(s)
      ws.append(w)
    mean = lambda trees: jax.tree.map(lambda *v: sum(jnp.asarray(x, jnp.float32) for x in v) / 2,
                                      *trees)
    return (jax.tree.map(lambda t, w: t + 0.5 * (w - t), theta, mean(ws)), mean(finals))

  theta1, moments1 = by_hand(theta0, moments0, key)
  chex.assert_trees_all_close(state1.params["model"], theta1, rtol=1e-5, atol=1e-7)
  chex.assert_trees_all_close(state1.params["inner_state"], moments1, rtol=1e-5, atol=1e-12)
  assert float(state1.params["inner_state"][0].count) == 3.0
  assert float(state2.params["inner_state"][0].count) == 6.0   # carried, not reset
  # Evaluation starts every task from the carried moments: it differs from a fresh start.
  episode = task.sample(jax.random.key(9))
  carried = algo.evaluate(state2.params, episode, 3, jax.random.key(1))
  fresh = algorithms.reptile(model, task, inner_lr=0.001, inner_steps=3, update=from_optax(adam))
  started = fresh.evaluate(state2.params["model"], episode, 3, jax.random.key(1))
  assert carried[0] == started[0] and not np.allclose(carried[1:], started[1:])


def test_reptile_carried_inner_state_needs_a_rule_with_state():
  task, model, _, _ = _setup()
  for bad, message in (("carried", "plain SGD"), ("always", "per-task, carried")):
    with pytest.raises(ConfigError) as e:
      algorithms.reptile(model, task, inner_state=bad)
    assert e.value.parameter == "inner_state" and message in e.value.message


# --------------------------------------------------------------------------- identities


def test_identities_refuse_rules_other_than_scalar_sgd():
  loss = lambda p, b: jnp.mean((b[0] * p - b[1]) ** 2)
  batches = [(jnp.ones(3) * i, jnp.arange(3.0)) for i in (1.0, 2.0)]
  for bad in (from_optax(optax.adam(1e-3)), sgd(0.1), jnp.full((1,), 0.1), {"w": 0.1}):
    with pytest.raises(ConfigError) as e:
      identities.meta_gradients(loss, jnp.asarray(0.5), batches, bad)
    assert e.value.parameter == "inner_lr"
    assert "plain SGD" in e.value.message
  identities.meta_gradients(loss, jnp.asarray(0.5), batches, 0.1)   # a scalar: fine


# --------------------------------------------------------------------------- command line

BAD_FLAGS = [
    (["--inner-optimizer", "rmsprop"], "--inner-optimizer"),
    (["--inner-beta1", "1.5"], "--inner-beta1"),
    (["--inner-beta1", "-0.1"], "--inner-beta1"),
    (["--inner-beta2", "1"], "--inner-beta2"),
    (["--outer-schedule", "cosine"], "--outer-schedule"),
    (["--algo", "reptile", "--inner-batch", "0"], "--inner-batch"),
    (["--algo", "reptile", "--inner-state", "carried"], "--inner-state"),
    (["--algo", "reptile", "--inner-state", "always"], "--inner-state"),
    (["--algo", "metasgd", "--inner-optimizer", "adam"], "--inner-optimizer"),
    (["--activation", "sigmoid"], "--activation"),
]


@pytest.mark.parametrize("args, flag", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags_are_one_line_naming_the_flag_and_nothing_is_written(capsys, tmp_path, args, flag):
  workdir = tmp_path / "w"
  code = cli.main(["train", *args, "--steps", "2", "--workdir", str(workdir), "--no-progress"])
  err = capsys.readouterr().err
  assert code == 2, err
  assert err.startswith(f"jaxmeta: error: {flag}: ") and err.count("\n") == 1, err
  assert not workdir.exists()


def test_reptile_help_lists_the_inner_optimizer_and_batch_options(capsys):
  assert cli.main(["train", "--algo", "reptile", "--help"]) == 0
  text = " ".join(capsys.readouterr().out.split())
  for flag in ("--inner-optimizer", "--inner-beta1", "--inner-beta2", "--inner-batch",
               "--eval-inner-batch", "--outer-schedule"):
    assert flag in text, flag
  assert "It reads" in text
  reads = text.split("It reads")[1].split("besides")[0].replace("- ", "-")  # argparse wraps at "-"
  assert "--inner-optimizer, --inner-beta1, --inner-beta2" in reads and "--inner-state" in reads
