"""The inner update as a value: adapt() over UpdateRules, checked against hand-unrolled
Python loops, closed forms and finite differences; evaluation keys and curve axes."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import jaxmeta
from jaxmeta import algorithms
from jaxmeta.algorithms.common import adaptation_curve, model_loss
from jaxmeta.algorithms.metric import metric_algorithm
from jaxmeta.inner_loop import UpdateRule, adapt, from_optax, masked, sgd, sgd_step
from jaxmeta.models.conv import Conv4
from jaxmeta.tasks.episodes import accuracy, cross_entropy
from jaxmeta.train import evaluation_key, make_evaluator
from jaxmeta.types import (ADAPTATION_STEPS, PRESENTATIONS, Algorithm, CurveAxis, Episode,
                           TaskDistribution)

MU = 0.7


def _regression(n=6, d=3, seed=0):
  """A least-squares problem with a tanh feature: not quadratic, so Hessians vary."""
  rng = np.random.default_rng(seed)
  x, y = rng.standard_normal((n, d)), rng.standard_normal(n)
  xq, yq = rng.standard_normal((n, d)), rng.standard_normal(n)
  loss = lambda p, b: jnp.mean((jnp.tanh(b[0] @ p["w"]) * p["s"] - b[1]) ** 2)
  params = {"w": jnp.asarray(rng.standard_normal(d) * 0.5), "s": jnp.asarray(1.3)}
  return loss, params, (jnp.asarray(x), jnp.asarray(y)), (jnp.asarray(xq), jnp.asarray(yq))


def momentum_rule(lr) -> UpdateRule:
  """A toy stateful rule standing in for a learned optimizer: heavy-ball momentum whose
  step shrinks with a step counter kept in the state and grows with the loss,
  ``v' = MU v + g``, ``theta' = theta - lr * loss / (1 + t) * v'``. ``lr`` is closed over
  (a meta-parameter of the rule)."""
  def init(params):
    return (jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))

  def update(grads, state, params, loss):
    velocity, t = state
    velocity = jax.tree.map(lambda v, g: MU * v + g, velocity, grads)
    step = lr * loss / (1.0 + t)
    return jax.tree.map(lambda p, v: p - step * v, params, velocity), (velocity, t + 1)

  return UpdateRule(init, update)


def _unrolled_momentum(loss_fn, params, batch, lr, steps, first_order=False):
  """The same rule as a Python loop, independent of adapt()'s lax.scan."""
  velocity = jax.tree.map(jnp.zeros_like, params)
  losses = []
  for t in range(steps):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch)
    losses.append(loss)
    if first_order:
      loss, grads = jax.lax.stop_gradient((loss, grads))
    velocity = jax.tree.map(lambda v, g: MU * v + g, velocity, grads)
    params = jax.tree.map(lambda p, v: p - lr * loss / (1.0 + t) * v, params, velocity)
  return params, jnp.stack(losses), velocity


def test_lr_is_shorthand_for_sgd_and_sgd_step_is_one_step():
  loss, params, support, _ = _regression()
  rates = {"w": jnp.array([0.1, 0.2, 0.3]), "s": jnp.asarray(0.05)}
  for lr in (0.1, rates):
    a, la = adapt(loss, params, support, lr=lr, steps=3)
    b, lb = adapt(loss, params, support, update=sgd(lr), steps=3)
    chex.assert_trees_all_equal(a, b)
    chex.assert_trees_all_equal(la, lb)
    p, ls = params, []
    for _ in range(3):
      p, l = sgd_step(loss, p, support, lr)
      ls.append(l)
    chex.assert_trees_all_close(a, p, rtol=1e-6)
    np.testing.assert_allclose(la, ls, rtol=1e-6)
  # Meta-SGD's rule by hand: theta - alpha o grad (Li et al. 2017, eq. 3).
  g = jax.grad(loss)(params, support)
  one, _ = adapt(loss, params, support, update=sgd(rates), steps=1)
  np.testing.assert_allclose(one["w"], params["w"] - rates["w"] * g["w"], rtol=1e-6)
  np.testing.assert_allclose(one["s"], params["s"] - 0.05 * g["s"], rtol=1e-6)


def test_adapt_rejects_missing_duplicate_or_foreign_rules():
  loss, params, support, _ = _regression()
  with pytest.raises(ValueError, match="exactly one of update= .* and lr="):
    adapt(loss, params, support, steps=1)
  with pytest.raises(ValueError, match="exactly one of update="):
    adapt(loss, params, support, update=sgd(0.1), lr=0.1, steps=1)
  with pytest.raises(ValueError, match="UpdateRule.*from_optax"):
    adapt(loss, params, support, update=optax.sgd(0.1), steps=1)
  with pytest.raises(ValueError, match="lr"):
    sgd(None)


def test_stateful_rule_matches_unrolled_loop_inside_grad(x64):
  """A stateful rule that reads the loss runs through adapt() under jax.grad; values,
  final state and meta-gradients (w.r.t. the initial parameters and the rule's own lr,
  second and first order) equal those of a hand-unrolled Python loop."""
  loss, params, support, query = _regression()
  lr, steps = 0.3, 4

  adapted, losses, (velocity, t) = adapt(loss, params, support, update=momentum_rule(lr),
                                         steps=steps, return_state=True)
  ref, ref_losses, ref_velocity = _unrolled_momentum(loss, params, support, lr, steps)
  chex.assert_trees_all_close(adapted, ref, rtol=1e-12)
  np.testing.assert_allclose(losses, ref_losses, rtol=1e-12)
  chex.assert_trees_all_close(velocity, ref_velocity, rtol=1e-12)
  assert int(t) == steps
  # The rule moved the parameters (a check that could not pass by doing nothing).
  assert float(jnp.abs(adapted["w"] - params["w"]).max()) > 1e-2

  for first_order in (False, True):
    def outer(p, lr):
      a, _ = adapt(loss, p, support, update=momentum_rule(lr), steps=steps,
                   first_order=first_order)
      return loss(a, query)

    def outer_ref(p, lr):
      return loss(_unrolled_momentum(loss, p, support, lr, steps, first_order)[0], query)

    g_p, g_lr = jax.grad(outer, argnums=(0, 1))(params, lr)
    r_p, r_lr = jax.grad(outer_ref, argnums=(0, 1))(params, lr)
    chex.assert_trees_all_close(g_p, r_p, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_lr, r_lr, rtol=1e-10)
    if not first_order:
      # The learned lr's meta-gradient against central differences.
      eps = 1e-6
      fd = (outer(params, lr + eps) - outer(params, lr - eps)) / (2 * eps)
      np.testing.assert_allclose(g_lr, fd, rtol=1e-6)
      assert abs(float(g_lr)) > 1e-4
      # And the initial parameters', along random directions.
      flat, unravel = ravel_pytree(params)
      gflat = ravel_pytree(g_p)[0]
      rng = np.random.default_rng(1)
      for _ in range(3):
        v = jnp.asarray(rng.standard_normal(flat.size))
        fd = (outer(unravel(flat + eps * v), lr) - outer(unravel(flat - eps * v), lr)) / (2 * eps)
        np.testing.assert_allclose(gflat @ v, fd, rtol=1e-6)
  # first_order stops the second-order terms: the two meta-gradients differ.
  second = jax.grad(lambda p: loss(adapt(loss, p, support, update=momentum_rule(lr),
                                         steps=steps)[0], query))(params)
  first = jax.grad(lambda p: loss(adapt(loss, p, support, update=momentum_rule(lr), steps=steps,
                                        first_order=True)[0], query))(params)
  assert float(jnp.abs(ravel_pytree(second)[0] - ravel_pytree(first)[0]).max()) > 1e-6


def test_metasgd_rate_gradient_is_closed_form(x64):
  """d/d alpha of L_q(theta - alpha o g) = -g o grad L_q(theta') (one step)."""
  loss, params, support, query = _regression()
  alpha = {"w": jnp.array([0.1, 0.2, 0.3]), "s": jnp.asarray(0.05)}
  outer = lambda a: loss(adapt(loss, params, support, update=sgd(a), steps=1)[0], query)
  g = jax.grad(loss)(params, support)
  adapted = jax.tree.map(lambda p, a, gi: p - a * gi, params, alpha, g)
  expected = jax.tree.map(lambda gi, gq: -gi * gq, g, jax.grad(loss)(adapted, query))
  chex.assert_trees_all_close(jax.grad(outer)(alpha), expected, rtol=1e-10)


def test_observe_steps_zero_and_return_state():
  loss = lambda w, b: jnp.sum((w - b) ** 2)
  rule = momentum_rule(0.25)
  w, (losses, seen), (v, t) = adapt(loss, jnp.zeros(1), jnp.ones(1), update=rule, steps=2,
                                    observe=lambda p: p[0], return_state=True)
  # step 0: loss 1, g = -2, v = -2, w = 0 + 0.25 * 1 * 2 = 0.5
  # step 1: loss 0.25, g = -1, v = 0.7 * -2 - 1 = -2.4, w = 0.5 + 0.25 * 0.25 / 2 * 2.4 = 0.575
  np.testing.assert_allclose(w, [0.575], rtol=1e-6)
  np.testing.assert_allclose(losses, [1.0, 0.25], rtol=1e-6)
  np.testing.assert_allclose(seen, [0.0, 0.5], rtol=1e-6)
  np.testing.assert_allclose(v, [-2.4], rtol=1e-6)
  assert int(t) == 2
  w0, (l0, s0), (v0, t0) = adapt(loss, jnp.ones(1), jnp.ones(1), update=rule, steps=0,
                                 observe=lambda p: p[0], return_state=True)
  assert w0.tolist() == [1.0] and l0.shape == (0,) and s0.shape == (0,)
  assert v0.tolist() == [0.0] and int(t0) == 0
  w0, l0 = adapt(loss, jnp.ones(1), jnp.ones(1), lr=0.1, steps=0)
  assert w0.tolist() == [1.0] and l0.shape == (0,)
  np.testing.assert_allclose(adaptation_curve(loss, jnp.zeros(1), jnp.ones(1), lambda p: p[0],
                                              rule, 2), [0.0, 0.5, 0.575], rtol=1e-6)


def test_observe_at_computes_only_the_points_asked_for():
  """observe_at: the listed steps agree with observing every step, the others are NaN, the
  skipped observations never run, and under vmap over tasks the choice stays a branch
  (a select would compute both sides and save nothing)."""
  loss = lambda w, b: jnp.sum((w - b) ** 2)
  rule = momentum_rule(0.25)
  calls = []

  def observe(p):
    jax.debug.callback(lambda: calls.append(1))
    return p[0]
  full = adaptation_curve(loss, jnp.zeros(1), jnp.ones(1), lambda p: p[0], rule, 4)
  got = jax.jit(lambda w: adaptation_curve(loss, w, jnp.ones(1), observe, rule, 4,
                                           observe_at=(0, 3)))(jnp.zeros(1))
  jax.effects_barrier()
  assert len(calls) == 2, calls
  np.testing.assert_array_equal(np.asarray(got)[[0, 3]], np.asarray(full)[[0, 3]])
  assert np.isnan(np.asarray(got)[[1, 2, 4]]).all()
  batched = jax.make_jaxpr(jax.vmap(lambda w: adaptation_curve(
      loss, w, jnp.ones(1), lambda p: p[0], rule, 4, observe_at=(2,))))(jnp.zeros((3, 1)))
  assert "cond[" in str(batched)
  with pytest.raises(ValueError, match=r"observe_at must lie in 0\.\.4"):
    adaptation_curve(loss, jnp.zeros(1), jnp.ones(1), lambda p: p[0], rule, 4, observe_at=(5,))


@pytest.mark.parametrize("name", ["maml", "reptile-minibatched"])
def test_evaluate_at_points_equals_the_whole_curve_there(name):
  task = jaxmeta.tasks.sinusoid(shots=10, query=10)
  model = jaxmeta.models.MLP((16,), 1)
  algo = (algorithms.maml(model, task, inner_lr=0.01) if name == "maml" else
          algorithms.reptile(model, task, inner_lr=0.01, eval_inner_batch=5))
  params = jax.jit(algo.init)(jax.random.key(0), task.sample(jax.random.key(1)))
  key = jax.random.key(2)
  full = jaxmeta.evaluate(task, algo, params, key, num_tasks=4, num_steps=3)
  got = jaxmeta.evaluate(task, algo, params, key, num_tasks=4, num_steps=3, observe_at=(0, 3))
  np.testing.assert_allclose(got[:, [0, 3]], full[:, [0, 3]], rtol=1e-6)
  assert np.isnan(got[:, [1, 2]]).all() and not np.isnan(full).any()
  with pytest.raises(jaxmeta.ConfigError, match="observe_at"):
    jaxmeta.evaluate(task, algo, params, key, num_tasks=4, num_steps=3, observe_at=(4,))


def test_from_optax_momentum_matches_hand_loop():
  loss, params, support, _ = _regression()
  lr, mu, steps = 0.2, 0.9, 3
  got, _ = adapt(loss, params, support, update=from_optax(optax.sgd(lr, momentum=mu)), steps=steps)
  p, trace = params, jax.tree.map(jnp.zeros_like, params)
  for _ in range(steps):
    g = jax.grad(loss)(p, support)
    trace = jax.tree.map(lambda t, gi: mu * t + gi, trace, g)
    p = jax.tree.map(lambda a, t: a - lr * t, p, trace)
  chex.assert_trees_all_close(got, p, rtol=1e-5)


def _image_task(ways=3, size=8):
  def sample(key):
    k1, k2 = jax.random.split(key)
    return Episode(jax.random.normal(k1, (ways, size, size, 1)), jnp.arange(ways),
                   jax.random.normal(k2, (2 * ways, size, size, 1)), jnp.arange(2 * ways) % ways)
  return TaskDistribution("toy-images", sample, cross_entropy, accuracy, "accuracy", ways)


def test_anil_equals_masked_sgd_on_the_whole_network(x64):
  """ANIL (body applied once, SGD on the head over the features) has the meta-gradient and
  evaluation curve of MAML with the rule masked(sgd, head only) on the whole network."""
  task = _image_task()
  ep = jax.tree.map(lambda v: v.astype(jnp.float64) if v.dtype == jnp.float32 else v,
                    task.sample(jax.random.key(0)))
  model = Conv4(filters=4, layers=2, output_size=3)
  anil = algorithms.anil(model, task, inner_lr=0.4, inner_steps=2)
  params = jax.tree.map(lambda v: v.astype(jnp.float64), jax.jit(anil.init)(jax.random.key(1), ep))
  g_anil, m_anil = jax.jit(anil.meta_grad)(params, ep, jax.random.key(2))

  mask = {"params": {name: jax.tree.map(lambda _: name == "head", sub)
                     for name, sub in params["params"].items()}}
  rule = masked(sgd(0.4), mask)
  full = model_loss(model, task)

  def outer(p):
    adapted, losses = adapt(full, p, (ep.support_x, ep.support_y), update=rule, steps=2)
    return full(adapted, (ep.query_x, ep.query_y)), losses[0]
  (loss, pre), g_ref = jax.jit(jax.value_and_grad(outer, has_aux=True))(params)
  np.testing.assert_allclose(m_anil["loss"], loss, rtol=1e-10)
  np.testing.assert_allclose(m_anil["pre_adaptation_loss"], pre, rtol=1e-10)
  chex.assert_trees_all_close(g_anil, g_ref, rtol=1e-8, atol=1e-12)
  assert float(jnp.abs(ravel_pytree(g_ref["params"]["conv0_kernel"])[0]).max()) > 1e-6
  # The masked rule left the body alone.
  adapted, _ = adapt(full, params, (ep.support_x, ep.support_y), update=rule, steps=2)
  chex.assert_trees_all_equal(adapted["params"]["conv0_kernel"], params["params"]["conv0_kernel"])
  head_moved = adapted["params"]["head"]["kernel"] - params["params"]["head"]["kernel"]
  assert float(jnp.abs(head_moved).max()) > 0
  # Evaluation: the same curve as adapting the whole network with the masked rule.
  observe = lambda p: task.metric(model.apply(p, ep.query_x), ep.query_y)
  np.testing.assert_allclose(
      jax.jit(anil.evaluate, static_argnums=2)(params, ep, 3, jax.random.key(3)),
      jax.jit(lambda p: adaptation_curve(full, p, (ep.support_x, ep.support_y), observe,
                                         rule, 3))(params))


def test_evaluator_keys_sample_unchanged_and_eval_key_separate():
  """Task i is still task.sample(fold_in(key, i)); evaluate gets evaluation_key of that key,
  which is neither the sampling key nor any key the sampler splits off."""
  def sample(k):
    return Episode(jax.random.uniform(k, (1, 1)), jnp.zeros(1, jnp.int32),
                   jnp.zeros((1, 1)), jnp.zeros(1, jnp.int32))
  task = TaskDistribution("keys", sample, None, None, "mse", 1)
  algo = Algorithm("spy", None, None,
                   lambda params, ep, n, key: jnp.stack([ep.support_x[0, 0],
                                                         jax.random.uniform(key)]))
  assert algo.curve == ADAPTATION_STEPS
  key = jax.random.key(5)
  got = jaxmeta.evaluate(task, algo, None, key, num_tasks=3, num_steps=1, batch_size=2)
  for i in range(3):
    k = jax.random.fold_in(key, i)
    np.testing.assert_allclose(got[i], [jax.random.uniform(k, (1, 1))[0, 0],
                                        jax.random.uniform(evaluation_key(k))], rtol=1e-7)
    data = lambda kk: tuple(np.asarray(jax.random.key_data(kk)).tolist())
    forbidden = {data(k)} | {data(s) for n in (1, 2, 3, 4) for s in jax.random.split(k, n)}
    assert data(evaluation_key(k)) not in forbidden
  assert make_evaluator(task, algo, 1)(None, jax.random.split(key, 2)).shape == (2, 2)


def test_metric_algorithm_evaluates_with_the_given_key():
  ways = 3
  ep = Episode(jnp.zeros((3, 1)), jnp.arange(3), jnp.zeros((8, 1)), jnp.arange(8) % 3)

  def episode_fn(params, episode, key, train):
    guesses = jax.random.randint(key, (episode.query_x.shape[0],), 0, ways)
    log_probs = jnp.log(jax.nn.one_hot(guesses, ways) + 1e-3)
    return log_probs, jnp.zeros(())
  algo = metric_algorithm("random", ways, lambda key, episode: {}, episode_fn)
  for seed in range(3):
    key = jax.random.key(seed)
    guesses = jax.random.randint(key, (8,), 0, ways)
    expected = float(jnp.mean(guesses == ep.query_y))
    np.testing.assert_allclose(algo.evaluate({}, ep, 2, key), [expected] * 3)


def test_curve_axes():
  assert ADAPTATION_STEPS == CurveAxis("steps", "after k adaptation steps")
  assert PRESENTATIONS == CurveAxis("presentations", "at the k-th presentation of a class")
  assert jaxmeta.CurveAxis is CurveAxis and jaxmeta.UpdateRule is UpdateRule
  sin = jaxmeta.tasks.sinusoid()
  mlp = jaxmeta.models.MLP((4,), 1)
  for algo in (algorithms.maml(mlp, sin), algorithms.metasgd(mlp, sin),
               algorithms.reptile(mlp, sin), algorithms.pretrained(mlp, sin),
               algorithms.protonet(mlp, 2)):
    assert algo.curve is ADAPTATION_STEPS
  assert Algorithm("x", None, None, None, PRESENTATIONS).curve.key == "presentations"
