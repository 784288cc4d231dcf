"""The on-device N-way K-shot sampler: shapes, labels, class membership, determinism."""
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmeta.data.images import ImageClasses
from jaxmeta.errors import ConfigError
from jaxmeta.tasks.episodes import accuracy, cross_entropy, few_shot_task


def _tagged_classes(num_classes=12, max_examples=6, counts=None, alphabet_ids=None, size=4):
  """Pixel (0, 0) holds the class id, pixel (0, 1) the example slot: membership is readable."""
  images = np.zeros((num_classes, max_examples, size, size, 1), np.float32)
  images[:, :, 0, 0, 0] = np.arange(num_classes)[:, None]
  images[:, :, 0, 1, 0] = np.arange(max_examples)[None, :]
  counts = np.full(num_classes, max_examples, np.int32) if counts is None else np.asarray(counts, np.int32)
  for c, n in enumerate(counts):
    images[c, n:] = -1.0  # padding, must never be sampled
  alphabet_ids = np.zeros(num_classes, np.int32) if alphabet_ids is None else np.asarray(alphabet_ids, np.int32)
  names = [f"a{a}/c{c}" for c, a in enumerate(alphabet_ids)]
  return ImageClasses(images, counts, names, alphabet_ids, tuple(f"a{i}" for i in range(alphabet_ids.max() + 1)))


def test_shapes_labels_and_membership():
  counts = [6, 3, 4, 6, 5, 3, 6, 6, 4, 3, 6, 5]
  task = few_shot_task(_tagged_classes(counts=counts), ways=5, shots=1, query=2)
  assert task.output_size == 5 and task.metric_name == "accuracy"
  ep = jax.jit(jax.vmap(task.sample))(jax.random.split(jax.random.key(0), 200))
  assert ep.support_x.shape == (200, 5, 4, 4, 1) and ep.query_x.shape == (200, 10, 4, 4, 1)
  assert ep.support_y.dtype == jnp.int32 and ep.query_y.dtype == jnp.int32
  sx, sy, qx, qy = map(np.asarray, ep)
  assert sx.min() >= 0  # no padding slot ever drawn
  for t in range(200):
    assert sorted(sy[t]) == list(range(5)) and sorted(set(qy[t])) == list(range(5))
    label_to_class = {}
    for x, y in list(zip(sx[t], sy[t])) + list(zip(qx[t], qy[t])):
      label_to_class.setdefault(int(y), int(x[0, 0, 0]))
      assert label_to_class[int(y)] == int(x[0, 0, 0])   # every image belongs to its class
      assert x[0, 1, 0] < counts[int(x[0, 0, 0])]        # a valid example of that class
    assert len(set(label_to_class.values())) == 5         # distinct classes
    for lab in range(5):  # support and query examples of a class are distinct
      slots = [int(x[0, 1, 0]) for x, y in list(zip(sx[t], sy[t])) + list(zip(qx[t], qy[t])) if y == lab]
      assert len(slots) == len(set(slots)) == 3
  # labels are remapped in random order: class 0 gets many different labels
  labels_of_class0 = {int(sy[t][np.flatnonzero(sx[t][:, 0, 0, 0] == 0)[0]])
                      for t in range(200) if (sx[t][:, 0, 0, 0] == 0).any()}
  assert labels_of_class0 == set(range(5))
  # every class gets picked
  assert set(np.unique(sx[:, :, 0, 0, 0]).astype(int)) == set(range(12))


def test_deterministic_per_key_and_different_across_keys():
  task = few_shot_task(_tagged_classes(), ways=3, shots=2, query=2)
  sample = jax.jit(task.sample)
  a = sample(jax.random.key(7))
  b = sample(jax.random.key(7))
  c = sample(jax.random.key(8))
  for u, v in zip(a, b):
    np.testing.assert_array_equal(u, v)
  assert not np.array_equal(a.support_x, c.support_x)


def test_within_alphabet():
  alphabet_ids = [0] * 3 + [1] * 5 + [2] * 4
  task = few_shot_task(_tagged_classes(alphabet_ids=alphabet_ids), ways=4, shots=1, query=1,
                       within_alphabet=True)
  ep = jax.jit(jax.vmap(task.sample))(jax.random.split(jax.random.key(1), 100))
  cls = np.asarray(ep.support_x[:, :, 0, 0, 0]).astype(int)
  alpha = np.asarray(alphabet_ids)[cls]
  assert np.all(alpha == alpha[:, :1]) and set(alpha[:, 0]) == {1, 2}  # alphabet 0 is too small


def test_per_task_rotation_rotates_whole_classes():
  images = np.random.default_rng(0).random((10, 5, 6, 6, 1)).astype(np.float32)
  task = few_shot_task(images, ways=3, shots=2, query=3, rotation="per-task")
  ep = jax.jit(jax.vmap(task.sample))(jax.random.split(jax.random.key(2), 50))
  seen = set()
  rotation_of = {np.rot90(f, r).tobytes(): r for f in images.reshape(50, 6, 6, 1) for r in range(4)}
  for t in range(50):
    for lab in range(3):
      xs = np.concatenate([np.asarray(ep.support_x[t])[np.asarray(ep.support_y[t]) == lab],
                           np.asarray(ep.query_x[t])[np.asarray(ep.query_y[t]) == lab]])
      ks = set()
      for x in xs:
        ks.add(rotation_of[x.tobytes()])
      assert len(ks) == 1  # one rotation for the whole class in this task
      seen |= ks
  assert seen == {0, 1, 2, 3}


def test_loss_and_metric():
  logits = jnp.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
  labels = jnp.array([0, 1, 1])
  expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-3.0)), np.log1p(np.exp(1.0))])
  np.testing.assert_allclose(cross_entropy(logits, labels), expected, rtol=1e-6)
  np.testing.assert_allclose(accuracy(logits, labels), 2 / 3)


def test_bad_input():
  classes = _tagged_classes(counts=[6] * 11 + [4])
  with pytest.raises(ConfigError, match="^ways: .*13-way.*12"):
    few_shot_task(classes, ways=13, shots=1, query=1)
  with pytest.raises(ConfigError, match="^shots: shots 2 \\+ query 3 = 5.*smallest class has 4"):
    few_shot_task(classes, ways=5, shots=2, query=3)
  with pytest.raises(ConfigError, match="^rotation: "):
    few_shot_task(classes, ways=5, shots=1, query=1, rotation="classes")
  with pytest.raises(ConfigError, match="^ways: .*alphabet"):
    few_shot_task(classes, ways=13, shots=1, query=1, within_alphabet=True)
  with pytest.raises(ConfigError, match="^eval_shots: ") as e:
    few_shot_task(classes, 5, 4, 4, names=("ways", "eval_shots", "eval_query"))
  assert e.value.parameter == "eval_shots"


from data_paths import OMNIGLOT as DATA  # noqa: E402


@pytest.mark.skipif(not (DATA / "images_background_small1.zip").exists(), reason="no shared data")
def test_registered_omniglot_task_trains_a_few_steps(tmp_path):
  import optax
  import jaxmeta
  from jaxmeta import registry
  from jaxmeta.config import Config, validate
  config = validate(Config(task="omniglot", model="mlp", hidden=(16,), ways=5, shots=1, query=3,
                           eval_shots=1, eval_query=5, data_dir=str(DATA), cache_dir=str(tmp_path),
                           meta_batch_size=2), **registry.names())
  task = registry.build_task(config, "train")
  test_task = registry.build_task(config, "test", for_eval=True)
  ep = test_task.sample(jax.random.key(0))
  assert ep.support_x.shape == (5, 28, 28, 1) and ep.query_x.shape == (25, 28, 28, 1)
  algo = registry.build_algorithm(config, task)
  opt = optax.adam(1e-3)
  state = jaxmeta.init_state(jax.random.key(0), task, algo, opt)
  state, metrics = jaxmeta.make_train_loop(task, algo, opt, 2, 3)(state, jax.random.key(1))
  assert int(state.step) == 3 and np.all(np.isfinite(metrics["loss"]))
  with pytest.raises(ConfigError, match="^eval_shots: eval_shots 5 \\+ eval_query 100"):
    registry.build_task(config.replace(eval_shots=5, eval_query=100), "train")
  with pytest.raises(ConfigError, match="^ways: .*60-way.*50"):
    registry.build_task(config.replace(ways=60), "test", for_eval=True)
