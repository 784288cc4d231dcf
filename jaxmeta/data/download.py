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
from typing import Optional, Sequence

from jaxmeta.errors import JaxmetaError


class DownloadError(JaxmetaError):
  """A download failed or did not match its registered checksum."""


def _looks_like_html(head: bytes) -> bool:
  h = head.lstrip()[:64].lower()
  return h.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml"))


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
    if "text/html" in kind or _looks_like_html(head):
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


def download_omniglot(data_dir, names: Optional[Sequence[str]] = None, *,
                      base_url: Optional[str] = None, progress: bool = True) -> list[Path]:
  """Fetches the official Omniglot zips into ``data_dir/omniglot`` (sha256-verified).

  Args:
    data_dir: data root (the files go to ``data_dir/omniglot``).
    names: which of :data:`jaxmeta.data.omniglot.OFFICIAL` (default: all four).
    base_url: where the files are (default the official GitHub location, or
      ``$JAXMETA_OMNIGLOT_URL``).
    progress: progress bars.

  Returns:
    The paths of the files, already present and verified or downloaded.
  """
  from jaxmeta.data.omniglot import OFFICIAL, URL, sha256_file
  base_url = base_url or os.environ.get("JAXMETA_OMNIGLOT_URL") or URL
  if not base_url.endswith("/"):
    base_url += "/"
  names = list(OFFICIAL) if names is None else list(names)
  out = []
  for name in names:
    if name not in OFFICIAL:
      raise JaxmetaError(f"unknown Omniglot file {name!r}; choose from {', '.join(OFFICIAL)}")
    size, digest = OFFICIAL[name]
    dest = Path(data_dir) / "omniglot" / f"{name}.zip"
    if dest.is_file() and dest.stat().st_size == size and sha256_file(dest) == digest:
      out.append(dest)
      continue
    out.append(fetch(base_url + f"{name}.zip", dest, digest, size, progress=progress))
  return out
