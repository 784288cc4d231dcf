"""The TFDS source (tfds.data_source, no TensorFlow), tested with tfds.testing.mock_data."""
import numpy as np
import pytest

from jaxmeta.data import omniglot

tfds = pytest.importorskip("tensorflow_datasets")


def test_tfds_source_with_mock_data():
  with tfds.testing.mock_data(num_examples=30):
    decoded = omniglot.load_tfds_source("images_background_small1", image_size=28)
    source = tfds.data_source("omniglot", split="small1")
    raw = [source[i] for i in range(len(source))]
  assert decoded.images.shape == (30, 28, 28) and decoded.images.dtype == np.uint8
  # every example is kept, grouped by (alphabet, character) with one name per group
  keys = sorted({(int(ex["alphabet"]), int(ex["alphabet_char_id"])) for ex in raw})
  assert len(decoded.names) == len(keys) == len(decoded.digests)
  assert np.all(np.diff(decoded.char_index) >= 0)
  assert sorted(np.bincount(decoded.char_index).tolist()) == sorted(
      [sum((int(e["alphabet"]), int(e["alphabet_char_id"])) == k for e in raw) for k in keys])
  assert all(n.count("/") == 1 and "/character" in n for n in decoded.names)
  # the same preprocessing as the files: first example of the first group
  first = next(e for e in raw if (int(e["alphabet"]), int(e["alphabet_char_id"])) == keys[0])
  expected = omniglot.preprocess(_png(np.asarray(first["image"])[..., 0]), 28, "mock")
  group0 = decoded.images[decoded.char_index == 0]
  assert any(np.array_equal(expected, g) for g in group0)
  classes = omniglot.to_classes([decoded, decoded])  # a duplicate source adds nothing
  assert classes.num_classes == len(keys) and classes.counts.sum() == 30


def _png(array):
  import io
  from PIL import Image
  buf = io.BytesIO()
  Image.fromarray(array, "L").save(buf, format="PNG")
  return buf.getvalue()


def test_tfds_splits_through_the_protocols():
  with tfds.testing.mock_data(num_examples=40):
    splits = omniglot.omniglot_splits("random:5,2,3", source="tfds", rotation="classes")
  assert [splits[k].num_classes for k in ("train", "val", "test")] == [20, 2, 3]
  names = lambda k: {n.split("/rot")[0] for n in splits[k].names}
  assert not names("train") & names("test") and not names("val") & names("test")
