"""Atomic checkpoints and run files (``config.json``, ``metrics.jsonl``).

A checkpoint file is ``MAGIC + sha256(payload) + payload`` where the payload is the
flax-serialised :class:`~jaxmeta.train.TrainState`. It is written to a temporary file in
the same directory, flushed and fsynced, then renamed over the old one, so a crash
leaves either the old or the new checkpoint, never half of one; a truncated or altered
file fails the digest check with an error that names it.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import flax.serialization

from jaxmeta.errors import CheckpointError

MAGIC = b"JAXMETA1"
CHECKPOINT_NAME = "checkpoint.msgpack"


def atomic_write_bytes(path: Path, data: bytes) -> None:
  """Writes ``data`` to ``path`` through a temp file and ``os.replace``."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def atomic_write_json(path: Path, obj) -> None:
  atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_checkpoint(workdir: Path, state) -> Path:
  """Atomically writes ``state`` (any flax-serialisable pytree) to ``workdir``."""
  payload = flax.serialization.to_bytes(state)
  path = Path(workdir) / CHECKPOINT_NAME
  atomic_write_bytes(path, MAGIC + hashlib.sha256(payload).digest() + payload)
  return path


def load_checkpoint(workdir: Path, target):
  """Restores a checkpoint into the structure of ``target``.

  Raises:
    CheckpointError: the file is unreadable, truncated, corrupted or of another model.
  """
  path = Path(workdir) / CHECKPOINT_NAME
  try:
    blob = path.read_bytes()
  except OSError as e:
    raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror}") from e
  head = len(MAGIC) + 32
  if len(blob) < head or blob[:len(MAGIC)] != MAGIC:
    raise CheckpointError(f"checkpoint {path} is not a jaxmeta checkpoint or is truncated; "
                          "delete it or pass a fresh --workdir")
  digest, payload = blob[len(MAGIC):head], blob[head:]
  if hashlib.sha256(payload).digest() != digest:
    raise CheckpointError(f"checkpoint {path} is truncated or corrupted (checksum mismatch); "
                          "delete it or pass a fresh --workdir")
  try:
    return flax.serialization.from_bytes(target, payload)
  except Exception as e:  # structure mismatch: a different model or algorithm
    raise CheckpointError(f"checkpoint {path} does not match this run's model: {e}") from e


def has_checkpoint(workdir: Path) -> bool:
  return (Path(workdir) / CHECKPOINT_NAME).exists()


def trim_metrics(path: Path, last_step: int) -> None:
  """Drops metric lines logged after ``last_step`` (work lost when a run was interrupted)."""
  path = Path(path)
  if not path.exists():
    return
  kept = []
  for line in path.read_text().splitlines():
    try:
      if json.loads(line)["step"] <= last_step:
        kept.append(line)
    except (ValueError, KeyError):
      continue  # a torn last line from a crash
  atomic_write_bytes(path, ("\n".join(kept) + "\n" if kept else "").encode())


def append_metrics(path: Path, record: dict) -> None:
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")
