"""The Lake one-shot runs: loader (folder and zip), MHD scoring, eval-lake on a trained run."""
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jaxmeta import cli
from jaxmeta.data import lake
from jaxmeta.errors import ConfigError, JaxmetaError

from data_paths import OMNIGLOT as DATA  # noqa: E402


def _character(rng):
  return [tuple(rng.integers(25, 80, size=4)) for _ in range(rng.integers(2, 4))]


def _draw(strokes, shift=(0, 0)):
  im = Image.new("1", (105, 105), 1)
  d = ImageDraw.Draw(im)
  for x0, y0, x1, y1 in strokes:
    d.line([(x0 + shift[0], y0 + shift[1]), (x1 + shift[0], y1 + shift[1])], fill=0, width=3)
  return im


def make_runs(root: Path, n_runs=2, ways=5, seed=0, wrong_run=None):
  """Synthetic runs: test items are shifted copies of the training characters, in a shuffled
  order; in ``wrong_run`` class_labels.txt names a wrong class for every item."""
  rng = np.random.default_rng(seed)
  truth = []
  for r in range(1, n_runs + 1):
    run = root / f"run{r:02d}"
    (run / "training").mkdir(parents=True)
    (run / "test").mkdir()
    chars = [_character(rng) for _ in range(ways)]
    for k, c in enumerate(chars, 1):
      _draw(c).save(run / "training" / f"class{k:02d}.png")
    order = rng.permutation(ways)
    lines = []
    for m, k in enumerate(order, 1):
      _draw(chars[k], tuple(rng.integers(-8, 9, size=2))).save(run / "test" / f"item{m:02d}.png")
      label = (k + 1) % ways if r == wrong_run else k
      lines.append(f"run{r:02d}/test/item{m:02d}.png run{r:02d}/training/class{label + 1:02d}.png")
    (run / "class_labels.txt").write_text("\n".join(lines) + "\n")
    truth.append(order)
  return truth


def _zip(folder: Path, out: Path):
  with zipfile.ZipFile(out, "w") as z:
    for f in sorted(folder.rglob("*")):
      z.write(f, "all_runs/" + f.relative_to(folder).as_posix())
  return out


def test_loader_folder_and_zip(tmp_path):
  truth = make_runs(tmp_path / "runs", n_runs=3, ways=4)
  runs = lake.load_runs(tmp_path / "runs")
  zipped = lake.load_runs(_zip(tmp_path / "runs", tmp_path / "all_runs.zip"))
  assert [r.name for r in runs] == ["run01", "run02", "run03"] == [r.name for r in zipped]
  for run, z, order in zip(runs, zipped, truth):
    assert len(run.train_png) == 4 and len(run.test_png) == 4
    np.testing.assert_array_equal(run.labels, order)
    np.testing.assert_array_equal(z.labels, order)
    assert z.train_png == run.train_png


def test_mhd_scores_and_protocol(tmp_path):
  make_runs(tmp_path / "runs", n_runs=2, ways=5, wrong_run=2)
  a = lake.ink_points(Path(tmp_path / "runs/run01/training/class01.png").read_bytes())
  assert abs(a.mean(axis=0)).max() < 1e-9
  assert lake.modified_hausdorff(a, a) == 0.0
  # the explicit formula on two tiny point sets
  p, q = np.array([[0.0, 0.0], [0.0, 2.0]]), np.array([[0.0, 0.0]])
  assert lake.modified_hausdorff(p, q) == pytest.approx(max((0 + 2) / 2, 0.0))
  errors = lake.score_mhd(lake.load_runs(tmp_path / "runs"))
  # run 1: shifted copies are found exactly; run 2: every label is wrong
  np.testing.assert_allclose(errors, [0.0, 100.0])
  out = tmp_path / "lake.json"
  assert cli.main(["eval-lake", "--baseline", "mhd", "--runs", str(tmp_path / "runs"),
                   "--out", str(out)]) == 0
  result = json.loads(out.read_text())
  assert result["error_rate"] == 50.0 and result["per_run"] == [0.0, 100.0]


def test_bad_runs(tmp_path, capsys):
  assert cli.main(["eval-lake", "--baseline", "mhd", "--runs", str(tmp_path / "missing")]) == 2
  assert "does not exist" in capsys.readouterr().err
  (tmp_path / "empty").mkdir()
  with pytest.raises(ConfigError, match="no Lake runs"):
    lake.load_runs(tmp_path / "empty")
  make_runs(tmp_path / "r", n_runs=1, ways=3)
  (tmp_path / "r/run01/class_labels.txt").write_text("run01/test/item01.png\n")
  with pytest.raises(JaxmetaError, match="run01/class_labels.txt line 1"):
    lake.load_runs(tmp_path / "r")
  (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 truncated")
  with pytest.raises(JaxmetaError, match="bad.zip"):
    lake.load_runs(tmp_path / "bad.zip")
  assert cli.main(["eval-lake", "--runs", str(tmp_path / "r")]) == 2
  assert "exactly one of --workdir" in capsys.readouterr().err


@pytest.mark.skipif(not (DATA / "images_background_small1.zip").exists(), reason="no shared data")
def test_eval_lake_scores_a_trained_run(tmp_path, capsys):
  workdir = tmp_path / "run"
  common = ["--task", "omniglot", "--model", "mlp", "--hidden", "8", "--steps", "1",
            "--meta-batch-size", "1", "--shots", "1", "--query", "1", "--eval-shots", "1",
            "--eval-query", "1", "--eval-tasks", "2", "--eval-steps", "1", "--rotation", "none",
            "--data-dir", str(DATA), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
  assert cli.main(["train", "--ways", "5", "--workdir", str(workdir)] + common) == 0
  make_runs(tmp_path / "runs5", n_runs=2, ways=5)
  out = tmp_path / "lake.json"
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--runs", str(tmp_path / "runs5"),
                   "--out", str(out), "--steps", "2"]) == 0
  result = json.loads(out.read_text())
  assert len(result["per_run"]) == 2
  assert all(e in (0.0, 20.0, 40.0, 60.0, 80.0, 100.0) for e in result["per_run"])
  assert result["error_rate"] == pytest.approx(np.mean(result["per_run"]))
  # the data moved: --data-dir on eval and eval-lake overrides the run's
  assert cli.main(["eval", "--workdir", str(workdir), "--num-tasks", "2",
                   "--data-dir", str(tmp_path / "moved")]) == 2
  assert str(tmp_path / "moved") in capsys.readouterr().err
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--runs", str(tmp_path / "runs5"),
                   "--data-dir", str(tmp_path / "moved")]) == 2
  assert str(tmp_path / "moved") in capsys.readouterr().err
  assert cli.main(["eval", "--workdir", str(workdir), "--num-tasks", "2", "--data-dir", str(DATA),
                   "--out", str(tmp_path / "eval.json")]) == 0
  assert json.loads((tmp_path / "eval.json").read_text())["n_tasks"] == 2
  # --eval-batch changes how many tasks share a call, never the results
  assert cli.main(["eval", "--workdir", str(workdir), "--num-tasks", "2", "--data-dir", str(DATA),
                   "--eval-batch", "1", "--out", str(tmp_path / "eval1.json")]) == 0
  assert (json.loads((tmp_path / "eval1.json").read_text())["by_steps"]
          == json.loads((tmp_path / "eval.json").read_text())["by_steps"])
  make_runs(tmp_path / "runs4", n_runs=1, ways=4)
  capsys.readouterr()
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--runs", str(tmp_path / "runs4")]) == 2
  err = capsys.readouterr().err
  assert "--ways" in err and "--ways 5" in err and "4-way" in err
  # an ensemble averages class probabilities: a MAML run has none to give
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--workdir", str(workdir),
                   "--runs", str(tmp_path / "runs5"), "--out", str(tmp_path / "e.json")]) == 2
  err = capsys.readouterr().err
  assert err.startswith("jaxmeta: error: --workdir:") and "--algo maml" in err, err
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--workdir", str(workdir),
                   "--runs", str(tmp_path / "runs5"), "--steps", "1"]) == 2
  assert "--steps" in capsys.readouterr().err
  assert not (tmp_path / "e.json").exists()


@pytest.mark.skipif(not (DATA / "images_background_small1.zip").exists(), reason="no shared data")
def test_eval_lake_scores_a_metric_run_trained_5_way_on_20_way_runs(tmp_path):
  """`jaxmeta train --algo protonet` (5-way, lake-small split: nothing left to evaluate on), then
  `jaxmeta eval-lake` on 20-way runs: a metric method has no fixed head, so any N scores."""
  workdir = tmp_path / "proto"
  assert cli.main(["train", "--task", "omniglot", "--algo", "protonet", "--model", "conv4-pool",
                   "--filters", "4", "--image-size", "16", "--split", "lake-small", "--ways", "5",
                   "--shots", "1", "--query", "1", "--meta-batch-size", "1", "--steps", "2",
                   "--steps-per-call", "1", "--eval-shots", "1", "--eval-query", "1",
                   "--eval-steps", "0", "--data-dir", str(DATA), "--cache-dir",
                   str(tmp_path / "cache"), "--workdir", str(workdir), "--no-progress"]) == 0
  make_runs(tmp_path / "runs20", n_runs=2, ways=20)
  out = tmp_path / "lake.json"
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--runs", str(tmp_path / "runs20"),
                   "--out", str(out)]) == 0
  result = json.loads(out.read_text())
  assert result["n_runs"] == 2 and all(0.0 <= e <= 100.0 for e in result["per_run"])
  assert all(float(e / 5.0).is_integer() for e in result["per_run"])   # k wrong of 20 items
  errors = np.asarray(result["per_run"])
  assert result["error_ci95"] == pytest.approx(1.96 * errors.std() / np.sqrt(2))
  # The run with itself as an ensemble: the averaged probabilities are its own, so are the
  # errors; each member's own errors are reported beside.
  both = tmp_path / "ensemble.json"
  assert cli.main(["eval-lake", "--workdir", str(workdir), "--workdir", str(workdir),
                   "--runs", str(tmp_path / "runs20"), "--out", str(both)]) == 0
  ensemble = json.loads(both.read_text())
  assert ensemble["per_run"] == result["per_run"]
  assert ensemble["members"] == {str(workdir): result["per_run"]}
