"""The results JSON of one reproduction row: where it lives, how it is written and read,
and the facts recorded beside every measured number (hardware, load, date, commit).

A row's file is ``RESULTS/<table>/<row>.json``. Its ``source`` is ``"reproduce.py"`` (a run
of ``benchmarks/reproduce.py``) or ``"recorded"`` (a number benchmarks/RESULTS.md stated
before the generator existed; see benchmarks/recorded.py). Both carry ``results``: point
-> ``{"mean", "ci95"}`` in the table's unit (``ci95`` is ``None`` where no interval exists or
none was stated).
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"      # the committed results folder
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"

# Learning curves are downsampled to at most this many points: enough for a plot, small
# enough to commit.
CURVE_POINTS = 60


def row_path(results: Path, table: str, row: str) -> Path:
  return Path(results) / table / f"{row}.json"


def run_dir(results: Path, table: str, row: str) -> Path:
  """The row's ``jaxmeta train --workdir`` (checkpoints; never committed)."""
  return Path(results) / table / row


def atomic_write_text(path: Path, text: str) -> None:
  """Writes ``text`` to ``path`` through a temporary file in the same folder and
  ``os.replace``, so a reader never sees half a file."""
  atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    # mkstemp makes the file private (0600); results are for everyone to read.
    os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise


def write_json(path: Path, obj: dict) -> None:
  atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def read_row(results: Path, table: str, row: str) -> Optional[dict]:
  """The row's JSON, or ``None`` when there is none yet."""
  path = row_path(results, table, row)
  if not path.exists():
    return None
  return json.loads(path.read_text())


def load_average() -> Optional[list]:
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except (AttributeError, OSError):   # not on every platform
    return None


def hardware(load_start, load_end) -> dict:
  """The machine a number was measured on, with the load around the measurement (the
  machines here are shared, and load changes wall times by 2-3x)."""
  import jax
  device = jax.devices()[0]
  return {"platform": platform.platform(), "machine": platform.machine(),
          "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
          "python": platform.python_version(), "jax": jax.__version__,
          "jax_backend": jax.default_backend(), "device_kind": device.device_kind,
          "device_count": jax.device_count(), "load_start": load_start, "load_end": load_end}


def git_commit() -> Optional[str]:
  """HEAD of the repository, with ``+dirty`` when the working tree has changes."""
  def git(*args):
    return subprocess.run(("git", "-C", str(REPO)) + args, capture_output=True, text=True,
                          timeout=30, check=True).stdout.strip()
  try:
    commit = git("rev-parse", "HEAD")
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
  except (OSError, subprocess.SubprocessError):
    return None


def now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def downsample_curve(metrics_jsonl: Path, points: int = CURVE_POINTS) -> list:
  """Evenly spaced records of a run's ``metrics.jsonl`` (the last one always kept), with
  their numeric fields; ``[]`` when the run logged nothing."""
  path = Path(metrics_jsonl)
  if not path.exists():
    return []
  records = []
  for line in path.read_text().splitlines():
    try:
      record = json.loads(line)
    except ValueError:   # a torn last line of an interrupted run
      continue
    records.append({k: v for k, v in record.items() if isinstance(v, (int, float))})
  if len(records) > points:
    picks = sorted({round(i * (len(records) - 1) / (points - 1)) for i in range(points)})
    records = [records[i] for i in picks]
  return records


def lookup(obj, dotted: str):
  """``obj["a"]["b"]`` for ``"a.b"``; ``None`` where a key is missing."""
  for key in dotted.split("."):
    if not isinstance(obj, dict) or key not in obj:
      return None
    obj = obj[key]
  return obj
