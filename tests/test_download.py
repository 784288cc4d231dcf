"""Downloads against a local HTTP server on 127.0.0.1: the real file, a truncated one, an HTML page."""
import http.server
import threading
from pathlib import Path

import pytest

from jaxmeta import cli
from jaxmeta.data import download, omniglot

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
      if self.path not in routes:
        self.send_error(404)
        return
      body, kind = routes[self.path]
      self.send_response(200)
      self.send_header("Content-Type", kind)
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      self.wfile.write(body)

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
