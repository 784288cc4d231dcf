"""mini-ImageNet on small synthetic files of both formats, and a malicious pickle."""
import os
import pickle

import jax
import numpy as np
import pytest
from PIL import Image

from jaxmeta.data import mini_imagenet as mi
from jaxmeta.errors import ConfigError, JaxmetaError
from jaxmeta.tasks.episodes import few_shot_task


def _cache(classes, per_class=4, size=84, seed=0):
  rng = np.random.default_rng(seed)
  n = len(classes) * per_class
  images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
  order = rng.permutation(n)
  class_dict = {c: sorted(order[i * per_class:(i + 1) * per_class].tolist()) for i, c in enumerate(classes)}
  return {"image_data": images, "class_dict": class_dict}


def _write_pickles(folder, splits=None):
  folder.mkdir(parents=True, exist_ok=True)
  splits = splits or {"train": ["n01", "n02", "n03"], "val": ["n04", "n05"], "test": ["n06", "n07"]}
  caches = {}
  for k, f in mi.PICKLES.items():
    caches[k] = _cache(splits[k], seed=len(k))
    with open(folder / f, "wb") as fh:
      pickle.dump(caches[k], fh, protocol=2)
  return caches


def test_pickle_format(tmp_path):
  caches = _write_pickles(tmp_path)
  splits = mi.mini_imagenet_splits(tmp_path)
  train = splits["train"]
  assert train.images.shape == (3, 4, 84, 84, 3) and train.images.dtype == np.float32
  assert train.names == ["n01", "n02", "n03"] and train.counts.tolist() == [4, 4, 4]
  raw = caches["train"]
  for c, name in enumerate(train.names):
    expected = raw["image_data"][raw["class_dict"][name]].astype(np.float32) / 255
    np.testing.assert_allclose(np.sort(train.images[c].reshape(4, -1), axis=0),
                               np.sort(expected.reshape(4, -1), axis=0))
  as_u8 = mi.mini_imagenet_splits(tmp_path, dtype="uint8")["test"]
  task = few_shot_task(as_u8, ways=2, shots=1, query=3)
  ep = task.sample(jax.random.key(0))
  assert ep.support_x.shape == (2, 84, 84, 3) and ep.support_x.dtype == np.float32
  assert float(ep.support_x.max()) <= 1.0


def test_csv_format(tmp_path):
  (tmp_path / "images").mkdir()
  rng = np.random.default_rng(0)
  for split, classes in (("train", ["a", "b"]), ("val", ["c"]), ("test", ["d", "e"])):
    lines = ["filename,label"]
    for c in classes:
      for i in range(3):
        name = f"{c}{i:04d}.jpg"
        Image.fromarray(rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)).save(tmp_path / "images" / name)
        lines.append(f"{name},{c}")
    (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
  splits = mi.mini_imagenet_splits(tmp_path, image_size=84)
  assert splits["train"].images.shape == (2, 3, 84, 84, 3)
  assert splits["test"].names == ["d", "e"] and splits["val"].counts.tolist() == [3]
  (tmp_path / "images" / "d0001.jpg").write_bytes(b"not a jpeg")
  mi._splits.cache_clear()  # loaded once per process; an image changed in place is not noticed
  with pytest.raises(JaxmetaError, match="d0001.jpg"):
    mi.mini_imagenet_splits(tmp_path)


class _Evil:
  def __reduce__(self):
    return (os.system, ("echo pwned > /tmp/jaxmeta-pwned",))


def test_malicious_pickle_is_refused(tmp_path):
  _write_pickles(tmp_path)
  evil = {"image_data": np.zeros((1, 84, 84, 3), np.uint8), "class_dict": {"x": [0]}, "x": _Evil()}
  (tmp_path / mi.PICKLES["train"]).write_bytes(pickle.dumps(evil))
  with pytest.raises(JaxmetaError, match="refusing to unpickle (posix|os|nt).system"):
    mi.mini_imagenet_splits(tmp_path)
  assert not os.path.exists("/tmp/jaxmeta-pwned")


def test_html_page_saved_as_pkl(tmp_path):
  _write_pickles(tmp_path)
  (tmp_path / mi.PICKLES["val"]).write_bytes(b"\n<!DOCTYPE html>\n<html><head><title>Google Drive</title>")
  with pytest.raises(JaxmetaError, match="this is an HTML page, not a mini-ImageNet cache: the download failed"):
    mi.mini_imagenet_splits(tmp_path)


def test_bad_files(tmp_path):
  with pytest.raises(ConfigError, match="no mini-ImageNet in"):
    mi.mini_imagenet_splits(tmp_path)
  _write_pickles(tmp_path)
  good = (tmp_path / mi.PICKLES["test"]).read_bytes()
  (tmp_path / mi.PICKLES["test"]).write_bytes(good[:len(good) // 2])
  with pytest.raises(JaxmetaError, match="mini-imagenet-cache-test.pkl is not a readable pickle"):
    mi.mini_imagenet_splits(tmp_path)
  (tmp_path / mi.PICKLES["test"]).write_bytes(pickle.dumps([1, 2, 3]))
  with pytest.raises(JaxmetaError, match="not a mini-ImageNet cache"):
    mi.mini_imagenet_splits(tmp_path)


def test_overlapping_splits_are_refused(tmp_path):
  _write_pickles(tmp_path, {"train": ["n01", "n02"], "val": ["n03"], "test": ["n02", "n04"]})
  with pytest.raises(ConfigError, match="train and test splits share 1 classes"):
    mi.mini_imagenet_splits(tmp_path)


def test_registered_task(tmp_path):
  from jaxmeta import registry
  from jaxmeta.config import Config, validate
  _write_pickles(tmp_path, {"train": ["n01", "n02", "n03"], "val": ["n04", "n05"],
                            "test": ["n06", "n07", "n08"]})
  config = validate(Config(task="mini-imagenet", model="mlp", ways=3, shots=1, query=2,
                           eval_shots=1, eval_query=3, image_size=84, rotation="none",
                           data_dir=str(tmp_path)), **registry.names())
  task = registry.build_task(config, "train")
  ep = jax.jit(task.sample)(jax.random.key(0))
  assert ep.support_x.shape == (3, 84, 84, 3) and ep.query_y.shape == (6,)
  assert registry.build_task(config, "test", for_eval=True).output_size == 3
  with pytest.raises(ConfigError, match="^image_size: .*set image_size to 84"):
    registry.build_task(config.replace(image_size=28), "train")
  with pytest.raises(ConfigError, match="^eval_shots: eval_shots 1 \\+ eval_query 4"):
    registry.build_task(config.replace(eval_query=4), "train")
  with pytest.raises(ConfigError, match="^ways: .*4-way.*3"):
    registry.build_task(config.replace(ways=4), "test", for_eval=True)
