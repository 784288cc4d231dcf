"""The algorithm factories refuse bad arguments up front with a ConfigError naming the
argument; a model that cannot take the task's inputs is refused at ``init``; and
``inner_steps=0`` means "no adaptation" with the values that implies."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmeta
from jaxmeta import algorithms
from jaxmeta.errors import ConfigError
from jaxmeta.models import MLP, Conv4, KochNet
from jaxmeta.tasks.episodes import accuracy, cross_entropy
from jaxmeta.types import Episode, TaskDistribution

SIN = jaxmeta.tasks.sinusoid(shots=5, query=5)
MLP8 = MLP((8,), 1)
WAYS = 2


def _image_task(ways=WAYS, size=8):
  def sample(key):
    k1, k2 = jax.random.split(key)
    return Episode(jax.random.normal(k1, (2 * ways, size, size, 1)), jnp.arange(2 * ways) % ways,
                   jax.random.normal(k2, (2 * ways, size, size, 1)), jnp.arange(2 * ways) % ways)
  return TaskDistribution("toy-images", sample, cross_entropy, accuracy, "accuracy", ways)


IMAGES = _image_task()
CONV = Conv4(filters=4, layers=2, output_size=WAYS)
EMB = Conv4(filters=4, layers=2)
VECTORS = Episode(jnp.ones((4, 3)), jnp.array([0, 1, 0, 1]), jnp.ones((4, 3)), jnp.array([0, 1, 0, 1]))

GRADIENT_BASED = {
    "maml": lambda **kw: algorithms.maml(MLP8, SIN, **kw),
    "fomaml": lambda **kw: algorithms.fomaml(MLP8, SIN, **kw),
    "metasgd": lambda **kw: algorithms.metasgd(MLP8, SIN, **kw),
    "anil": lambda **kw: algorithms.anil(CONV, IMAGES, **kw),
    "reptile": lambda **kw: algorithms.reptile(MLP8, SIN, **kw),
}
BAD_INNER_LR = [-1.0, 0, 0.0, float("nan"), float("inf"), True, "0.1", None,
                jnp.array(-0.1), jnp.array([0.1, 0.2]), np.float32(0.0), jnp.array(True)]
BAD_INNER_STEPS = [-1, 1.5, True, "1", None, np.float64(2.0)]


def _raises(parameter, build):
  with pytest.raises(ConfigError) as e:
    build()
  assert e.value.parameter == parameter, e.value
  return e.value


@pytest.mark.parametrize("name", sorted(GRADIENT_BASED) + ["pretrained"])
@pytest.mark.parametrize("value", BAD_INNER_LR, ids=repr)
def test_bad_inner_lr_refused(name, value):
  build = (lambda **kw: algorithms.pretrained(MLP8, SIN, **kw)) if name == "pretrained" \
      else GRADIENT_BASED[name]
  err = _raises("inner_lr", lambda: build(inner_lr=value))
  assert "must be a positive finite number" in err.message


def test_inner_lr_message_names_the_value():
  err = _raises("inner_lr", lambda: algorithms.maml(MLP8, SIN, inner_lr=-1.0))
  assert str(err) == "inner_lr: must be a positive finite number, got -1.0"


@pytest.mark.parametrize("name", sorted(GRADIENT_BASED))
@pytest.mark.parametrize("value", BAD_INNER_STEPS, ids=repr)
def test_bad_inner_steps_refused(name, value):
  err = _raises("inner_steps", lambda: GRADIENT_BASED[name](inner_steps=value))
  assert "must be a non-negative integer" in err.message


@pytest.mark.parametrize("build,parameter", [
    (lambda: algorithms.maml(MLP8, SIN, first_order="yes"), "first_order"),
    (lambda: algorithms.maml(MLP8, SIN, remat=1), "remat"),
    (lambda: algorithms.anil(CONV, IMAGES, first_order=None), "first_order"),
    (lambda: algorithms.metasgd(MLP8, SIN, remat="False"), "remat"),
    (lambda: algorithms.maml("mlp", SIN), "model"),
    (lambda: algorithms.reptile(MLP8, "sinusoid"), "task"),
    (lambda: algorithms.pretrained(None, SIN), "model"),
    (lambda: algorithms.anil(MLP((8,), None), SIN), "model"),
    # metric-based
    (lambda: algorithms.protonet(EMB, 1), "ways"),
    (lambda: algorithms.protonet(EMB, "5"), "ways"),
    (lambda: algorithms.protonet(EMB, True), "ways"),
    (lambda: algorithms.protonet(lambda x: x, WAYS), "embedding"),
    (lambda: algorithms.matching(EMB, 0), "ways"),
    (lambda: algorithms.matching(EMB, WAYS, read_steps=0), "read_steps"),
    (lambda: algorithms.matching(EMB, WAYS, fce=True, read_steps=2.5), "read_steps"),
    (lambda: algorithms.matching(EMB, WAYS, cosine_scale=-1.0), "cosine_scale"),
    (lambda: algorithms.matching(EMB, WAYS, fce="yes"), "fce"),
    (lambda: algorithms.matching(EMB, WAYS, learn_scale=1), "learn_scale"),
    (lambda: algorithms.relation(EMB, 1), "ways"),
    (lambda: algorithms.relation(EMB, WAYS, filters=0), "filters"),
    (lambda: algorithms.relation(EMB, WAYS, hidden=-8), "hidden"),
    (lambda: algorithms.relation(EMB, WAYS, conv_impl="cuda"), "conv_impl"),
    (lambda: algorithms.siamese(EMB, 1), "ways"),
    (lambda: algorithms.siamese(EMB, WAYS, distort="no"), "distort"),
    (lambda: algorithms.embedding_nn(EMB, 1, WAYS), "num_train_classes"),
    (lambda: algorithms.embedding_nn(EMB, 10.0, WAYS), "num_train_classes"),
    (lambda: algorithms.embedding_nn(EMB, 10, 1), "ways"),
    (lambda: algorithms.embedding_nn("conv4", 10, WAYS), "embedding"),
])
def test_bad_argument_refused(build, parameter):
  _raises(parameter, build)


@pytest.mark.parametrize("value", [0.01, 1, np.float32(0.01), np.float64(0.01), jnp.float32(0.01),
                                   jnp.array(0.01)], ids=repr)
def test_inner_lr_scalars_accepted_values_unchanged(value):
  """Python numbers and 0-d arrays pass; the meta-gradient is the one of the same float."""
  ep = SIN.sample(jax.random.key(0))
  ref = algorithms.maml(MLP8, SIN, inner_lr=float(value), inner_steps=2)
  params = jax.jit(ref.init)(jax.random.key(1), ep)
  algo = algorithms.maml(MLP8, SIN, inner_lr=value, inner_steps=np.int64(2))
  got, _ = algo.meta_grad(params, ep, jax.random.key(2))
  want, _ = ref.meta_grad(params, ep, jax.random.key(2))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_traced_inner_lr_let_through():
  """A traced step size (vmap over alphas) cannot be inspected and is accepted."""
  ep = SIN.sample(jax.random.key(0))
  params = jax.jit(algorithms.maml(MLP8, SIN).init)(jax.random.key(1), ep)
  alphas = jnp.array([0.01, 0.1])
  grad_at = lambda a: algorithms.maml(MLP8, SIN, inner_lr=a).meta_grad(params, ep, None)[0]
  batched = jax.vmap(grad_at)(alphas)
  for i, a in enumerate([0.01, 0.1]):
    for b, w in zip(jax.tree.leaves(batched), jax.tree.leaves(grad_at(a))):
      np.testing.assert_allclose(b[i], w, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- model vs task


def test_conv4_on_sinusoid_refused_at_init():
  ep = SIN.sample(jax.random.key(0))
  for algo in (algorithms.maml(Conv4(filters=4, output_size=1), SIN),
               algorithms.reptile(Conv4(filters=4, output_size=1), SIN),
               algorithms.pretrained(Conv4(filters=4, output_size=1), SIN),
               algorithms.metasgd(Conv4(filters=4, output_size=1), SIN),
               algorithms.anil(Conv4(filters=4, output_size=1), SIN)):
    err = _raises("model", lambda: algo.init(jax.random.key(1), ep))
    assert err.message.startswith("Conv4 expects images [n, H, W, C]; the task's inputs are "
                                  "[n, 1]"), err.message
    # shapes alone: also under eval_shape, before anything runs
    _raises("model", lambda: jax.eval_shape(algo.init, jax.random.key(1), ep))


def test_image_embedding_on_vectors_refused_at_init():
  ep = VECTORS
  for algo in (algorithms.protonet(EMB, WAYS), algorithms.matching(EMB, WAYS),
               algorithms.relation(EMB, WAYS), algorithms.siamese(EMB, WAYS),
               algorithms.embedding_nn(EMB, 5, WAYS)):
    err = _raises("model", lambda: algo.init(jax.random.key(0), ep))
    assert "expects images [n, H, W, C]; the task's inputs are [n, 3]" in err.message


@pytest.mark.parametrize("build,ep,message", [
    (lambda: algorithms.siamese(KochNet(features=0.125), WAYS), _image_task(size=28),
     "KochNet needs images of at least 65x65; the task's are 28x28"),
    (lambda: algorithms.maml(Conv4(filters=4, stride=1, pool=True, output_size=WAYS), IMAGES),
     IMAGES, "Conv4 with 4 blocks of stride 1 and 2x2 max-pools needs images of at least 16x16; "
     "the task's are 8x8"),
    (lambda: algorithms.protonet(nn.Conv(4, (3, 3)), WAYS), None,
     "Conv with a 2-d kernel expects [n, S, S, C] inputs; the task's are [n, 3]"),
])
def test_images_too_small_or_wrong_rank_refused(build, ep, message):
  ep = VECTORS if ep is None else ep.sample(jax.random.key(0))
  err = _raises("model", lambda: build().init(jax.random.key(1), ep))
  assert message in err.message, err.message


def test_model_output_width_must_match_the_task():
  ep = SIN.sample(jax.random.key(0))
  err = _raises("model", lambda: algorithms.maml(MLP((8,), 3), SIN).init(jax.random.key(1), ep))
  assert "outputs [n, 3] but the task 'sinusoid' needs [n, 1]" in err.message
  ep = IMAGES.sample(jax.random.key(0))
  wide = Conv4(filters=4, layers=2, output_size=5)
  _raises("model", lambda: algorithms.anil(wide, IMAGES).init(jax.random.key(1), ep))


def test_anil_needs_a_head_layer():
  ep = SIN.sample(jax.random.key(0))
  err = _raises("model", lambda: algorithms.anil(MLP8, SIN).init(jax.random.key(1), ep))
  assert "a Dense named 'head'" in err.message


# --------------------------------------------------------------------------- inner_steps=0


def _sin_setup():
  ep = SIN.sample(jax.random.key(0))
  params = jax.jit(MLP8.init)(jax.random.key(1), ep.support_x)
  loss = lambda p, x, y: SIN.loss(MLP8.apply(p, x), y)
  return ep, params, loss


def _assert_trees_equal(a, b):
  """Equal up to float32 rounding (the same function, XLA may order a sum differently)."""
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("build", [algorithms.maml, algorithms.fomaml])
def test_maml_zero_steps_is_the_query_gradient_at_theta(build):
  """No adaptation: theta' = theta, so the meta-gradient is exactly grad L_q(theta), and
  pre_adaptation_loss is the support loss at theta."""
  ep, params, loss = _sin_setup()
  algo = build(MLP8, SIN, inner_lr=0.5, inner_steps=0)
  for meta_grad in (algo.meta_grad, jax.jit(algo.meta_grad)):
    grads, metrics = meta_grad(params, ep, jax.random.key(2))
    _assert_trees_equal(grads, jax.grad(loss)(params, ep.query_x, ep.query_y))
    _assert_trees_equal(metrics, {"loss": loss(params, ep.query_x, ep.query_y),
                                  "pre_adaptation_loss": loss(params, ep.support_x, ep.support_y)})
  # and the inner step size no longer matters
  other, _ = build(MLP8, SIN, inner_lr=0.001, inner_steps=0).meta_grad(params, ep, None)
  _assert_trees_equal(other, grads)


def test_metasgd_zero_steps():
  """theta gets grad L_q(theta); alpha, unused, gets zero."""
  ep, params, loss = _sin_setup()
  algo = algorithms.metasgd(MLP8, SIN, inner_lr=0.1, inner_steps=0)
  meta = jax.jit(algo.init)(jax.random.key(1), ep)
  _assert_trees_equal(meta["model"], params)
  grads, metrics = algo.meta_grad(meta, ep, jax.random.key(2))
  _assert_trees_equal(grads["model"], jax.grad(loss)(params, ep.query_x, ep.query_y))
  for g in jax.tree.leaves(grads["inner_lr"]):
    assert not np.any(np.asarray(g))
  np.testing.assert_allclose(metrics["pre_adaptation_loss"],
                             loss(params, ep.support_x, ep.support_y), rtol=1e-6)


def test_reptile_zero_steps_is_a_zero_meta_gradient():
  """(theta - W) / alpha with W = theta: exactly zero (the empty sum of inner gradients)."""
  ep, params, loss = _sin_setup()
  algo = algorithms.reptile(MLP8, SIN, inner_lr=0.1, inner_steps=0)
  grads, metrics = jax.jit(algo.meta_grad)(params, ep, jax.random.key(2))
  for g in jax.tree.leaves(grads):
    assert not np.any(np.asarray(g))
  _assert_trees_equal(metrics, {"loss": loss(params, ep.query_x, ep.query_y),
                                "pre_adaptation_loss": loss(params, ep.support_x, ep.support_y)})


def test_anil_zero_steps_is_the_query_gradient_at_theta():
  ep = IMAGES.sample(jax.random.key(0))
  algo = algorithms.anil(CONV, IMAGES, inner_lr=0.4, inner_steps=0)
  params = jax.jit(algo.init)(jax.random.key(1), ep)
  loss = lambda p, x, y: IMAGES.loss(CONV.apply(p, x), y)
  grads, metrics = algo.meta_grad(params, ep, jax.random.key(2))
  want = jax.grad(loss)(params, ep.query_x, ep.query_y)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(metrics["loss"], loss(params, ep.query_x, ep.query_y), rtol=1e-6)
  np.testing.assert_allclose(metrics["pre_adaptation_loss"],
                             loss(params, ep.support_x, ep.support_y), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(GRADIENT_BASED))
def test_zero_steps_trains_and_evaluates(name):
  """A whole train step and the evaluation curve run with inner_steps=0."""
  import optax
  algo = GRADIENT_BASED[name](inner_steps=0)
  task = IMAGES if name == "anil" else SIN
  ep = task.sample(jax.random.key(0))
  params = jax.jit(algo.init)(jax.random.key(1), ep)
  opt = optax.sgd(0.01)
  state = jaxmeta.init_state(jax.random.key(1), task, algo, opt)
  state, metrics = jaxmeta.make_train_step(task, algo, opt, 2)(state, jax.random.key(3))
  assert int(state.step) == 1 and np.isfinite(float(metrics["loss"]))
  assert algo.evaluate(params, ep, 0, jax.random.key(4)).shape == (1,)
