"""Behaviours of the authors' code that jaxmeta offers (benchmarks/RESULTS.md, "Differences
from the authors' code"): each pinned by a value."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import jaxmeta
from jaxmeta.algorithms.common import inner_rule
from jaxmeta.config import Config
from jaxmeta.inner_loop import scaled_loss, sgd
from jaxmeta.presets import PRESETS


def _classification(ways=4, shots=2, query=3, side=2):
  rng = np.random.default_rng(0)
  sy, qy = np.repeat(np.arange(ways), shots), np.repeat(np.arange(ways), query)
  episode = jaxmeta.Episode(rng.normal(size=(ways * shots, side, side, 1)).astype(np.float32),
                            sy.astype(np.int32),
                            rng.normal(size=(ways * query, side, side, 1)).astype(np.float32),
                            qy.astype(np.int32))
  task = jaxmeta.TaskDistribution("toy", None,
                                  lambda logits, y: jnp.mean(
                                      optax.softmax_cross_entropy_with_integer_labels(logits, y)),
                                  lambda logits, y: jnp.mean(jnp.argmax(logits, -1) == y),
                                  "accuracy", ways)
  return task, episode


def test_authors_inner_loss_steps_n_times_the_mean():
  # MAML's utils.xent: per-example cross-entropy / K, summed by tf.gradients over the N K
  # support examples. Its gradient is N times the mean's, and the "ways" rule steps on it.
  ways, shots, alpha = 4, 2, 0.4
  task, episode = _classification(ways, shots)
  model = jaxmeta.models.MLP((6,), ways)
  params = jax.jit(model.init)(jax.random.key(0), episode.support_x.reshape(ways * shots, -1))
  x = episode.support_x.reshape(ways * shots, -1)
  ce = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply(p, x),
                                                                   episode.support_y)
  authors = jax.grad(lambda p: jnp.sum(ce(p) / shots))(params)
  mean = jax.grad(lambda p: jnp.mean(ce(p)))(params)
  np.testing.assert_allclose(ravel_pytree(authors)[0], ways * ravel_pytree(mean)[0], rtol=1e-5)

  rule = inner_rule(Config(inner_lr=alpha, inner_loss_scale="ways"), task=task)
  stepped, _ = rule.update(mean, rule.init(params), params, jnp.mean(ce(params)))
  expected = jax.tree.map(lambda p, g: p - alpha * g, params, authors)
  np.testing.assert_allclose(ravel_pytree(stepped)[0], ravel_pytree(expected)[0], rtol=1e-5)
  # The default is the mean: a step N times shorter.
  default = inner_rule(Config(inner_lr=alpha), task=task)
  short, _ = default.update(mean, default.init(params), params, None)
  np.testing.assert_allclose(ravel_pytree(short)[0] - ravel_pytree(params)[0],
                             (ravel_pytree(stepped)[0] - ravel_pytree(params)[0]) / ways,
                             rtol=1e-4, atol=1e-7)


def test_scaled_loss_is_sgd_at_a_scaled_rate_for_maml_meta_gradients():
  task = jaxmeta.tasks.sinusoid(shots=5, query=5)
  model = jaxmeta.models.MLP((8,), 1)
  episode = task.sample(jax.random.key(1))
  scaled = jaxmeta.algorithms.maml(model, task, inner_steps=2, update=scaled_loss(sgd(0.01), 3))
  plain = jaxmeta.algorithms.maml(model, task, inner_steps=2, inner_lr=0.03)
  params = jax.jit(plain.init)(jax.random.key(0), episode)
  g1, _ = scaled.meta_grad(params, episode, jax.random.key(2))
  g2, _ = plain.meta_grad(params, episode, jax.random.key(2))
  np.testing.assert_allclose(ravel_pytree(g1)[0], ravel_pytree(g2)[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["maml-omniglot-5w1s", "maml-omniglot-20w1s",
                                  "fomaml-omniglot-5w1s", "anil-omniglot-5w1s",
                                  "maml-miniimagenet-5w1s"])
def test_presets_that_claim_the_paper_take_the_authors_step(name):
  assert PRESETS[name].values["inner_loss_scale"] == "ways"


def test_metasgd_paper_initialisation_draws_rates_in_its_range():
  from jaxmeta.algorithms.metasgd import PAPER_ALPHA_RANGE, metasgd
  from jaxmeta.errors import ConfigError
  task = jaxmeta.tasks.sinusoid()
  algo = metasgd(jaxmeta.models.MLP((40, 40), 1), task, alpha_range=PAPER_ALPHA_RANGE)
  params = jax.jit(algo.init)(jax.random.key(0), task.sample(jax.random.key(1)))
  alpha = ravel_pytree(params["inner_lr"])[0]
  assert float(alpha.min()) >= 0.005 and float(alpha.max()) <= 0.1
  assert float(alpha.std()) > 0.02  # drawn, not constant (uniform's std is 0.027)
  with pytest.raises(ConfigError, match="alpha_range"):
    metasgd(jaxmeta.models.MLP((4,), 1), task, alpha_range=(0.1, 0.005))


def test_weights_only_inner_loop_leaves_batch_norm_to_the_outer_loop():
  from jaxmeta.algorithms.common import model_loss, support_batch
  from jaxmeta.algorithms.maml import weights_only
  from jaxmeta.inner_loop import adapt, masked
  model = jaxmeta.models.Conv4(output_size=3, filters=4, layers=2)
  rng = np.random.default_rng(0)
  episode = jaxmeta.Episode(rng.random((3, 8, 8, 1), np.float32), np.arange(3, dtype=np.int32),
                            rng.random((3, 8, 8, 1), np.float32), np.arange(3, dtype=np.int32))
  task = jaxmeta.TaskDistribution("toy", None, lambda logits, y: jnp.mean(
      optax.softmax_cross_entropy_with_integer_labels(logits, y)), None, "accuracy", 3)
  params = jax.jit(model.init)(jax.random.key(0), episode.support_x)
  loss_fn = model_loss(model, task)
  for rule, norm_moves in ((sgd(0.5), True), (masked(sgd(0.5), weights_only), False)):
    adapted, _ = adapt(loss_fn, params, support_batch(episode), update=rule, steps=2)
    moved = {k: not np.allclose(v, params["params"][k]) for k, v in adapted["params"].items()
             if k != "head"}
    assert all(moved[k] for k in moved if "conv" in k)
    assert all(moved[k] == norm_moves for k in moved if "norm" in k)


def _image_episode(ways=3, shots=2, query=4, side=16, seed=0):
  rng = np.random.default_rng(seed)
  means = rng.random((ways, side, side, 1))
  sy, qy = np.repeat(np.arange(ways), shots), np.repeat(np.arange(ways), query)
  noise = lambda n: 0.3 * rng.random((n, side, side, 1))
  return jaxmeta.Episode((means[sy] + noise(len(sy))).astype(np.float32), sy.astype(np.int32),
                         (means[qy] + noise(len(qy))).astype(np.float32), qy.astype(np.int32))


@pytest.mark.parametrize("algo", ["protonet", "maml"])
def test_support_statistics_score_each_query_on_its_own(algo):
  # --eval-norm support: the accuracy over the query set is the mean of each query scored
  # alone (exactly); the features underneath are those of a query alone, and the
  # transductive statistics (--eval-norm episode) are not.
  from jaxmeta import registry
  from jaxmeta.algorithms.metric import embedding_of
  ways = 3
  episode = _image_episode(ways)
  task = jaxmeta.TaskDistribution("omniglot", None, lambda logits, y: jnp.mean(
      optax.softmax_cross_entropy_with_integer_labels(logits, y)),
      lambda logits, y: jnp.mean(jnp.argmax(logits, -1) == y), "accuracy", ways)
  config = Config(task="omniglot", algo=algo, model="conv4-pool", filters=4, norm="batch",
                  ways=ways, image_size=16, inner_lr=0.1, eval_norm="support")
  built = registry.build_algorithm(config, task)
  params = jax.jit(built.init)(jax.random.key(0), episode)
  key = jax.random.key(1)
  evaluate = jax.jit(built.evaluate, static_argnums=2)
  together = evaluate(params, episode, 1, key)[-1]
  alone = jax.jit(jax.vmap(lambda x, y: built.evaluate(
      params, episode._replace(query_x=x[None], query_y=y[None]), 1, key)[-1]))(
          episode.query_x, episode.query_y)
  assert float(together) == pytest.approx(float(jnp.mean(alone)), abs=1e-6)

  model = registry.build_model(config, task)
  for norm, same in (("support", True), ("batch", False)):
    net = embedding_of(model, norm=norm)
    emb = {"params": {k: v for k, v in params["params"].items() if k != "head"}}
    kwargs = {"support": episode.support_x} if norm == "support" else {}
    if norm == "batch":
      feats = lambda q: net.apply(emb, jnp.concatenate([episode.support_x, q]))[len(episode.support_y):]
    else:
      feats = lambda q: net.apply(emb, q, **kwargs)
    both, first = feats(episode.query_x)[:1], feats(episode.query_x[:1])
    assert np.allclose(both, first, atol=1e-5) == same


def test_relation_encoder_is_the_authors_unpadded_first_two_blocks():
  from jaxmeta.models.conv import conv2d
  x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
  k = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  valid = jax.lax.conv_general_dilated(x, k, (1, 1), "VALID",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
  for impl in ("lax", "patches"):
    np.testing.assert_allclose(conv2d(x, k, 1, impl)[:, 1:-1, 1:-1], valid, atol=1e-4)
  from jaxmeta import registry
  task = jaxmeta.TaskDistribution("omniglot", None, None, None, "accuracy", 5)
  for side, want in ((28, 5), (84, 19)):
    model = registry.build_model(Config(model="conv4-relation", filters=4), task)
    images = jnp.zeros((1, side, side, 1))
    shape = jax.eval_shape(lambda x: model.init_with_output(jax.random.key(0), x)[0], images).shape
    assert shape[:3] == (1, want, want)
  model = registry.build_model(Config(model="conv4-relation-same", filters=4), task)
  images = jnp.zeros((1, 28, 28, 1))
  params = jax.eval_shape(model.init, jax.random.key(0), images)
  assert jax.eval_shape(model.apply, params, images).shape[:3] == (1, 7, 7)


def test_reptile_network_flattens_its_2x2x64_maps():
  """supervised-reptile's Omniglot model: 4 x (conv 3x3 stride 2 SAME, batch norm, ReLU),
  then the 2x2x64 maps flattened into the dense layer (256 inputs; MAML's averages them)."""
  from jaxmeta import registry
  task = jaxmeta.TaskDistribution("omniglot", None, None, None, "accuracy", 5)
  images = jnp.zeros((3, 28, 28, 1))
  inputs = {}
  for name in ("conv4-flatten", "conv4"):
    model = registry.build_model(Config(model=name, filters=64), task)
    params = jax.eval_shape(model.init, jax.random.key(0), images)   # shapes only: no compile
    assert jax.eval_shape(model.apply, params, images).shape == (3, 5)
    head = [v for k, v in jax.tree_util.tree_leaves_with_path(params)
            if v.ndim == 2 and v.shape[-1] == 5]
    inputs[name] = head[0].shape[0]
  assert inputs == {"conv4-flatten": 2 * 2 * 64, "conv4": 64}


def test_outer_clipping_and_halving():
  from jaxmeta import registry
  opt = registry.build_optimizer(Config(optimizer="sgd", outer_lr=1.0, outer_clip_norm=0.5,
                                        outer_schedule="halve", outer_halve_every=2))
  state = opt.init(jnp.zeros(2))
  steps = []
  for _ in range(5):
    update, state = opt.update(jnp.array([3.0, 4.0]), state)
    steps.append(float(jnp.linalg.norm(update)))
  np.testing.assert_allclose(steps, [0.5, 0.5, 0.25, 0.25, 0.125], rtol=1e-6)


def test_koch_distortions_switch_each_component_on_its_own():
  # Seven independent switches leave an image untouched with probability 2^-7 (four
  # grouped switches: 2^-4 = 0.0625).
  from jaxmeta.algorithms.siamese import affine_distort
  images = jax.random.uniform(jax.random.key(0), (4096, 8, 8, 1))
  out = jax.jit(affine_distort)(jax.random.key(1), images)
  unchanged = float(jnp.mean(jnp.all(jnp.abs(out - images) < 1e-6, axis=(1, 2, 3))))
  assert 0.002 < unchanged < 0.02, unchanged


def test_relation_module_on_mini_imagenet_maps_feeds_576_inputs():
  from jaxmeta.algorithms.relation import RelationModule
  pairs = jnp.zeros((2, 19, 19, 128))
  for valid, inputs in ((True, 576), (False, 1024)):
    params = jax.eval_shape(RelationModule(valid=valid).init, jax.random.key(0), pairs)["params"]
    assert params["Dense_0"]["kernel"].shape[0] == inputs
