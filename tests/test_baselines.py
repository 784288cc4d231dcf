"""The meta-LSTM paper's two baselines: fine-tuning a pretrained classifier with a new
head (``finetune``), and the meta-LSTM's learned initialisation with plain SGD."""
import flax.linen as nn
import jax
import numpy as np
import pytest

import jaxmeta
from jaxmeta import cli
from jaxmeta.algorithms.common import finetune_curve
from jaxmeta.algorithms.embedding_nn import classification_task, finetune
from jaxmeta.algorithms.meta_lstm import meta_lstm
from jaxmeta.errors import ConfigError
from jaxmeta.inner_loop import sgd
from jaxmeta.types import Episode


class _Flatten(nn.Module):
  """A fixed feature map (no parameters), so the head's SGD step has a closed form."""
  def __call__(self, x):
    return x.reshape(x.shape[0], -1)


def _episode(rng, ways=3, shots=2, query=4, side=2):
  """Images around one random mean per class, so the support set says something."""
  means = rng.normal(size=(ways, side, side, 1))
  sy, qy = np.repeat(np.arange(ways), shots), np.repeat(np.arange(ways), query)
  noise = lambda n: 0.5 * rng.normal(size=(n, side, side, 1))
  return Episode((means[sy] + noise(len(sy))).astype(np.float32), sy.astype(np.int32),
                 (means[qy] + noise(len(qy))).astype(np.float32), qy.astype(np.int32))


def test_finetune_head_only_takes_the_closed_form_sgd_step():
  # With a zero head, softmax gives 1/N to every class, so one SGD step of size lr on the
  # mean cross-entropy sets W = lr X^T (Y - 1/N) / n and b = lr mean(Y - 1/N).
  rng = np.random.default_rng(0)
  ways, lr = 3, 0.7
  episode = _episode(rng, ways)
  task = classification_task(rng.random((5, 3, 2, 2, 1)), np.full(5, 3), batch_size=4)
  algo = finetune(_Flatten(), num_train_classes=5, ways=ways, inner_lr=lr, head_only=True)
  params = jax.jit(algo.init)(jax.random.key(0), task.sample(jax.random.key(1)))
  curve = np.asarray(algo.evaluate(params, episode, 1, jax.random.key(2)))

  x = episode.support_x.reshape(len(episode.support_y), -1)
  residual = np.eye(ways)[episode.support_y] - 1 / ways
  kernel, bias = lr * x.T @ residual / len(x), lr * residual.mean(0)
  logits = episode.query_x.reshape(len(episode.query_y), -1) @ kernel + bias
  expected = np.mean(np.argmax(logits, -1) == episode.query_y)
  assert curve[0] == pytest.approx(np.mean(episode.query_y == 0))  # all tied: class 0
  assert curve[1] == pytest.approx(expected)
  assert expected > 1 / ways  # the step is informative, so the check can fail


def test_finetune_whole_network_moves_the_body_after_the_first_step():
  # The first step only moves the zero head (the body's gradient goes through it); the
  # second moves the body too, so whole-network and head-only curves part at step 2.
  rng = np.random.default_rng(1)
  episode = _episode(rng, ways=3, shots=2, query=10, side=3)
  task = classification_task(rng.random((5, 3, 3, 3, 1)), np.full(5, 3), batch_size=4)
  class Body(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.tanh(nn.Dense(16)(x.reshape(x.shape[0], -1)))

  whole = finetune(Body(), 5, 3, inner_lr=2.0)
  head = finetune(Body(), 5, 3, inner_lr=2.0, head_only=True)
  params = jax.jit(whole.init)(jax.random.key(0), task.sample(jax.random.key(1)))
  curve = lambda algo: np.asarray(algo.evaluate(params, episode, 8, jax.random.key(2)))
  a, b = curve(whole), curve(head)
  assert a[1] == b[1]
  assert not np.array_equal(a[2:], b[2:])


def test_learned_init_with_sgd_is_sgd_from_theta_0():
  task = jaxmeta.tasks.sinusoid(shots=5, query=5)
  model = jaxmeta.models.MLP((8,), 1)
  episode = task.sample(jax.random.key(1))
  learned = meta_lstm(model, task, meta_lstm_updates=3)
  baseline = meta_lstm(model, task, meta_lstm_updates=3, test_update=sgd(0.05))
  params = jax.jit(learned.init)(jax.random.key(0), episode)
  got = baseline.evaluate(params, episode, 4, jax.random.key(2))
  want = finetune_curve(model, task, params["model"], episode, sgd(0.05), 4)
  np.testing.assert_allclose(got, want, rtol=1e-6)
  # ... and differs from the meta-LSTM's own curve.
  assert not np.allclose(learned.evaluate(params, episode, 4, jax.random.key(2)), want)


def test_bad_baseline_arguments_name_the_parameter():
  with pytest.raises(ConfigError, match="test_update"):
    meta_lstm(jaxmeta.models.MLP((8,), 1), jaxmeta.tasks.sinusoid(), test_update="sgd")
  with pytest.raises(ConfigError, match="inner_lr"):
    finetune(_Flatten(), 5, 3, inner_lr=-1.0)


def test_eval_refuses_an_unknown_test_update(tmp_path, capsys):
  assert cli.main(["eval", "--workdir", str(tmp_path), "--test-update", "adam"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "--test-update" in err[0] and "learned" in err[0] and "sgd" in err[0]
