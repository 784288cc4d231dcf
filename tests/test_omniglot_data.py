"""Omniglot on the real small background sets: counts, splits, rotations, cache, bad input."""
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jaxmeta.data import images as image_lib
from jaxmeta.data import omniglot
from jaxmeta.errors import ConfigError, JaxmetaError

from data_paths import OMNIGLOT as DATA  # noqa: E402
pytestmark = pytest.mark.skipif(not (DATA / "images_background_small1.zip").exists(),
                                reason="shared Omniglot small sets not found")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def sources(cache):
  return [omniglot.load_source(DATA / f"{n}.zip", 28, cache) for n in omniglot.SMALL_SETS]


@pytest.fixture(scope="module")
def splits(sources, cache):
  return omniglot.omniglot_splits("small-sets", data_dir=str(DATA), cache_dir=str(cache))


def test_small_set_checksums_match_the_registered_ones():
  for name in omniglot.SMALL_SETS:
    size, digest = omniglot.OFFICIAL[name]
    path = DATA / f"{name}.zip"
    assert path.stat().st_size == size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_counts_and_union_removes_shared_alphabets(sources):
  small1, small2 = sources
  assert len(small1.names) == 136 and len(small2.names) == 156
  for src in sources:
    assert np.all(np.bincount(src.char_index) == 20)          # 20 drawers each
    assert src.images.shape[1:] == (28, 28) and src.images.dtype == np.uint8
  union = omniglot.to_classes(sources)
  assert union.num_classes == 242
  assert np.all(union.counts == 20)
  shared = set(small1.digests) & set(small2.digests)
  assert len(shared) == 24 + 26                                # Greek + Latin, byte for byte
  assert {n.split("/")[0] for n, d in zip(small1.names, small1.digests) if d in shared} == {"Greek", "Latin"}


def test_preprocessing_ink_is_one_float32(sources):
  union = omniglot.to_classes(sources)
  x = union.images
  assert x.dtype == np.float32 and x.shape == (242, 20, 28, 28, 1)
  assert x.min() == 0.0 and x.max() == 1.0
  # strokes are thin: most pixels are background (0), ink is the minority
  assert 0.02 < x.mean() < 0.3


def test_small_sets_protocol_disjoint_and_sized(splits):
  train, val, test = splits["train"], splits["val"], splits["test"]
  assert train.num_classes == 4 * 172 and val.num_classes == 20 and test.num_classes == 50
  base = lambda names: {n.split("/rot")[0] for n in names}
  assert len(base(train.names)) == 172
  assert not base(train.names) & set(val.names)
  assert not base(train.names) & set(test.names)
  assert not set(val.names) & set(test.names)
  assert not any("/rot" in n for n in val.names + test.names)  # rotations: train only


def test_rotations_are_distinct_classes(splits):
  train = splits["train"]
  n = 172
  for r in (1, 2, 3):
    rotated = train.images[r * n:(r + 1) * n]
    assert train.names[r * n].endswith(f"/rot{90 * r}")
    np.testing.assert_array_equal(rotated, np.rot90(train.images[:n], r, axes=(2, 3)))
    assert not np.array_equal(rotated, train.images[:n])
  # no two classes have identical first images
  first = train.images[:, 0].reshape(train.num_classes, -1)
  assert len({row.tobytes() for row in first}) == train.num_classes


def test_other_protocols(cache):
  kw = dict(data_dir=str(DATA), cache_dir=str(cache))
  lake_small = omniglot.omniglot_splits("lake-small", rotation="none", **kw)
  assert lake_small["train"].num_classes == 242 and lake_small["test"] is None
  held = omniglot.omniglot_splits("holdout:Korean", rotation="none", **kw)
  assert set(held["test"].alphabets[i] for i in held["test"].alphabet_ids) == {"Korean"}
  assert held["test"].num_classes == 40
  assert held["train"].num_classes == 242 - 40
  fold = omniglot.omniglot_splits("holdout:Korean,Latin", rotation="none", **kw)
  assert {fold["test"].alphabets[i] for i in fold["test"].alphabet_ids} == {"Korean", "Latin"}
  assert fold["test"].num_classes == 40 + 26 and fold["train"].num_classes == 242 - 66
  assert not set(fold["train"].names) & set(fold["test"].names)
  with pytest.raises(ConfigError, match="every alphabet"):
    omniglot.omniglot_splits("holdout:" + ",".join(held["train"].alphabets), rotation="none", **kw)
  rnd = omniglot.omniglot_splits("random:150,30,62", rotation="none", **kw)
  assert [rnd[k].num_classes for k in ("train", "val", "test")] == [150, 30, 62]
  assert len(set(rnd["train"].names) | set(rnd["val"].names) | set(rnd["test"].names)) == 242


def test_cache_is_used_and_rewritten_when_corrupt(cache, sources):
  files = sorted((cache / "omniglot").glob("*.npz"))
  assert len(files) == 2 and all(f"-{omniglot.OFFICIAL[n][1][:20]}-" in f.name
                                 for f, n in zip(files, omniglot.SMALL_SETS))
  files[0].write_bytes(b"garbage")
  again = omniglot.load_source(DATA / f"{omniglot.SMALL_SETS[0]}.zip", 28, cache)
  np.testing.assert_array_equal(again.images, sources[0].images)
  assert np.load(files[0])["images"].shape == sources[0].images.shape
  assert not list((cache / "omniglot").glob("*.tmp"))


def test_folder_source_matches_zip(tmp_path, sources):
  with zipfile.ZipFile(DATA / "images_background_small1.zip") as z:
    members = [m for m in z.namelist() if "/Korean/character0" in m]
    z.extractall(tmp_path, members)
  folder = omniglot.decode_source(tmp_path / "images_background_small1")
  small1 = sources[0]
  idx = [i for i, n in enumerate(small1.names) if n in folder.names]
  assert len(folder.names) == len(idx) == 9
  assert folder.digests == [small1.digests[i] for i in idx]


def test_missing_and_empty_data_dir_say_where_and_how(tmp_path):
  with pytest.raises(ConfigError, match="does not exist.*jaxmeta download omniglot"):
    omniglot.omniglot_splits("small-sets", data_dir=str(tmp_path / "nope"))
  with pytest.raises(ConfigError, match=f"no Omniglot .* in {tmp_path}.*jaxmeta download omniglot"):
    omniglot.omniglot_splits("small-sets", data_dir=str(tmp_path))


def test_corrupted_zip_and_png_name_the_file(tmp_path):
  bad = tmp_path / "images_background_small1.zip"
  bad.write_bytes((DATA / "images_background_small1.zip").read_bytes()[:50000])
  with pytest.raises(JaxmetaError, match="images_background_small1.zip"):
    omniglot.decode_source(bad)
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w") as z:
    z.writestr("images_background_small2/Greek/character01/0394_01.png", b"\x89PNG not really")
  bad2 = tmp_path / "images_background_small2.zip"
  bad2.write_bytes(buf.getvalue())
  with pytest.raises(JaxmetaError, match="Greek/character01/0394_01.png"):
    omniglot.decode_source(bad2)


def test_unknown_split_rotation_and_image_size():
  with pytest.raises(ConfigError, match="^split: "):
    omniglot.check_split("vinyals-ish")
  with pytest.raises(ConfigError, match="^split: "):
    omniglot.check_split("random:10,5")
  with pytest.raises(ConfigError, match="^rotation: "):
    omniglot.omniglot_splits("small-sets", data_dir=str(DATA), rotation="sideways")
  with pytest.raises(ConfigError, match="^image_size: "):
    omniglot.omniglot_splits("small-sets", data_dir=str(DATA), image_size=0)


def test_random_split_too_large(cache):
  with pytest.raises(ConfigError, match="need 1623 characters.*hold 242"):
    omniglot.omniglot_splits("maml", data_dir=str(DATA), cache_dir=str(cache))


def test_group_by_class_pads_and_counts():
  x = np.arange(5, dtype=np.float32)[:, None]
  grouped, counts = image_lib.group_by_class(x, np.array([1, 0, 1, 1, 0]), 3)
  assert counts.tolist() == [2, 3, 0]
  np.testing.assert_array_equal(grouped[:, :, 0], [[1, 4, 0], [0, 2, 3], [0, 0, 0]])


@pytest.mark.parametrize("flags,expected", [
    (["--split", "bogus"], "--split"),
    (["--rotation", "sideways"], "--rotation"),
    (["--image-size", "2"], "--image-size"),
    (["--data-source", "s3"], "--data-source"),
    (["--ways", "60", "--split", "holdout:Korean", "--rotation", "none"], "--ways"),
    (["--shots", "10", "--query", "15"], "--shots: shots 10 + query 15 = 25"),
    (["--eval-query", "100"], "--eval-shots: eval_shots 1 + eval_query 100"),
    (["--split", "holdout:Klingon"], "Klingon"),
    (["--split", "holdout:Korean,Klingon"], "Klingon"),
])
def test_cli_bad_input_exits_2_before_compiling(flags, expected, capsys, cache):
  from jaxmeta import cli
  base = ["train", "--task", "omniglot", "--model", "mlp", "--data-dir", str(DATA),
          "--cache-dir", str(cache), "--eval-query", "5", "--no-progress"]
  assert cli.main(base + flags) == 2
  err = capsys.readouterr().err
  assert err.startswith("jaxmeta: error:") and expected in err and err.count("\n") == 1


def test_cli_missing_data_dir_says_how_to_download(tmp_path, capsys):
  from jaxmeta import cli
  assert cli.main(["train", "--task", "omniglot", "--data-dir", str(tmp_path), "--no-progress"]) == 2
  err = capsys.readouterr().err
  assert str(tmp_path) in err and "jaxmeta download omniglot" in err and "--download" in err
