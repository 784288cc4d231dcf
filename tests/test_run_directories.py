"""Run directories that cannot be corrupted, and bad input refused before anything is
written or compiled (one `jaxmeta: error: --flag: ...` line, exit status 2)."""
import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from jaxmeta import checkpoint, cli, experiment
from data_paths import OMNIGLOT, requires_omniglot

FAST = ["--hidden", "8", "--meta-batch-size", "2", "--steps-per-call", "10", "--eval-tasks", "5",
        "--baseline", "none", "--no-progress"]


def _train(workdir, *extra):
  return cli.main(["train", "--workdir", str(workdir)] + FAST + list(extra))


def _error(capsys, argv):
  code = cli.main(argv)
  err = capsys.readouterr().err
  assert code == 2, err
  assert err.startswith("jaxmeta: error: ") and err.count("\n") == 1, err
  return err


def _wait_for(predicate, seconds=180):
  deadline = time.time() + seconds
  while not predicate():
    if time.time() > deadline:
      raise AssertionError("timed out")
    time.sleep(0.05)


def test_second_process_on_a_workdir_is_refused_naming_the_holder(tmp_path):
  """Two real processes: the second exits 2 naming the first's pid; after a kill -9 of the
  holder the lock is gone (the kernel drops it) and the run resumes."""
  run = tmp_path / "run"
  cmd = [sys.executable, "-m", "jaxmeta.cli", "train", "--steps", "100000", "--checkpoint-every",
         "20", "--workdir", str(run)] + FAST
  holder = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    _wait_for(lambda: (run / checkpoint.CHECKPOINT_NAME).exists())
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second.stderr
    assert second.stderr.count("\n") == 1
    assert f"--workdir: {run.resolve()} is in use by another jaxmeta process (pid {holder.pid})" \
        in second.stderr
    # evaluation needs no lock: checkpoints are replaced atomically, so it reads a whole one
    evaluated = subprocess.run([sys.executable, "-m", "jaxmeta.cli", "eval", "--workdir", str(run),
                                "--num-tasks", "5"], capture_output=True, text=True, timeout=120)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["n_tasks"] == 5
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  # what a kill -9 in the middle of an atomic write leaves behind
  (run / ".checkpoint.msgpack.x1y2.tmp").write_bytes(b"partial")
  (run / ".config.json.x1y2.tmp").write_bytes(b"{")
  (run / ".discarded-abc").mkdir()
  resumed = subprocess.run(cmd[:5] + ["40"] + cmd[6:], capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr
  assert resumed.stdout.startswith("resumed from step ")
  assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == [".lock"]


def test_a_fresh_start_in_an_old_workdir_keeps_one_trajectory(tmp_path):
  run = tmp_path / "run"
  assert _train(run, "--steps", "20", "--log-every", "10") == 0
  first = (run / "metrics.jsonl").read_text()
  (run / checkpoint.CHECKPOINT_NAME).unlink()
  assert _train(run, "--steps", "20", "--log-every", "10") == 0   # retrains from scratch
  steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
  assert steps == [10, 20] and len(first.splitlines()) == 2


def test_force_clears_every_artefact_of_the_old_run_first(tmp_path, capsys):
  run = tmp_path / "run"
  assert _train(run, "--steps", "20") == 0
  assert (run / "eval.json").exists()
  # the forced run dies at its first step (an exploding rate) before writing anything new
  err = _error(capsys, ["train", "--workdir", str(run), "--force", "--inner-lr", "1e6",
                        "--outer-lr", "1e6", "--optimizer", "sgd", "--steps", "20"] + FAST)
  assert "meta-loss is" in err
  assert not (run / "eval.json").exists() and not (run / checkpoint.CHECKPOINT_NAME).exists()
  assert json.loads((run / "config.json").read_text())["inner_lr"] == 1e6
  assert "before any checkpoint was written" in err


@pytest.mark.parametrize("text", ['{"task": "sinusoid", ', "[]", "null"])
def test_broken_config_json_is_one_line_and_force_recovers(tmp_path, capsys, text):
  run = tmp_path / "run"
  run.mkdir()
  (run / "config.json").write_text(text)
  err = _error(capsys, ["train", "--workdir", str(run), "--steps", "10"] + FAST)
  assert str(run / "config.json") in err and "--force" in err
  assert (run / "config.json").read_text() == text   # left as found
  err = _error(capsys, ["eval", "--workdir", str(run)])
  assert str(run / "config.json") in err
  assert _train(run, "--steps", "10", "--force") == 0
  assert json.loads((run / "config.json").read_text())["steps"] == 10


def test_unwritable_workdir_is_refused_before_compiling(tmp_path, capsys):
  blocker = tmp_path / "file"
  blocker.write_text("x")
  err = _error(capsys, ["train", "--workdir", str(blocker / "run"), "--steps", "10"] + FAST)
  assert err.startswith(f"jaxmeta: error: --workdir: cannot write {blocker / 'run'}") and "[ENOTDIR]" in err


def test_full_disk_while_training_is_one_line_and_the_last_checkpoint_resumes(tmp_path, capsys,
                                                                               monkeypatch):
  run = tmp_path / "run"
  assert _train(run, "--steps", "20", "--checkpoint-every", "10") == 0
  good = (run / checkpoint.CHECKPOINT_NAME).read_bytes()
  real = checkpoint.save_checkpoint

  def full(workdir, state):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(checkpoint, "save_checkpoint", full)
  err = _error(capsys, ["train", "--workdir", str(run), "--steps", "40", "--checkpoint-every", "10"] + FAST)
  assert f"cannot write {run / checkpoint.CHECKPOINT_NAME}" in err and "[ENOSPC]" in err
  assert "rerun the same command to resume" in err
  assert (run / checkpoint.CHECKPOINT_NAME).read_bytes() == good
  monkeypatch.setattr(checkpoint, "save_checkpoint", real)
  assert _train(run, "--steps", "40", "--checkpoint-every", "10") == 0
  assert "resumed from step 20" in capsys.readouterr().out


def test_run_files_take_the_umask(tmp_path):
  old = os.umask(0o027)
  try:
    assert _train(tmp_path / "run", "--steps", "10") == 0
  finally:
    os.umask(old)
  for name in ("config.json", "checkpoint.msgpack", "metrics.jsonl", "eval.json"):
    assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o640, name


@pytest.mark.parametrize("argv, needle", [
    (["--inner-steps", "100000000000"], "--inner-steps: must be at most 100000, got 100000000000"),
    (["--shots", "99999999999"], "--shots: must be at most 100000"),
    (["--meta-batch-size", "1000000000000"], "--meta-batch-size: must be at most 10000000"),
    (["--seed", "18446744073709551616"], "--seed: must be at most 4294967295"),
    (["--seed", "4294967296"], "--seed: must be at most 4294967295"),
    (["--eval-steps", "1,,3"], "--eval-steps: expected comma-separated integers without empty items"),
    (["--outer-lr", "-1e-3"], "--outer-lr: must be a positive finite number, got -0.001"),
    (["--inner-lr", "-.5"], "--inner-lr: must be a positive finite number, got -0.5"),
    (["--model", "conv4"], "--model: "),
    (["--eval-ways", "0"], "--eval-ways: must be a positive integer, got 0"),
])
def test_bad_input_is_refused_before_anything_is_written(capsys, tmp_path, argv, needle):
  run = tmp_path / "run"
  err = _error(capsys, ["train", "--workdir", str(run), "--steps", "10"] + FAST + argv)
  assert needle in err
  assert not run.exists()
  assert _train(run, "--steps", "10") == 0   # the corrected rerun is not "a different config"


def test_data_dir_that_is_a_file(capsys, tmp_path):
  (tmp_path / "f").write_text("x")
  err = _error(capsys, ["train", "--task", "omniglot", "--data-dir", str(tmp_path / "f"),
                        "--workdir", str(tmp_path / "run")])
  assert f"--data-dir: {tmp_path / 'f'} is a file, not a directory" in err


def test_memory_estimate_refuses_a_meta_batch_that_cannot_fit(capsys, tmp_path, monkeypatch):
  monkeypatch.setattr(experiment, "_available_memory", lambda: 2**30)   # a 1 GiB device
  err = _error(capsys, ["train", "--workdir", str(tmp_path / "run"), "--steps", "10",
                        "--meta-batch-size", "1000000"] + FAST[4:])
  assert "--meta-batch-size: 1000000 tasks need at least" in err and "GiB" in err
  assert not (tmp_path / "run").exists()


def test_divergence_before_the_first_checkpoint_says_none_was_written(capsys, tmp_path):
  err = _error(capsys, ["train", "--workdir", str(tmp_path / "run"), "--inner-lr", "1e6",
                        "--outer-lr", "1e6", "--optimizer", "sgd", "--steps", "20"] + FAST)
  assert "at step " in err and "before any checkpoint was written" in err
  assert "last good checkpoint" not in err


@requires_omniglot
def test_naming_a_task_and_its_data_is_enough(tmp_path):
  """`jaxmeta train --task omniglot --data-dir DIR --workdir W`, exactly: the task's paper
  setting (MAML 5-way 1-shot) instead of the sinusoid's evaluation sizes. config.json is
  written once the data is loaded and the model, method and state shapes are checked
  (``eval_shape``), just before compiling: the run is under way. (Compiling and training
  this setting is test_image_meta's; here it would cost CI half a minute.)"""
  run = tmp_path / "run"
  env = dict(os.environ, HOME=str(tmp_path))   # the default image cache goes under ~/.cache
  cmd = [sys.executable, "-m", "jaxmeta.cli", "train", "--task", "omniglot", "--data-dir",
         str(OMNIGLOT), "--workdir", str(run)]
  proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
  try:
    _wait_for(lambda: (run / "config.json").exists() or proc.poll() is not None, 600)
    assert proc.poll() is None, proc.stderr.read()
  finally:
    proc.kill()
    proc.wait()
  config = json.loads((run / "config.json").read_text())
  assert (config["algo"], config["model"], config["ways"], config["shots"], config["eval_shots"],
          config["eval_query"], config["inner_lr"]) == ("maml", "conv4", 5, 1, 1, 15, 0.4)
  assert config["preset"] == "maml-omniglot-5w1s"
