"""Downloads that verify what they fetched.

:func:`fetch` streams a URL into a temporary file beside the destination, hashing as it
goes, with a progress bar; only a file of the expected size and sha256 is renamed to
the final name (``os.replace``), so an interrupted, truncated or wrong download (an
HTML error page, say) never sits under the final name.

A download that makes too little progress is abandoned rather than waited for: besides
the per-read socket ``timeout``, :func:`fetch` has an overall ``deadline`` per file
(:data:`DEADLINE`, 30 minutes) and a minimum throughput ``min_speed`` (:data:`MIN_SPEED`,
10 kB/s) averaged over the last ``speed_window`` seconds (:data:`SPEED_WINDOW`, 30 s;
the first window is a grace period). At 10 kB/s the largest Omniglot zip (9.5 MB) takes
16 minutes, inside the deadline. Ctrl-C during a download raises
:class:`DownloadInterrupted`.
"""
from __future__ import annotations

import collections
import hashlib
import os
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from jaxmeta import checks
from jaxmeta.errors import JaxmetaError

DEADLINE = 30 * 60.0
"""Default overall time limit of one file's download, in seconds (connecting included)."""
MIN_SPEED = 10_000.0
"""Default minimum throughput in bytes per second, over :data:`SPEED_WINDOW`."""
SPEED_WINDOW = 30.0
"""Default window in seconds over which the throughput is averaged; no throughput check
during the first window of a download (connection set-up, TCP slow start)."""

_READ_SIZE = 1 << 16


class DownloadError(JaxmetaError):
  """A download failed or did not match its registered checksum."""


class DownloadInterrupted(DownloadError, KeyboardInterrupt):
  """Ctrl-C during a download: the partial file was removed.

  Both a :class:`DownloadError` (the command line prints its message, which says what
  was kept, as one line) and a ``KeyboardInterrupt`` (code that handles interrupts still
  sees one).
  """


def looks_like_html(head: bytes) -> bool:
  """Whether the first bytes of a file are an HTML (or XML) page: a download that returned
  an error or login page instead of the file."""
  h = head.lstrip().lower()
  return h.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in h[:512]


def _size_text(n: int) -> str:
  return f"{n} bytes" if n < 10_000 else f"{n / 1e6:.2f} MB"


def check_limits(deadline: Optional[float], min_speed: Optional[float],
                 speed_window: float) -> None:
  """Raises :class:`~jaxmeta.errors.ConfigError` for a bad ``deadline`` (``None`` or a
  positive number of seconds), ``min_speed`` (``None``, 0 or a positive number of bytes
  per second) or ``speed_window`` (positive seconds)."""
  if deadline is not None:
    checks.positive_number("deadline", deadline)
  if min_speed is not None and min_speed != 0:
    checks.positive_number("min_speed", min_speed)
  checks.positive_number("speed_window", speed_window)


class _Throughput:
  """Bytes per second over the last ``window`` seconds, from samples ``(time, bytes so
  far)`` taken at most every ``window / 32`` seconds."""

  def __init__(self, start: float, window: float):
    self.window = window
    self.samples = collections.deque([(start, 0)])

  def rate(self, now: float, n: int) -> Optional[float]:
    """The rate over the last window, ``None`` while less than a window has passed."""
    if now - self.samples[-1][0] >= self.window / 32:
      self.samples.append((now, n))
    while len(self.samples) > 1 and self.samples[1][0] <= now - self.window:
      self.samples.popleft()
    t0, n0 = self.samples[0]
    if now - t0 < self.window:
      return None
    return (n - n0) / (now - t0)


def _open(url: str, timeout: float, deadline_at: Optional[float]):
  """``urllib.request.urlopen(url)``, given up at ``deadline_at`` (``time.monotonic``).

  Connecting and reading the headers happen in a helper thread, so a server that
  trickles its headers (each read within ``timeout``) cannot outlast the deadline; an
  abandoned attempt closes its response when it finally returns.

  Returns:
    The response, or ``None`` when the deadline passed first.
  """
  if deadline_at is None:
    return urllib.request.urlopen(url, timeout=timeout)
  box, lock = {}, threading.Lock()

  def run():
    try:
      response = urllib.request.urlopen(url, timeout=timeout)
    except BaseException as e:  # handed to the caller
      with lock:
        box["error"] = e
      return
    with lock:
      if box.get("abandoned"):
        response.close()
      else:
        box["response"] = response

  worker = threading.Thread(target=run, name="jaxmeta-download-open", daemon=True)
  worker.start()
  outcome = (None, None)
  try:
    worker.join(max(0.0, deadline_at - time.monotonic()))
  finally:  # also on Ctrl-C: a response that arrives later is closed
    with lock:
      outcome = (box.get("error"), box.get("response"))
      box["abandoned"] = outcome == (None, None)
  error, response = outcome
  if error is not None:
    raise error
  return response


def fetch(url: str, dest: Path, sha256: str, size: Optional[int] = None, *,
          progress: bool = True, timeout: float = 60.0, deadline: Optional[float] = DEADLINE,
          min_speed: Optional[float] = MIN_SPEED, speed_window: float = SPEED_WINDOW) -> Path:
  """Downloads ``url`` to ``dest`` and verifies it.

  Args:
    url: where to fetch from.
    dest: final path; written only when the file is complete and verified.
    sha256: expected hex digest.
    size: expected size in bytes, if known.
    progress: show a progress bar on stderr.
    timeout: socket timeout in seconds, per read (a server that sends a byte now and then
      never reaches it: ``deadline`` and ``min_speed`` catch that).
    deadline: seconds the whole download may take, connecting included; ``None``: no
      limit. Checked as bytes arrive and while connecting, so a silent server can
      overrun it by at most ``timeout``.
    min_speed: the least throughput in bytes per second, averaged over the last
      ``speed_window`` seconds, checked once the first window has passed; ``None`` or 0:
      no limit.
    speed_window: seconds of the throughput average (and of the grace period before
      the first check).

  Returns:
    ``dest``.

  Raises:
    DownloadError: network failure, the deadline passed, the throughput fell below
      ``min_speed``, an HTML page instead of the file, a truncated file or a checksum
      mismatch; nothing is left under ``dest`` or in its directory.
    DownloadInterrupted: Ctrl-C (a ``KeyboardInterrupt``); the partial file is removed.
    ConfigError: a bad ``deadline``, ``min_speed`` or ``speed_window``.

  Example:
    >>> fetch("https://github.com/brendenlake/omniglot/raw/master/python/"
    ...       "images_background_small1.zip", Path("/tmp/d/images_background_small1.zip"),
    ...       "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4")  # doctest: +SKIP
  """
  from tqdm.auto import tqdm
  check_limits(deadline, min_speed, speed_window)
  dest = Path(dest)
  dest.parent.mkdir(parents=True, exist_ok=True)
  start = time.monotonic()
  deadline_at = None if deadline is None else start + deadline
  speed = _Throughput(start, speed_window)
  n = 0

  def too_late(now: float) -> DownloadError:
    return DownloadError(
        f"download of {url} exceeded the deadline of {deadline:g} s: {_size_text(n)} of "
        f"{_size_text(total) if total else 'an unknown size'} in {now - start:.1f} s; nothing "
        "was kept (the limit is the `deadline=` argument of fetch and download_omniglot)")

  fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
  total = size
  try:
    try:
      response = _open(url, timeout, deadline_at)
    except urllib.error.HTTPError as e:
      raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
      raise DownloadError(f"cannot download {url}: {getattr(e, 'reason', e)}") from e
    if response is None:
      raise too_late(time.monotonic())
    with response, os.fdopen(fd, "wb") as out:
      fd = None
      length = response.headers.get("Content-Length")
      length = int(length) if length and length.isdigit() else None
      total = length if length is not None else size
      kind = (response.headers.get("Content-Type") or "").lower()
      # read1: at most one system call, so the limits are checked as each packet arrives
      # (read(n) would wait for n bytes, one trickled byte at a time).
      read = getattr(response, "read1", None) or response.read
      h = hashlib.sha256()
      head = b""
      with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                file=sys.stderr) as bar:
        while True:
          try:
            block = read(_READ_SIZE)
          except (OSError, urllib.error.URLError) as e:
            raise DownloadError(f"download of {url} was interrupted after {n} bytes: {e}") from e
          if not block:
            break
          if len(head) < 64:
            head += block[:64]
          h.update(block)
          out.write(block)
          n += len(block)
          bar.update(len(block))
          now = time.monotonic()
          if deadline_at is not None and now > deadline_at:
            raise too_late(now)
          rate = speed.rate(now, n) if min_speed else None
          if rate is not None and rate < min_speed:
            raise DownloadError(
                f"download of {url} is too slow: {rate / 1e3:.2f} kB/s over the last "
                f"{speed_window:g} s, below the minimum of {min_speed / 1e3:g} kB/s "
                f"({_size_text(n)} in {now - start:.1f} s); nothing was kept (the limit is "
                "the `min_speed=` argument of fetch and download_omniglot)")
      out.flush()
      os.fsync(out.fileno())
    if "text/html" in kind or looks_like_html(head):
      raise DownloadError(f"{url} returned an HTML page, not {dest.name}: the download failed "
                          "(wrong URL, a login or quota page?)")
    if (size is not None and n != size) or (length is not None and n != length):
      expected = size if size is not None else length
      raise DownloadError(f"{url} gave {n} bytes, expected {expected}: the download is truncated "
                          "or not the registered file")
    if h.hexdigest() != sha256:
      raise DownloadError(f"{url} has sha256 {h.hexdigest()}, expected {sha256}: refusing it")
    os.replace(tmp, dest)
    return dest
  except KeyboardInterrupt as e:
    if isinstance(e, DownloadInterrupted):
      raise
    raise DownloadInterrupted(
        f"download of {dest.name} interrupted after {_size_text(n)}; the partial file was "
        "removed and nothing of it was kept: run the same command again to fetch it (files "
        "already downloaded and verified are kept)") from None
  finally:
    if fd is not None:
      os.close(fd)
    if os.path.exists(tmp):
      os.unlink(tmp)


def sha256_file(path: Path) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()
