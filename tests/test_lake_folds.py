"""benchmarks/lake_folds.py (issue 18): the held-out-alphabet stand-in for Lake's runs.

The runs it writes must be what ``jaxmeta eval-lake`` reads as Lake's: 20-way, within one
held-out alphabet, one drawer for every training image and another for every test item,
the original PNGs, each test item's true class in ``class_labels.txt``; the folds must
hold out every alphabet that can host a 20-way run exactly once and never train on it.
"""
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from data_paths import OMNIGLOT, requires_omniglot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import lake_folds  # noqa: E402


@pytest.fixture(scope="module")
def drawings():
  return lake_folds.drawings_by_character(OMNIGLOT)


@requires_omniglot
def test_folds_hold_out_every_20_character_alphabet_once(drawings):
  sizes = {}
  for name in drawings:
    sizes[name.split("/")[0]] = sizes.get(name.split("/")[0], 0) + 1
  held = [a for fold in lake_folds.FOLDS for a in fold]
  assert sorted(held) == sorted(a for a, n in sizes.items() if n >= lake_folds.WAYS)
  assert len(drawings) == 242 and sizes["Tagalog"] == 17 and "Tagalog" not in held


def _sources(run_dir):
  """``{"training/class01.png": ("zip name", "member"), ...}`` from the run's sources.txt."""
  lines = (run_dir / "sources.txt").read_text().splitlines()
  return {dest: tuple(where.split(":", 1)) for dest, where in (l.split(" ", 1) for l in lines)}


@requires_omniglot
def test_runs_are_lakes_format_within_alphabet_with_a_drawer_pair(drawings, tmp_path):
  from jaxmeta.data import lake
  out = tmp_path / "fold3"
  assert lake_folds.write_runs(drawings, ("Latin",), out, 3, np.random.default_rng(0)) == 3
  runs = lake.load_runs(out)
  assert [r.name for r in runs] == ["run001", "run002", "run003"]
  parse = lambda member: lake_folds._MEMBER.search(member).groups()  # alphabet, char, id, drawer
  for run in runs:
    sources = _sources(out / run.name)
    train = [parse(sources[f"training/class{k + 1:02d}.png"][1]) for k in range(20)]
    test = [parse(sources[f"test/item{m + 1:02d}.png"][1]) for m in range(20)]
    assert len({c for _, c, _, _ in train}) == 20
    assert {a for a, _, _, _ in train + test} == {"Latin"}
    (train_drawer,), (test_drawer,) = {d for *_, d in train}, {d for *_, d in test}
    assert train_drawer != test_drawer
    # item m's label is the class whose training image shows the same character
    assert [train[k][1] for k in run.labels] == [c for _, c, _, _ in test]
    assert sorted(run.labels.tolist()) == list(range(20))
  # the files are the named zip members, byte for byte (first run)
  zips = {p.name: p for p in {z for d in drawings.values() for z, _ in d.values()}}
  sources = _sources(out / "run001")
  for kind, stem, pngs in (("training", "class", runs[0].train_png), ("test", "item", runs[0].test_png)):
    for i, png in enumerate(pngs):
      zname, member = sources[f"{kind}/{stem}{i + 1:02d}.png"]
      with zipfile.ZipFile(zips[zname]) as z:
        assert z.read(member) == png
  # written once: a second call keeps the runs as they are
  before = (out / "run001" / "class_labels.txt").read_text()
  assert lake_folds.write_runs(drawings, ("Latin",), out, 5, np.random.default_rng(1)) == 3
  assert (out / "run001" / "class_labels.txt").read_text() == before
