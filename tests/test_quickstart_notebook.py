"""Executes notebooks/quickstart.ipynb top to bottom on the real Omniglot small sets and checks
the accuracies it measured on 5-way 1-shot tasks of unseen test characters (chance: 20 %).

The notebook writes ``quickstart.json`` to ``$JAXMETA_NOTEBOOK_OUT``; it reads the data from
``$JAXMETA_OMNIGLOT``, set here to the folder of ``tests/data_paths.py``.
"""
import pytest

from data_paths import OMNIGLOT, requires_omniglot
from notebook_runner import NOTEBOOKS, assert_no_outputs, execute

NOTEBOOK = NOTEBOOKS / "quickstart.ipynb"


def test_committed_notebook_has_no_outputs():
  assert_no_outputs(NOTEBOOK)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
  if not (OMNIGLOT / "images_background_small1.zip").exists():
    pytest.skip("the Omniglot small sets are not here: set JAXMETA_TEST_DATA to their folder")
  return execute(NOTEBOOK, tmp_path_factory.mktemp("notebook"), "quickstart.json",
                 {"JAXMETA_OMNIGLOT": OMNIGLOT})


# Measured (seeds fixed, 28x28, Conv-4 32, 300 steps each, 200 test tasks): MAML 85.5 +- 1.2 %
# after 3 steps (19.6 % before adaptation), ProtoNet 89.5 +- 1.3 %. The thresholds leave about
# 20 points for other jax versions and CPUs; an untrained or broken learner stays near 20 %.
@requires_omniglot
def test_maml_adapts_to_unseen_characters(measured):
  maml = measured["maml"]
  assert maml["accuracy"] > 0.65, maml
  assert 0.1 < maml["accuracy_0_steps"] < 0.3, maml   # labels are a random order: chance


@requires_omniglot
def test_protonet_classifies_unseen_characters(measured):
  assert measured["protonet"]["accuracy"] > 0.70, measured["protonet"]


@requires_omniglot
def test_the_shown_episode_was_classified(measured):
  # The notebook checks its hand-made predictions against the library's evaluation of the
  # episode it shows; here only that both ran (one episode of 25 queries is too noisy to bound).
  for name in ("maml", "protonet"):
    assert 0.0 <= measured["episode"][name] <= 1.0
