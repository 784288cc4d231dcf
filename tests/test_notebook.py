"""Executes notebooks/gradient_identities.ipynb top to bottom and checks the numbers it measured.

The notebook writes ``gradient_identities.json`` to ``$JAXMETA_NOTEBOOK_OUT``.
"""
import pytest

from notebook_runner import NOTEBOOKS, assert_no_outputs, execute

NOTEBOOK = NOTEBOOKS / "gradient_identities.ipynb"


def test_committed_notebook_has_no_outputs():
  assert_no_outputs(NOTEBOOK)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
  return execute(NOTEBOOK, tmp_path_factory.mktemp("notebook"), "gradient_identities.json")


def test_exact_identities(measured):
  for model, errors in measured["exact_relative_errors"].items():
    for algo, err in errors.items():
      assert err < 1e-10, (model, algo, err)


def test_alpha_squared_slopes(measured):
  slopes = measured["slopes"]
  assert set(slopes) == {"sinusoid MLP", "conv net"}
  for model, per_algo in slopes.items():
    assert set(per_algo) == {"maml", "fomaml", "reptile"}
    for algo, slope in per_algo.items():
      assert 1.7 < slope < 2.3, (model, algo, slope)
  for algo, slope in measured["slopes_k2_mlp"].items():
    assert 1.7 < slope < 2.3, ("k=2", algo, slope)


def test_weight_on_b_matches_first_order_prediction(measured):
  # E[g_X] / c_A = A - beta alpha B with beta = 2 (MAML), 1 (FOMAML), 1/2 (Reptile).
  for model, betas in measured["beta_small_alpha"].items():
    for algo, target in (("maml", 2.0), ("fomaml", 1.0), ("reptile", 0.5)):
      assert abs(betas[algo] - target) < 0.05 * target, (model, algo, betas[algo])


def test_meta_training_ran(measured):
  for algo, mse in measured["training"].items():
    assert mse["1 step"] < mse["0 steps"] or mse["10 steps"] < mse["0 steps"], (algo, mse)
