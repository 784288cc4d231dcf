"""Beyond one device and one host: the meta-batch over 8 simulated devices, 2 processes on
127.0.0.1, and the errors of bad layouts.

Every case runs in subprocesses: the simulated device count (XLA_FLAGS) and
jax.distributed can only be set before jax starts, and must not leak into other tests.
Tolerance: 1 and N devices add the same per-task gradients in a different order (a
per-device sum, then an all-reduce), so parameters agree to float32 round-off, a few ulps
per step; after a few steps that is within 1e-5 absolute (measured: 3e-8). ProtoNets use
SGD here: Adam divides by the gradient's own magnitude, so a gradient that is 0 in exact
arithmetic (Conv-4's conv biases, cancelled by batch norm) becomes a +-lr step whose sign
is that of its round-off, which depends on the layout.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from data_paths import OMNIGLOT, requires_omniglot

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-5


def _env(**extra):
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE)] +
                                      ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
  env.update(extra)
  return env


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def eight_devices(tmp_path_factory):
  data = str(OMNIGLOT) if (OMNIGLOT / "images_background_small1.zip").exists() else ""
  tmp = tmp_path_factory.mktemp("devices")
  proc = subprocess.run([sys.executable, str(HERE / "devices_worker.py"), data],
                        env=_env(WORKER_TMP=str(tmp)), capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sinusoid_maml_on_8_devices_equals_1(eight_devices):
  r = eight_devices["sinusoid"]
  assert eight_devices["devices"] == 8
  assert r["moved"] > 1e-3                       # the steps did something
  assert r["diff_1_vs_8"] < TOLERANCE, r
  assert r["diff_1_vs_8_map"] < TOLERANCE, r     # lax.map over each device's tasks too
  assert r["loss_diff"] < TOLERANCE, r
  assert r["diff_none_vs_mesh1"] == 0.0          # a 1-device mesh is today's program
  assert r["params_sharding"] in ("P()", "PartitionSpec()")   # the state stays replicated


def test_the_8_device_step_is_partitioned(eight_devices):
  """Each device samples and differentiates its 2 of the 16 tasks (the compiled program
  holds their [2, 10, 1] support sets, never the meta-batch's [16, 10, 1]), and the
  gradient is reduced by one all-reduce."""
  hlo = eight_devices["sinusoid"]["hlo"]
  assert hlo == {"all_reduce": True, "local_support": True, "global_support": False}


def test_evaluation_over_8_devices_gives_the_same_curves(eight_devices):
  assert eight_devices["evaluate_diff"] < 1e-5


@requires_omniglot
def test_protonet_on_tiny_omniglot_on_8_devices_equals_1(eight_devices):
  r = eight_devices["protonet"]
  assert r["moved"] > 1e-3
  assert r["diff_1_vs_8"] < TOLERANCE, r
  assert r["hlo"] == {"all_reduce": True, "local_support": True, "global_support": False}


def test_bad_device_counts_are_refused_naming_the_flag(eight_devices):
  rc, err = eight_devices["too_many_devices"]
  assert rc == 2 and err.startswith("jaxmeta: error: --devices:") and "has 8 CPU devices" in err
  rc, err = eight_devices["not_divisible"]
  assert rc == 2 and err.startswith("jaxmeta: error: --meta-batch-size:"), err
  assert "nearest valid sizes are 24 and 32" in err
  rc, err = eight_devices["devices_word"]
  assert rc == 2 and "--devices: must be 'all' or a positive integer" in err


# --------------------------------------------------------------------------- 2 processes
def _launch(args, env=None, **kw):
  return subprocess.Popen([sys.executable, *map(str, args)], env=env or _env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _finish(procs, timeout):
  outs = []
  for p in procs:
    try:
      out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      pytest.fail("a process of the run hung")
    outs.append((p.returncode, out, err))
  return outs


def test_two_processes_train_one_model(tmp_path):
  """2 processes x 2 devices: the same parameters on both, equal to one process on one
  device; only process 0 wrote files; a second call resumes from its checkpoint."""
  worker = HERE / "process_worker.py"
  ref = _launch([worker, "-", 0, 0, tmp_path / "ref", tmp_path / "ref.npz"])
  coordinator = f"127.0.0.1:{_free_port()}"
  procs = [_launch([worker, coordinator, 2, i, tmp_path / f"w{i}", tmp_path / f"p{i}.npz"])
           for i in range(2)]
  for rc, out, err in _finish(procs + [ref], timeout=300):
    assert rc == 0, err[-3000:]
  p0, p1, r = (np.load(tmp_path / f"{n}.npz") for n in ("p0", "p1", "ref"))
  assert int(p0["processes"]) == 2 and int(p0["devices"]) == 4 and int(p0["step"]) == 4
  params = [k for k in p0.files if k.startswith("[")]
  assert params
  for k in params:
    np.testing.assert_array_equal(p0[k], p1[k])          # one model, bit for bit
    np.testing.assert_allclose(p0[k], r[k], rtol=0, atol=TOLERANCE)
  assert float(p0["mse"]) == float(p1["mse"])
  np.testing.assert_allclose(float(p0["mse"]), float(r["mse"]), rtol=1e-4)
  written = sorted(f.name for f in (tmp_path / "w0").iterdir())
  assert {"config.json", "checkpoint.msgpack", "metrics.jsonl"} <= set(written)
  assert not (tmp_path / "w1").exists() or not any((tmp_path / "w1").iterdir())

  # Resume: 2 more steps from process 0's checkpoint (steps may change on resume).
  coordinator = f"127.0.0.1:{_free_port()}"
  procs = [_launch([worker, coordinator, 2, i, tmp_path / f"w{i}", tmp_path / f"q{i}.npz", 6])
           for i in range(2)]
  ref = _launch([worker, "-", 0, 0, tmp_path / "ref", tmp_path / "ref6.npz", 6])
  for rc, out, err in _finish(procs + [ref], timeout=300):
    assert rc == 0, err[-3000:]
  q0, q1, r6 = (np.load(tmp_path / f"{n}.npz") for n in ("q0", "q1", "ref6"))
  assert int(q0["step"]) == 6
  for k in params:
    np.testing.assert_array_equal(q0[k], q1[k])
    np.testing.assert_allclose(q0[k], r6[k], rtol=0, atol=TOLERANCE)


def _train_cli(coordinator, i, workdir, *extra):
  return ["-m", "jaxmeta.cli", "train", "--task", "sinusoid", "--hidden", "8",
          "--meta-batch-size", "4", "--devices", "2", "--eval-tasks", "4", "--eval-batch", "4",
          "--coordinator", coordinator, "--num-processes", "2", "--process-id", str(i),
          "--workdir", str(workdir), "--no-progress", "--join-timeout", "10", *extra]


def test_killing_one_process_stops_the_other_with_a_clear_error(tmp_path):
  env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
  coordinator = f"127.0.0.1:{_free_port()}"
  procs = [_launch(_train_cli(coordinator, i, tmp_path / f"w{i}", "--steps", "100000",
                              "--steps-per-call", "10", "--log-every", "10"), env=env)
           for i in range(2)]
  metrics = tmp_path / "w0" / "metrics.jsonl"
  deadline = time.time() + 240
  while not metrics.exists() and time.time() < deadline and procs[0].poll() is None:
    time.sleep(0.5)
  assert metrics.exists(), procs[0].communicate(timeout=5)[1][-3000:]
  procs[1].send_signal(signal.SIGKILL)
  killed = time.time()
  (rc, _, err), _ = _finish(procs, timeout=120)
  assert rc != 0
  # JAX's coordination service stops it (heartbeat timeout, 10 s here), or a failed
  # collective reaches the command line first.
  assert ("another task died" in err or
          "jaxmeta: error: lost contact with another process of the run" in err), err[-3000:]
  assert time.time() - killed < 90


def test_unreachable_coordinator_is_a_clear_error_within_the_timeout(tmp_path):
  start = time.time()
  (rc, _, err), = _finish([_launch(_train_cli(f"127.0.0.1:{_free_port()}", 1, tmp_path / "w",
                                              "--steps", "1", "--join-timeout", "3"))],
                          timeout=120)
  assert rc == 2 and err.startswith("jaxmeta: error: --coordinator: no process 0 answers at "), \
      err[-3000:]
  assert err.count("\n") == 1
  assert time.time() - start < 60
  assert not (tmp_path / "w").exists()


def test_processes_with_different_options_are_refused(tmp_path):
  env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
  coordinator = f"127.0.0.1:{_free_port()}"
  procs = [_launch(_train_cli(coordinator, i, tmp_path / f"w{i}", "--steps", "1",
                              "--seed", str(i)), env=env)
           for i in range(2)]
  for rc, _, err in _finish(procs, timeout=180):
    assert rc == 2, err[-3000:]
    assert "jaxmeta: error: --seed: differs between the processes of the run" in err, err[-3000:]
  assert not (tmp_path / "w0").exists() or not any((tmp_path / "w0").iterdir())


def test_flags_of_processes_need_a_coordinator():
  from jaxmeta import cli
  import contextlib
  import io
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    assert cli.main(["train", "--num-processes", "2", "--steps", "1"]) == 2
  assert err.getvalue().startswith("jaxmeta: error: --coordinator: --num-processes need")


def test_divisibility_names_the_nearest_sizes():
  from jaxmeta import parallel
  from jaxmeta.errors import ConfigError
  assert parallel.nearest_multiples(25, 8) == (24, 32)
  assert parallel.nearest_multiples(3, 8) == (8,)
  with pytest.raises(ConfigError, match="meta_batch_size: 3 tasks .* nearest valid sizes are 8$"):
    parallel.check_divisible(3, 8)
