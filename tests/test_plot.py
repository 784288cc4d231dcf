"""`jaxmeta plot` (a run's curves from its metrics.jsonl) and `jaxmeta train --tensorboard`."""
import importlib.util
import json
import shutil
import struct
import sys

import numpy as np
import pytest

from jaxmeta import checkpoint, experiment, plots
from jaxmeta.cli import main
from jaxmeta.config import Config

draws = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                           reason="matplotlib is the optional `plot` extra")
TINY = ["--steps", "20", "--log-every", "5", "--steps-per-call", "5", "--eval-tasks", "2",
        "--eval-steps", "1", "--hidden", "8", "--meta-batch-size", "2", "--baseline", "none",
        "--no-progress"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _error(capsys, argv):
  """The one `jaxmeta: error: ...` line of a refused command (exit status 2)."""
  code = main(argv)
  captured = capsys.readouterr()
  assert code == 2, captured.err
  assert captured.err.startswith("jaxmeta: error: ") and captured.err.count("\n") == 1, captured.err
  assert captured.out == ""
  return captured.err


def _files(directory):
  if not directory.exists():
    return None
  return sorted(p.relative_to(directory) for p in directory.rglob("*"))


def _png_size(path):
  """(width, height) from the IHDR chunk, after checking the signature."""
  data = path.read_bytes()
  assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", data[:16]
  return struct.unpack(">II", data[16:24])


def _events(directory):
  """Every event in the TensorBoard files of ``directory``, read with tensorboardX's protos
  (TFRecord framing: length, its CRC, the serialized Event, its CRC)."""
  from tensorboardX.proto import event_pb2
  out = []
  for path in sorted(directory.glob("events.out.tfevents.*")):
    data, pos = path.read_bytes(), 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      out.append((path.name, event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])))
      pos += 12 + length + 4
    assert pos == len(data), f"{path} ends in a partial record"
  return out


def _scalars(directory):
  """{tag: {step: value}} of the scalar summaries under ``directory``."""
  out = {}
  for _, event in _events(directory):
    for value in event.summary.value:
      out.setdefault(value.tag, {})[event.step] = value.simple_value
  return out


def _records(run):
  return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory):
  """A 20-step sinusoid run logged every 5 steps to metrics.jsonl and TensorBoard."""
  pytest.importorskip("tensorboardX")
  run = tmp_path_factory.mktemp("tb") / "run"
  assert main(["train", "--workdir", str(run), "--tensorboard"] + TINY) == 0
  return run


@draws
def test_plot_writes_a_png_of_every_series(tensorboard_run, tmp_path, capsys):
  run = tmp_path / "run"
  shutil.copytree(tensorboard_run, run)
  assert main(["plot", "--workdir", str(run)]) == 0
  out = run / "curves.png"
  assert capsys.readouterr().out.strip() == str(out)
  width, height = _png_size(out)
  # loss, pre_adaptation_loss, steps_per_s: three panels on two columns, two rows
  assert width >= 800 and height >= 500 and out.stat().st_size > 20_000
  from PIL import Image
  pixels = np.asarray(Image.open(out).convert("L"))
  assert pixels.shape == (height, width) and pixels.std() > 10   # drawn, not blank
  assert not [p for p in run.iterdir() if p.name.endswith(checkpoint.TEMP_SUFFIX)]
  assert list(plots.series(_records(run))) == ["loss", "pre_adaptation_loss", "steps_per_s"]


@draws
def test_plot_out_flag_and_a_run_still_training(tmp_path, capsys):
  """A line being appended (no newline yet, cut mid-number) is skipped; --out elsewhere."""
  run = tmp_path / "run"
  run.mkdir()
  lines = [json.dumps({"step": s, "loss": 2.0 / s, "accuracy": 0.2 + s / 100, "steps_per_s": 40.0,
                       "meta_grad_norm": 1.0 / s}) for s in (10, 20, 30)]
  (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 40, "loss": 0.0')
  out = tmp_path / "figures" / "curves.svg"
  assert main(["plot", "--workdir", str(run), "--out", str(out)]) == 0
  assert "<svg" in out.read_text()
  assert [p.name for p in run.iterdir()] == ["metrics.jsonl"]
  assert [r["step"] for r in plots.read_metrics(run / "metrics.jsonl")] == [10, 20, 30]
  assert list(plots.series(plots.read_metrics(run / "metrics.jsonl"))) == [
      "loss", "accuracy", "meta_grad_norm", "steps_per_s"]
  assert main(["plot", "--workdir", str(run), "--out", str(tmp_path / "c.png")]) == 0
  assert _png_size(tmp_path / "c.png")[0] >= 800
  capsys.readouterr()


@pytest.mark.parametrize("case, needle", [
    ("missing", "--workdir: {run} does not exist"),
    ("file", "--workdir: {run} is not a directory"),
    ("no metrics", "--workdir: {run} holds no metrics.jsonl"),
    ("empty metrics", "--workdir: {run}/metrics.jsonl holds no complete record yet"),
    ("torn only", "--workdir: {run}/metrics.jsonl holds no complete record yet"),
    ("bad suffix", "--out: {run}/curves.jpg: the file name must end in .png, .pdf or .svg"),
])
def test_plot_refuses_bad_input_in_one_line_writing_nothing(tmp_path, capsys, case, needle):
  run = tmp_path / "run"
  if case == "file":
    run.write_text("not a run")
  elif case != "missing":
    run.mkdir()
    (run / "config.json").write_text("{}")
  if case == "empty metrics":
    (run / "metrics.jsonl").write_text("")
  elif case in ("torn only", "bad suffix"):
    (run / "metrics.jsonl").write_text('{"step": 5, "loss": 1.0}\n' if case == "bad suffix"
                                       else '{"step": 5, "lo')
  before = _files(tmp_path)
  argv = ["plot", "--workdir", str(run)] + (["--out", str(run / "curves.jpg")]
                                            if case == "bad suffix" else [])
  assert needle.format(run=run) in _error(capsys, argv)
  assert _files(tmp_path) == before


def test_plot_without_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
  run = tmp_path / "run"
  run.mkdir()
  (run / "metrics.jsonl").write_text('{"step": 5, "loss": 1.0}\n')
  monkeypatch.setitem(sys.modules, "matplotlib.figure", None)   # import fails
  err = _error(capsys, ["plot", "--workdir", str(run)])
  assert "plot needs matplotlib" in err and "pip install jaxmeta[plot]" in err
  assert [p.name for p in run.iterdir()] == ["metrics.jsonl"]


def test_tensorboard_events_hold_the_metrics_jsonl_scalars(tensorboard_run):
  records = _records(tensorboard_run)
  assert [r["step"] for r in records] == [5, 10, 15, 20]
  scalars = _scalars(tensorboard_run / experiment.TENSORBOARD_DIR)
  assert set(scalars) == set(records[0]) - {"step"} == {
      "loss", "steps_per_s", "pre_adaptation_loss"}
  for record in records:
    for name, value in record.items():
      if name != "step":   # event files hold float32
        assert scalars[name][record["step"]] == pytest.approx(value, rel=1e-6), (name, record)


def test_tensorboard_may_be_turned_on_when_resuming(tensorboard_run, tmp_path, capsys):
  """Logging only: a run resumed with --tensorboard reaches the same parameters as one
  logged to TensorBoard from the start, and its events start where it resumed."""
  assert Config().differences(Config(tensorboard=True)) == []
  run = tmp_path / "run"
  first = [a if a != "20" else "10" for a in TINY]   # --steps 10
  assert main(["train", "--workdir", str(run)] + first) == 0
  assert not (run / experiment.TENSORBOARD_DIR).exists()
  capsys.readouterr()
  assert main(["train", "--workdir", str(run), "--tensorboard"] + TINY) == 0
  assert "resumed from step 10" in capsys.readouterr().out
  read = lambda r: (r / checkpoint.CHECKPOINT_NAME).read_bytes()[len(checkpoint.MAGIC) + 32:]
  assert read(run) == read(tensorboard_run)
  events = _events(run / experiment.TENSORBOARD_DIR)
  assert {name for name, _ in events} == {events[0][0]} and events[0][0].endswith(".from-step-10")
  # the purge marker: TensorBoard drops what an interrupted process logged after step 10
  assert any(e.session_log.status == e.session_log.START and e.step == 10 for _, e in events)
  assert {tag: sorted(points) for tag, points in _scalars(run / "tensorboard").items()} == {
      "loss": [15, 20], "steps_per_s": [15, 20], "pre_adaptation_loss": [15, 20]}
  assert [r["step"] for r in _records(run)] == [5, 10, 15, 20]   # metrics.jsonl as before


def test_tensorboard_without_tensorboardx_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
  monkeypatch.setitem(sys.modules, "tensorboardX", None)   # import fails
  from jaxmeta import registry
  monkeypatch.setattr(registry, "build_task", lambda *a, **k: pytest.fail("task built"))
  err = _error(capsys, ["train", "--workdir", str(tmp_path / "w"), "--tensorboard"] + TINY)
  assert err == ("jaxmeta: error: --tensorboard: needs tensorboardX, which is not installed: "
                 "pip install jaxmeta[tensorboard]\n")
  assert not (tmp_path / "w").exists()


def test_tensorboard_needs_a_workdir(capsys):
  err = _error(capsys, ["train", "--tensorboard"] + TINY)
  assert err.startswith("jaxmeta: error: --tensorboard: ") and "--workdir" in err
