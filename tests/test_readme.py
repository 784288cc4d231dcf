"""The README's research-code snippet runs as written and trains."""
import re
from pathlib import Path


def test_readme_snippet_runs(capsys):
  text = (Path(__file__).parents[1] / "README.md").read_text()
  snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
  namespace = {}
  exec(compile(snippet, "README.md", "exec"), namespace)
  summary = namespace["jaxmeta"].summarize(namespace["curves"][:, 10])
  pre = namespace["curves"][:, 0].mean()
  assert summary["median"] < 0.5 * pre, (summary, pre)


def _adding_a_method_example():
  text = (Path(__file__).parents[1] / "docs" / "adding-a-method.md").read_text()
  snippet = re.search(r"```python\n(# jaxmeta/algorithms/decay_maml.py\n.*?)```", text, re.S).group(1)
  namespace = {}
  exec(compile(snippet, "docs/adding-a-method.md", "exec"), namespace)
  return namespace


def test_adding_a_method_example_is_maml_when_nothing_decays():
  """The README's toy method: with decay 1 its meta-gradient is MAML's; with decay 0.5 the
  second inner step is half as long (checked against a hand-unrolled loop)."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  import pytest
  import jaxmeta
  from jaxmeta.errors import ConfigError
  ns = _adding_a_method_example()
  task = jaxmeta.tasks.sinusoid(shots=5, query=5)
  model = jaxmeta.models.MLP((8,), 1)
  ep = task.sample(jax.random.key(0))
  toy = ns["decay_maml"](model, task, inner_lr=0.05, inner_steps=2, decay=1.0)
  ref = jaxmeta.algorithms.maml(model, task, inner_lr=0.05, inner_steps=2)
  params = jax.jit(ref.init)(jax.random.key(1), ep)
  g_toy, _ = toy.meta_grad(params, ep, jax.random.key(2))
  g_ref, _ = ref.meta_grad(params, ep, jax.random.key(2))
  for a, b in zip(jax.tree.leaves(g_toy), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

  loss = lambda w, b: jnp.sum((w - b) ** 2)
  w, _ = jaxmeta.adapt(loss, jnp.zeros(1), jnp.ones(1), update=ns["decaying_sgd"](0.25, 0.5), steps=2)
  # step 1: 0 - 0.25 * 2 (0 - 1) = 0.5; step 2 at rate 0.125: 0.5 - 0.125 * 2 (0.5 - 1) = 0.625
  np.testing.assert_allclose(w, [0.625])
  curve = ns["decay_maml"](model, task, inner_lr=0.05, inner_steps=2).evaluate(
      params, ep, 3, jax.random.key(3))
  assert curve.shape == (4,) and np.all(np.isfinite(curve))
  (option,) = ns["OPTIONS"]
  assert option.flag == "--inner-decay" and ns["REGISTRATION"].option_names() == (
      "inner_decay", "inner_lr", "inner_steps")
  with pytest.raises(ConfigError, match="^inner_decay: must be a positive finite number"):
    option.validate(0.0)
