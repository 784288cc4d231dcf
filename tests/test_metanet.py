"""Meta Networks (Munkhdalai & Yu 2017): the fast weights vanish with F and G, the memory
read, the pieces (preprocessing, pooling, mini-batches), learning on tiny real Omniglot,
eval-lake at another N, and the command line's refusals."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmeta
from jaxmeta import cli
from jaxmeta.algorithms import metanet as mn
from jaxmeta.errors import ConfigError
from jaxmeta.types import Episode

from data_paths import OMNIGLOT, requires_omniglot


def _episode(ways=3, shots=1, query=2, side=8, seed=0):
  k1, k2 = jax.random.split(jax.random.key(seed))
  return Episode(jax.random.uniform(k1, (ways * shots, side, side, 1)),
                 jnp.repeat(jnp.arange(ways), shots),
                 jax.random.uniform(k2, (ways * query, side, side, 1)),
                 jnp.tile(jnp.arange(ways), query))


@pytest.mark.parametrize("loss", ["ce", "verification"])
def test_with_F_and_G_outputs_zero_it_is_the_slow_network(loss):
  """F's and G's output layers set to 0: every fast weight is 0, relu(W* x) = 0 and
  x W* = 0, so the query logits are the slow base learner's (whatever the keys)."""
  ep = _episode()
  params = mn.init_params(jax.random.key(1), ep, head=3, filters=4, loss=loss)
  for part in ("conv", "fc"):
    params["F"][part]["out_w"] = jnp.zeros_like(params["F"][part]["out_w"])
    params["F"][part]["out_b"] = jnp.zeros_like(params["F"][part]["out_b"])
    params["G"][part]["w3"] = jnp.zeros_like(params["G"][part]["w3"])
    params["G"][part]["b3"] = jnp.zeros_like(params["G"][part]["b3"])
  run = jax.jit(lambda p: (mn.metanet_logits(p, ep, 3, minibatches=3, loss=loss,
                                              key=jax.random.key(2)),
                           mn.slow_logits(p["base"], ep.query_x, 3)))
  logits, slow = run(params)
  np.testing.assert_allclose(logits, slow, rtol=1e-5, atol=1e-6)
  # ... and with the real F and G they differ
  fresh, slow = run(mn.init_params(jax.random.key(1), ep, head=3, filters=4, loss=loss))
  assert not np.allclose(fresh, slow, atol=1e-6)


def test_memory_read_with_orthogonal_keys_returns_the_matching_value():
  """Orthogonal keys: cosine 1 with the matching slot, 0 with the others, whatever the
  query's scale; softmax weights e / (e + n - 1) and 1 / (e + n - 1). With orthogonal
  values the read's coordinate along the matching value is the largest, and it is the
  matching value exactly once the others are equal (here: zero)."""
  n, d = 4, 6
  keys = jnp.eye(n, d) * jnp.array([[1.0], [2.0], [0.5], [3.0]])
  values = jnp.eye(n, 5) * 7.0
  queries = 10.0 * jnp.eye(n, d)
  read = np.asarray(mn.read_memory(keys, values, queries))
  big, small = math.e / (math.e + n - 1), 1 / (math.e + n - 1)
  expected = np.full((n, n), small) + np.eye(n) * (big - small)
  np.testing.assert_allclose(read[:, :n] / 7.0, expected, rtol=1e-5)
  assert np.all(np.argmax(read[:, :n], axis=1) == np.arange(n))
  # a single stored value (the others zero): the read is that value, scaled by its weight
  only = jnp.zeros((n, 5)).at[2].set(jnp.arange(5.0))
  np.testing.assert_allclose(mn.read_memory(keys, only, queries[2:3])[0], big * np.arange(5.0),
                             rtol=1e-5)


def test_log_and_sign_is_the_codes_preprocessing():
  x = jnp.array([2.0, -3e-2, 1e-4, 0.0])
  out = np.asarray(mn.log_and_sign(x))
  eps = np.finfo(np.float32).eps
  np.testing.assert_allclose(out[:, 0], np.maximum(np.log(np.abs(np.asarray(x)) + eps) / 7, -1),
                             rtol=1e-5)
  np.testing.assert_allclose(out[:, 1], [1.0, -1.0, 1e-4 * math.exp(7), 0.0], rtol=1e-5)


def test_pool_covers_odd_sizes_and_minibatches_are_contiguous():
  x = jnp.arange(49.0).reshape(1, 7, 7, 1)
  p = mn.pool(x)
  assert p.shape == (1, 4, 4, 1) and float(p[0, 3, 3, 0]) == 48.0
  assert [mn.feature_side(s) for s in (28, 14, 105)] == [1, 1, 4]
  np.testing.assert_allclose(mn.chunk_matrix(5, 5), np.eye(5))
  m = mn.chunk_matrix(20, 5)
  assert m.shape == (5, 20) and np.allclose(m[1, 4:8], 0.25) and np.allclose(m.sum(1), 1)
  assert mn.chunk_matrix(3, 5).shape == (3, 3)


def test_per_example_gradients_are_each_examples_own():
  """The memory values are G of the gradient of each support example's loss alone."""
  ep = _episode(ways=2, shots=2)
  params = mn.init_params(jax.random.key(0), ep, head=2, filters=4)
  net = params["base"]

  def loss(conv, i):
    b = dict(net, conv=conv)
    return -jax.nn.log_softmax(mn.slow_logits(b, ep.support_x[i:i + 1], 2)[0])[ep.support_y[i]]

  @jax.jit
  def both(params):
    (m_conv, _), _ = mn.example_memory(params, ep.support_x, ep.support_y, 2)
    one_by_one = []
    for i in range(4):
      g = jnp.concatenate([v.reshape(-1) for v in jax.grad(loss)(params["base"]["conv"], i)])
      one_by_one.append(mn.run_mlp(params["G"]["conv"], mn.log_and_sign(g)))
    return m_conv, jnp.stack(one_by_one)
  batched, looped = both(params)
  np.testing.assert_allclose(batched, looped, rtol=1e-4, atol=1e-7)


def test_meta_gradient_reaches_every_part_but_the_key_head():
  """The meta-information is a constant (stop_gradient): the key network's own head only
  shapes the gradients F reads, so it gets no gradient; everything else does."""
  ep = _episode()
  algo = mn.metanet(3, filters=4, minibatches=3)
  params = jax.jit(algo.init)(jax.random.key(0), ep)
  grads, metrics = jax.jit(algo.meta_grad)(params, ep, jax.random.key(1))
  assert float(jnp.max(jnp.abs(grads["key"]["fc2"]))) == 0.0
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    if "fc2" in jax.tree_util.keystr(path) and "'key'" in jax.tree_util.keystr(path):
      continue
    assert float(jnp.max(jnp.abs(g))) > 0, jax.tree_util.keystr(path)
  assert np.isfinite(float(metrics["loss"])) and float(metrics["meta_grad_norm"]) > 0


def test_another_number_of_ways_reuses_the_head_columns():
  """A 3-column head scores a 5-way episode (class c uses column c mod 3): the parameters
  do not depend on N."""
  ep5 = _episode(ways=5)
  algo3, algo5 = mn.metanet(3, filters=4, minibatches=3), mn.metanet(5, head=3, filters=4,
                                                                     minibatches=3)
  params = jax.jit(algo3.init)(jax.random.key(0), _episode(ways=3))
  shapes = lambda t: jax.tree.map(jnp.shape, t)
  assert shapes(params) == shapes(jax.jit(algo5.init)(jax.random.key(0), ep5))
  acc = jax.jit(algo5.evaluate, static_argnums=2)(params, ep5, 0, jax.random.key(1))
  assert acc.shape == (1,) and 0 <= float(acc[0]) <= 1


def test_builder_refusals_name_the_parameter():
  for kwargs, name in [(dict(minibatches=0), "metanet_minibatches"), (dict(head=1), "metanet_head"),
                       (dict(loss="triplet"), "metanet_loss"), (dict(clip_norm=0.0), "metanet_clip"),
                       (dict(filters=0), "filters")]:
    with pytest.raises(ConfigError) as e:
      mn.metanet(5, **kwargs)
    assert e.value.parameter == name
  with pytest.raises(ConfigError) as e:
    mn.metanet(1)
  assert e.value.parameter == "ways"


@pytest.mark.parametrize("flag, value", [("--metanet-minibatches", "0"), ("--metanet-head", "1"),
                                         ("--metanet-loss", "triplet"), ("--metanet-clip", "0")])
def test_bad_values_are_one_line_naming_the_flag(capsys, tmp_path, flag, value):
  work = tmp_path / "w"
  code = cli.main(["train", "--algo", "metanet", "--task", "omniglot", flag, value,
                   "--workdir", str(work), "--no-progress"])
  err = capsys.readouterr().err
  assert code == 2, err
  assert err.startswith(f"jaxmeta: error: {flag}: ") and err.count("\n") == 1, err
  assert not work.exists()


@pytest.mark.parametrize("name, ways", [("metanet-omniglot-5w1s", 5), ("metanet-omniglot-20w1s", 20)])
def test_presets_have_the_papers_settings(name, ways):
  import types
  from jaxmeta import registry
  from jaxmeta.config import from_preset, validate
  config = validate(from_preset(name))
  assert (config.algo, config.ways, config.shots, config.query) == ("metanet", ways, 1, 10)
  assert (config.optimizer, config.outer_lr, config.metanet_clip) == ("adam", 1e-3, 10.0)
  assert (config.rotation, config.meta_batch_size, config.filters) == ("per-task", 1, 64)
  assert config.metanet_loss == "ce" and config.metanet_minibatches == 5
  assert config.eval_tasks >= 600
  algo = registry.build_algorithm(config, types.SimpleNamespace(output_size=ways))
  assert algo.name == "metanet"


@requires_omniglot
def test_learns_tiny_real_omniglot(tmp_path):
  """5-way 1-shot, 14x14 images, 16 filters, 5 queries per class, per-class rotation, on
  the small-sets protocol: after 150 episodes the 5-way 1-shot accuracy on 100 tasks of
  UNSEEN test characters is above 40 %, twice chance (measured: 48.2 %; the query loss
  falls from ln 5 = 1.61 to 1.16)."""
  from jaxmeta.data.omniglot import omniglot_splits
  from jaxmeta.tasks.episodes import few_shot_task
  splits = omniglot_splits("small-sets", data_dir=str(OMNIGLOT), cache_dir=str(tmp_path),
                           image_size=14)
  train = few_shot_task(splits["train"], 5, 1, 5, rotation="per-task")
  test = few_shot_task(splits["test"], 5, 1, 5)
  algo = mn.metanet(5, filters=16)
  opt = optax.adam(1e-3)
  state = jaxmeta.init_state(jax.random.key(0), train, algo, opt)
  state, metrics = jaxmeta.make_train_loop(train, algo, opt, 1, 150, task_axis="map")(
      state, jax.random.key(1))
  acc = jaxmeta.evaluate(test, algo, state.params, jax.random.key(2), 100, 0)[:, 0].mean()
  print("metanet tiny", acc, float(metrics["loss"][:10].mean()), float(metrics["loss"][-10:].mean()))
  assert acc > 0.40, acc


@requires_omniglot
def test_eval_lake_scores_a_metanet_trained_5_way_on_20_way_runs(tmp_path):
  """`jaxmeta train --algo metanet --metanet-head 5` (5-way), then `jaxmeta eval-lake` on
  20-way runs: class c uses head column c mod 5, so the 20-way runs score."""
  from test_lake import make_runs
  workdir = tmp_path / "metanet"
  assert cli.main(["train", "--task", "omniglot", "--algo", "metanet", "--filters", "4",
                   "--image-size", "16", "--split", "lake-small", "--ways", "5",
                   "--metanet-head", "5", "--shots", "1", "--query", "1", "--meta-batch-size",
                   "1", "--steps", "1", "--steps-per-call", "1", "--eval-shots", "1",
                   "--eval-query", "1", "--eval-steps", "0", "--eval-tasks", "2",
                   "--data-dir", str(OMNIGLOT),
                   "--cache-dir", str(tmp_path / "cache"), "--workdir", str(workdir),
                   "--no-progress"]) == 0
  make_runs(tmp_path / "runs20", n_runs=2, ways=20)
  out = tmp_path / "lake.json"
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--runs", str(tmp_path / "runs20"),
                   "--out", str(out)]) == 0
  result = json.loads(out.read_text())
  assert result["n_runs"] == 2 and all(float(e / 5.0).is_integer() for e in result["per_run"])
