"""The jitted, vmapped train step: same meta-gradient as a Python loop, and it learns."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmeta


@pytest.mark.parametrize("algo_name", ["maml", "fomaml", "reptile", "pretrained"])
def test_vmapped_meta_gradient_equals_python_loop(algo_name):
  task = jaxmeta.tasks.sinusoid(shots=10, query=10)
  algo = getattr(jaxmeta.algorithms, algo_name)(jaxmeta.models.MLP((40, 40), 1), task)
  params = jax.jit(algo.init)(jax.random.key(0), task.sample(jax.random.key(1)))
  key = jax.random.key(7)
  grads, metrics = jax.jit(lambda p, k: jaxmeta.meta_batch_gradient(task, algo, p, k, 5))(params, key)

  # The same tasks, one at a time in Python.
  task_key, algo_key = jax.random.split(key)
  task_keys, algo_keys = jax.random.split(task_key, 5), jax.random.split(algo_key, 5)
  per_task = [algo.meta_grad(params, task.sample(task_keys[i]), algo_keys[i]) for i in range(5)]
  expected = jax.tree.map(lambda *g: sum(g) / 5, *[g for g, _ in per_task])
  chex.assert_trees_all_close(grads, expected, rtol=2e-5, atol=1e-6)
  np.testing.assert_allclose(metrics["loss"], np.mean([m["loss"] for _, m in per_task]), rtol=1e-5)

  # lax.map over tasks computes the same thing.
  mapped, _ = jaxmeta.meta_batch_gradient(task, algo, params, key, 5, task_axis="map")
  chex.assert_trees_all_close(mapped, expected, rtol=2e-5, atol=1e-6)


def test_train_step_applies_optax_update():
  task = jaxmeta.tasks.sinusoid()
  algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP((40, 40), 1), task)
  opt = optax.sgd(0.1)
  state = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  before = jax.tree.map(np.asarray, state.params)
  grads, _ = jaxmeta.meta_batch_gradient(task, algo, state.params, jax.random.key(5), 4)
  step = jaxmeta.make_train_step(task, algo, opt, meta_batch_size=4)
  state, metrics = step(state, jax.random.key(5))
  assert int(state.step) == 1 and "loss" in metrics
  chex.assert_trees_all_close(state.params, jax.tree.map(lambda p, g: p - 0.1 * g, before, grads),
                              rtol=1e-5, atol=1e-6)


def test_scanned_loop_equals_repeated_steps():
  task = jaxmeta.tasks.sinusoid()
  algo = jaxmeta.algorithms.fomaml(jaxmeta.models.MLP((16,), 1), task)
  opt = optax.adam(1e-3)
  seed = jax.random.key(11)
  s1 = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  s2 = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  s1, m1 = jaxmeta.make_train_loop(task, algo, opt, 4, steps_per_call=3)(s1, seed)
  step = jaxmeta.make_train_step(task, algo, opt, 4)
  for i in range(3):
    s2, _ = step(s2, jax.random.fold_in(seed, i))
  assert m1["loss"].shape == (3,)
  chex.assert_trees_all_close(s1.params, s2.params, rtol=1e-5, atol=1e-6)


def test_short_maml_training_makes_adaptation_work():
  """3000 meta-steps: one SGD step on K=10 points must cut the query MSE by far."""
  task = jaxmeta.tasks.sinusoid(shots=10, query=10)
  algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP((40, 40), 1), task, inner_lr=0.01)
  opt = optax.adam(1e-3)
  state = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  loop = jaxmeta.make_train_loop(task, algo, opt, 25, steps_per_call=1000)
  for _ in range(3):
    state, metrics = loop(state, jax.random.key(1))
  eval_task = jaxmeta.tasks.sinusoid(shots=10, query=100)
  curves = jaxmeta.evaluate(eval_task, algo, state.params, jax.random.key(2), num_tasks=300, num_steps=10)
  pre, post1, post10 = (np.median(curves[:, s]) for s in (0, 1, 10))
  print("median query MSE before / after 1 / after 10 steps:", pre, post1, post10)
  # Without adaptation no initialisation does much better than predicting 0 (MSE E[A^2]/2 ~ 4.2,
  # median ~ 1.7 for the meta-learned init); adaptation must cut it by far.
  assert pre > 1.0, pre
  assert post1 < 0.5 * pre, (pre, post1)
  assert post10 < 0.25 * pre, (pre, post10)
  assert float(metrics["loss"][-100:].mean()) < 1.5


def test_summarize_ci95():
  values = np.array([1.0, 2.0, 3.0, 4.0])
  s = jaxmeta.summarize(values)
  assert s["mean"] == 2.5 and s["median"] == 2.5
  np.testing.assert_allclose(s["ci95"], 1.96 * np.std(values) / 2)


def test_summarize_counts_diverged_tasks():
  s = jaxmeta.summarize(np.array([1.0, 2.0, np.nan, np.inf, 3.0]))
  assert s["n_nonfinite"] == 2 and not np.isfinite(s["mean"])
  assert s["median"] == 3.0 and s["max"] == np.inf  # NaN ranks as +inf


def test_evaluate_compiles_once_for_repeated_calls():
  """A second `evaluate` on the same task and algorithm reuses the compiled evaluator
  (it used to trace and compile a fresh closure on every call), and gives the same values;
  other params are not baked into it."""
  task = jaxmeta.tasks.sinusoid()
  traces = []

  def sample(key):
    traces.append(1)  # runs only while tracing
    return task.sample(key)

  counted = task._replace(sample=sample)
  algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP((8,), 1), counted)
  params = algo.init(jax.random.key(0), task.sample(jax.random.key(1)))
  first = jaxmeta.evaluate(counted, algo, params, jax.random.key(2), num_tasks=4, num_steps=2)
  n = len(traces)
  again = jaxmeta.evaluate(counted, algo, params, jax.random.key(2), num_tasks=4, num_steps=2)
  assert len(traces) == n
  np.testing.assert_array_equal(first, again)
  other = jax.tree.map(lambda p: p + 0.5, params)
  moved = jaxmeta.evaluate(counted, algo, other, jax.random.key(2), num_tasks=4, num_steps=2)
  assert len(traces) == n
  assert not np.allclose(moved, first)
  jaxmeta.evaluate(counted, algo, params, jax.random.key(2), num_tasks=4, num_steps=3)
  assert len(traces) > n  # a different curve length is a different program
