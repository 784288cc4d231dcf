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

from jaxmeta.errors import CheckpointError, ConfigError

MAGIC = b"JAXMETA1"
CHECKPOINT_NAME = "checkpoint.msgpack"
METRICS_NAME = "metrics.jsonl"   # one JSON object per line, appended every --log-every steps


TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".lock"
DISCARDED_PREFIX = ".discarded-"


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
  """Writes ``data`` to ``path`` through a temp file and ``os.replace``.

  The file gets the mode any new file gets (``0o666`` less the umask), like ``open``;
  ``mkstemp``'s private ``0o600`` is widened before the rename.
  """
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
  try:
    if hasattr(os, "fchmod"):
      os.fchmod(fd, 0o666 & ~_umask())
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
  """Drops metric lines logged after ``last_step`` (work lost when a run was interrupted);
  ``last_step = 0`` (a fresh start) removes the file, so that it describes one trajectory."""
  path = Path(path)
  if not path.exists():
    return
  if last_step <= 0:
    path.unlink()
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


class WorkdirLock:
  """An exclusive OS-level lock on a run directory, held for as long as it is open.

  ``flock`` on ``DIR/.lock``: the kernel releases it when the process ends, however it
  ends (``kill -9`` included), so a lock is never stale. Reentrant within a process (the
  command line holds it across training and evaluation). The holder's pid is written in
  the lock file so that a second process can name it.

  Raises:
    ConfigError: (``workdir``) another process holds the lock, or the directory cannot
      be created or written (naming the path and the error).
  """
  _held: dict = {}

  def __init__(self, workdir: Path):
    self.path = Path(workdir).resolve()

  def __enter__(self):
    entry = WorkdirLock._held.get(self.path)
    if entry is not None:
      entry[1] += 1
      return self
    try:
      self.path.mkdir(parents=True, exist_ok=True)
      fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
      raise ConfigError("workdir", f"cannot write {self.path}: {describe_os_error(e)}") from e
    try:
      import fcntl
    except ImportError:  # no flock on this platform: run unlocked
      fcntl = None
    if fcntl is not None:
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError("workdir", f"{self.path} is in use by another jaxmeta process (pid "
                          f"{holder}); wait for it to finish or use another --workdir") from None
      os.ftruncate(fd, 0)
      os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    WorkdirLock._held[self.path] = [fd, 1]
    return self

  def __exit__(self, *exc):
    entry = WorkdirLock._held[self.path]
    entry[1] -= 1
    if entry[1] == 0:
      del WorkdirLock._held[self.path]
      os.close(entry[0])   # releases the flock; the file stays (removing it would race)
    return False


def clean_workdir(workdir: Path) -> list[str]:
  """Removes what an interrupted process left in ``workdir``: temp files of atomic writes
  (``.NAME.*.tmp``) and discarded runs (``.discarded-*``). Call it under the lock."""
  import shutil
  removed = []
  for entry in Path(workdir).iterdir():
    if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_file():
      entry.unlink()
      removed.append(entry.name)
    elif entry.name.startswith(DISCARDED_PREFIX) and entry.is_dir():
      shutil.rmtree(entry)
      removed.append(entry.name)
  return removed


def discard_run(workdir: Path) -> None:
  """Deletes every artefact of the run in ``workdir`` (not the lock): first moved aside in
  one directory, then removed, so an interrupted discard never leaves a mixed run (the next
  :func:`clean_workdir` finishes it). Call it under the lock."""
  import shutil
  workdir = Path(workdir)
  aside = Path(tempfile.mkdtemp(prefix=DISCARDED_PREFIX, dir=workdir))
  for entry in list(workdir.iterdir()):
    if entry.name != LOCK_NAME and entry != aside:
      os.replace(entry, aside / entry.name)
  shutil.rmtree(aside)


def describe_os_error(e: OSError) -> str:
  """``"No space left on device [ENOSPC]"``: the error's text and its errno name."""
  import errno
  name = errno.errorcode.get(e.errno, str(e.errno)) if e.errno is not None else "?"
  return f"{e.strerror or e} [{name}]"
