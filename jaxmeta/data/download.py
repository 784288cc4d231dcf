"""Downloads that verify what they fetched.

:func:`fetch` streams a URL into a temporary file beside the destination, hashing as it
goes, with a progress bar; only a file of the expected size and sha256 is renamed to
the final name (``os.replace``), so an interrupted, truncated or wrong download (an
HTML error page, say) never sits under the final name.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from jaxmeta.errors import JaxmetaError


class DownloadError(JaxmetaError):
  """A download failed or did not match its registered checksum."""


def looks_like_html(head: bytes) -> bool:
  """Whether the first bytes of a file are an HTML (or XML) page: a download that returned
  an error or login page instead of the file."""
  h = head.lstrip().lower()
  return h.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in h[:512]


def fetch(url: str, dest: Path, sha256: str, size: Optional[int] = None, *,
          progress: bool = True, timeout: float = 60.0) -> Path:
  """Downloads ``url`` to ``dest`` and verifies it.

  Args:
    url: where to fetch from.
    dest: final path; written only when the file is complete and verified.
    sha256: expected hex digest.
    size: expected size in bytes, if known.
    progress: show a progress bar on stderr.
    timeout: socket timeout in seconds.

  Returns:
    ``dest``.

  Raises:
    DownloadError: network failure, an HTML page instead of the file, a truncated file
      or a checksum mismatch; nothing is left under ``dest`` or in its directory.

  Example:
    >>> fetch("https://github.com/brendenlake/omniglot/raw/master/python/"
    ...       "images_background_small1.zip", Path("/tmp/d/images_background_small1.zip"),
    ...       "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4")  # doctest: +SKIP
  """
  from tqdm.auto import tqdm
  dest = Path(dest)
  dest.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
  try:
    try:
      response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as e:
      raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
      raise DownloadError(f"cannot download {url}: {getattr(e, 'reason', e)}") from e
    with response, os.fdopen(fd, "wb") as out:
      fd = None
      total = response.headers.get("Content-Length")
      total = int(total) if total and total.isdigit() else size
      kind = (response.headers.get("Content-Type") or "").lower()
      h = hashlib.sha256()
      n = 0
      head = b""
      with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                file=sys.stderr) as bar:
        while True:
          try:
            block = response.read(1 << 16)
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
      out.flush()
      os.fsync(out.fileno())
    if "text/html" in kind or looks_like_html(head):
      raise DownloadError(f"{url} returned an HTML page, not {dest.name}: the download failed "
                          "(wrong URL, a login or quota page?)")
    if size is not None and n != size:
      raise DownloadError(f"{url} gave {n} bytes, expected {size}: the download is truncated "
                          "or not the registered file")
    if h.hexdigest() != sha256:
      raise DownloadError(f"{url} has sha256 {h.hexdigest()}, expected {sha256}: refusing it")
    os.replace(tmp, dest)
    return dest
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
