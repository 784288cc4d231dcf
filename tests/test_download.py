"""Downloads against a local HTTP server on 127.0.0.1: the real file, a truncated one, an HTML
page, a server that trickles the file or its headers, Ctrl-C."""
import http.client
import http.server
import threading
import time
from pathlib import Path

import pytest

from jaxmeta import cli
from jaxmeta.data import download, omniglot
from jaxmeta.errors import ConfigError

from data_paths import OMNIGLOT as DATA  # noqa: E402
SMALL1, SMALL2 = omniglot.SMALL_SETS
pytestmark = pytest.mark.skipif(not (DATA / f"{SMALL1}.zip").exists(), reason="no shared data")


@pytest.fixture(scope="module")
def server():
  real = (DATA / f"{SMALL1}.zip").read_bytes()
  routes = {
      f"/good/{SMALL1}.zip": (real, "application/zip"),
      f"/good/{SMALL2}.zip": ((DATA / f"{SMALL2}.zip").read_bytes(), "application/zip"),
      f"/half/{SMALL1}.zip": (real, "application/zip"),
      f"/truncated/{SMALL1}.zip": (real[:len(real) // 3], "application/zip"),
      f"/html/{SMALL1}.zip": (b"<!DOCTYPE html><html><body>Quota exceeded</body></html>", "text/html"),
      f"/html-as-zip/{SMALL1}.zip": (b"<html><body>Sign in</body></html>", "application/octet-stream"),
  }

  class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
      try:
        if self.path == f"/trickle/{SMALL1}.zip":  # all headers, then one byte every 50 ms
          self.send_response(200)
          self.send_header("Content-Type", "application/zip")
          self.send_header("Content-Length", str(len(real)))
          self.end_headers()
          for i in range(200):                      # gives up after 10 s
            self.wfile.write(real[i:i + 1])
            time.sleep(0.05)
          return
        if self.path == f"/slow-headers/{SMALL1}.zip":  # the status line after 3 s
          time.sleep(3.0)
        if self.path not in routes:
          self.send_error(404)
          return
        body, kind = routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
      # The client gave up, as it should (a test's Ctrl-C, a timeout). Uncaught here, the
      # server thread would print the traceback into the stderr a CLI test is reading.
      except (BrokenPipeError, ConnectionResetError):
        return

    def log_message(self, *args):
      pass

  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield f"http://127.0.0.1:{httpd.server_address[1]}"
  httpd.shutdown()
  httpd.server_close()


def test_real_file_verified_and_atomic(server, tmp_path):
  paths = omniglot.download_omniglot(tmp_path, [SMALL1], base_url=server + "/good", progress=False)
  dest = tmp_path / "omniglot" / f"{SMALL1}.zip"
  assert paths == [dest] and dest.read_bytes() == (DATA / f"{SMALL1}.zip").read_bytes()
  assert sorted(p.name for p in dest.parent.iterdir()) == [f"{SMALL1}.zip"]  # no temp files left
  # already there and verified: not fetched again (the server would 404 here)
  assert omniglot.download_omniglot(tmp_path, [SMALL1], base_url=server + "/nothing",
                                    progress=False) == [dest]
  # and the loader finds it under data_dir/omniglot
  assert omniglot.find_sources(tmp_path) == {SMALL1: dest}


@pytest.mark.parametrize("route,message", [("truncated", "truncated"), ("html", "HTML page"),
                                           ("html-as-zip", "HTML page"),
                                           ("missing", "cannot download")])
def test_bad_downloads_refused_and_nothing_left(server, tmp_path, route, message):
  with pytest.raises(download.DownloadError, match=message):
    omniglot.download_omniglot(tmp_path, [SMALL1], base_url=f"{server}/{route}", progress=False)
  folder = tmp_path / "omniglot"
  assert not folder.exists() or list(folder.iterdir()) == []


def test_checksum_mismatch_refused(server, tmp_path):
  dest = tmp_path / "x.zip"
  with pytest.raises(download.DownloadError, match="sha256 .* expected 00"):
    download.fetch(f"{server}/good/{SMALL1}.zip", dest, "00" * 32, progress=False)
  assert list(tmp_path.iterdir()) == []


def test_cli_download_and_train_with_download_flag(server, tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("JAXMETA_OMNIGLOT_URL", server + "/truncated")
  assert cli.main(["download", "omniglot-small", "--data-dir", str(tmp_path), "--no-progress"]) == 2
  assert "truncated" in capsys.readouterr().err
  assert cli.main(["download", "omniglot-small", "--data-dir", str(tmp_path), "--no-progress",
                   "--url", server + "/half"]) == 2  # small2 is not served: clear error, exit 2
  err = capsys.readouterr().err
  assert f"{SMALL2}.zip: HTTP 404" in err
  assert [p.name for p in (tmp_path / "omniglot").iterdir()] == [f"{SMALL1}.zip"]
  assert cli.main(["download", "cifar", "--data-dir", str(tmp_path)]) == 2
  # first use with --download fetches what is missing, then loads
  monkeypatch.setenv("JAXMETA_OMNIGLOT_URL", server + "/good")
  splits = omniglot.omniglot_splits("small-sets", data_dir=str(tmp_path / "fresh"),
                                    cache_dir=str(tmp_path / "cache"), download=True)
  assert splits["test"].num_classes == 50
  assert sorted(p.name for p in (tmp_path / "fresh" / "omniglot").iterdir()) == [
      f"{SMALL1}.zip", f"{SMALL2}.zip"]


def _assert_nothing_left(folder):
  assert not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.parametrize("route,limits,message", [
    ("trickle", dict(deadline=1.0, min_speed=None), r"exceeded the deadline of 1 s: \d+ bytes "
     r"of \d\.\d\d MB in [12]\.\d s"),
    ("trickle", dict(deadline=None, min_speed=1000, speed_window=0.5),
     r"too slow: 0.0\d kB/s over the last 0.5 s, below the minimum of 1 kB/s "
     r"\(\d+ bytes in [01]\.\d s\)"),
    ("slow-headers", dict(deadline=0.5),
     r"exceeded the deadline of 0.5 s: 0 bytes of 1.32 MB in 0\.\d s"),
])
def test_slow_server_abandoned_and_nothing_left(server, tmp_path, route, limits, message):
  """A server that sends a byte every 50 ms (each read well within the socket timeout), or
  its headers only after 3 s, is given up at the deadline or when the throughput over the
  window falls below the minimum; the partial file is removed."""
  start = time.monotonic()
  with pytest.raises(download.DownloadError, match=message):
    omniglot.download_omniglot(tmp_path, [SMALL1], base_url=f"{server}/{route}", progress=False,
                               **limits)
  assert time.monotonic() - start < 2.5
  _assert_nothing_left(tmp_path / "omniglot")


def test_fetch_limits_default_and_fast_download_unaffected(server, tmp_path):
  assert (download.DEADLINE, download.MIN_SPEED, download.SPEED_WINDOW) == (1800.0, 10_000.0, 30.0)
  dest = tmp_path / "x.zip"
  size, digest = omniglot.OFFICIAL[SMALL1]
  # limits that a local transfer passes easily
  assert download.fetch(f"{server}/good/{SMALL1}.zip", dest, digest, size, progress=False,
                        deadline=30.0, min_speed=1000, speed_window=0.01) == dest
  assert dest.read_bytes() == (DATA / f"{SMALL1}.zip").read_bytes()


@pytest.mark.parametrize("limits,parameter", [
    (dict(deadline=0), "deadline"), (dict(deadline=float("inf")), "deadline"),
    (dict(min_speed=-1.0), "min_speed"), (dict(min_speed="fast"), "min_speed"),
    (dict(speed_window=0.0), "speed_window"),
])
def test_bad_limits_refused_before_connecting(tmp_path, limits, parameter):
  with pytest.raises(ConfigError) as e:
    omniglot.download_omniglot(tmp_path, [SMALL1], base_url="http://127.0.0.1:9/none",
                               progress=False, **limits)
  assert e.value.parameter == parameter
  _assert_nothing_left(tmp_path / "omniglot")


@pytest.fixture
def interrupt_after_first_block(monkeypatch):
  """Ctrl-C in the middle of reading the body: the first read returns data, the second
  raises KeyboardInterrupt."""
  real_read1 = http.client.HTTPResponse.read1
  calls = []

  def read1(self, n=-1):
    calls.append(n)
    if len(calls) > 1:
      raise KeyboardInterrupt
    return real_read1(self, min(n, 1000))

  monkeypatch.setattr(http.client.HTTPResponse, "read1", read1)
  return calls


def test_ctrl_c_removes_partial_file(server, tmp_path, interrupt_after_first_block):
  with pytest.raises(download.DownloadInterrupted) as e:
    omniglot.download_omniglot(tmp_path, [SMALL1], base_url=server + "/good", progress=False)
  assert isinstance(e.value, download.DownloadError) and isinstance(e.value, KeyboardInterrupt)
  assert str(e.value) == (
      f"download of {SMALL1}.zip interrupted after 1000 bytes; the partial file was removed and "
      "nothing of it was kept: run the same command again to fetch it (files already downloaded "
      "and verified are kept)")
  assert len(interrupt_after_first_block) == 2
  _assert_nothing_left(tmp_path / "omniglot")


def test_cli_ctrl_c_during_download_says_what_was_kept(server, tmp_path, capsys,
                                                       interrupt_after_first_block):
  code = cli.main(["download", "omniglot-small", "--data-dir", str(tmp_path), "--no-progress",
                   "--url", server + "/good"])
  err = capsys.readouterr().err
  assert code == 2 and err.count("\n") == 1, err
  assert "interrupted after 1000 bytes; the partial file was removed" in err
  assert "checkpoint" not in err
  _assert_nothing_left(tmp_path / "omniglot")
