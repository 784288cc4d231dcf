"""mini-ImageNet (Vinyals et al. 2016; the Ravi & Larochelle 2017 split): 64 / 16 / 20 classes
of 600 84x84 colour images.

Two source formats users actually have, found in ``data_dir`` or ``data_dir/mini-imagenet``:

* the pickle caches ``mini-imagenet-cache-{train,validation,test}.pkl``: a dict with
  ``image_data`` uint8 ``(N, 84, 84, 3)`` and ``class_dict`` ``{class_name: [indices]}``.
  Pickles can run code when loaded, so they are read with a restricted unpickler that
  allows only numpy arrays, dicts, lists, strings and numbers; anything else is refused.
  An HTML page saved as ``.pkl`` (a failed download) is recognised and named as such;
* the split CSVs ``{train,val,test}.csv`` (``filename,label``) beside an image folder
  ``images/`` (resized to 84x84 on load).

Example:
  >>> splits = mini_imagenet_splits("~/data")  # doctest: +SKIP
  >>> splits["train"].images.shape  # doctest: +SKIP
  (64, 600, 84, 84, 3)
"""
from __future__ import annotations

import csv
import functools
import io
import pickle
from pathlib import Path

import numpy as np

from jaxmeta.data.download import looks_like_html
from jaxmeta.data.images import ImageClasses, group_by_class
from jaxmeta.errors import ConfigError, JaxmetaError

PICKLES = {"train": "mini-imagenet-cache-train.pkl", "val": "mini-imagenet-cache-validation.pkl",
           "test": "mini-imagenet-cache-test.pkl"}
CSVS = {"train": "train.csv", "val": "val.csv", "test": "test.csv"}
HTML_MESSAGE = "this is an HTML page, not a mini-ImageNet cache: the download failed"

# The only globals a mini-ImageNet cache needs: numpy array reconstruction.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # bytes in pickles written by Python 2
}


class _RestrictedUnpickler(pickle.Unpickler):
  def __init__(self, file, where):
    super().__init__(file, encoding="latin1")
    self.where = where

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return super().find_class(module, name)
    raise JaxmetaError(f"{self.where}: refusing to unpickle {module}.{name}; a mini-ImageNet cache "
                       "holds only numpy arrays, dicts, lists, strings and numbers (this file may "
                       "be malicious or not a mini-ImageNet cache)")


def load_pickle(path) -> ImageClasses:
  """One ``mini-imagenet-cache-*.pkl`` as :class:`ImageClasses` (restricted unpickling)."""
  path = Path(path)
  try:
    data = path.read_bytes()
  except OSError as e:
    raise JaxmetaError(f"cannot read {path}: {e.strerror}") from e
  if looks_like_html(data[:1024]):
    raise JaxmetaError(f"{path}: {HTML_MESSAGE}; delete it and download the cache again")
  try:
    obj = _RestrictedUnpickler(io.BytesIO(data), str(path)).load()
  except JaxmetaError:
    raise
  except Exception as e:  # truncated / not a pickle
    raise JaxmetaError(f"{path} is not a readable pickle ({type(e).__name__}: {e}); it is "
                       "corrupted or truncated") from e
  if not isinstance(obj, dict) or "image_data" not in obj or "class_dict" not in obj:
    raise JaxmetaError(f"{path} is not a mini-ImageNet cache (expected a dict with image_data and "
                       "class_dict)")
  images, class_dict = obj["image_data"], obj["class_dict"]
  if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[-1] != 3:
    raise JaxmetaError(f"{path}: image_data should be uint8 (N, H, W, 3), got "
                       f"{getattr(images, 'shape', type(images).__name__)}")
  if not isinstance(class_dict, dict) or not class_dict:
    raise JaxmetaError(f"{path}: class_dict should be a non-empty dict {{class_name: [indices]}}")
  names = sorted(class_dict)
  index = np.full(len(images), -1, np.int64)
  for c, name in enumerate(names):
    idx = np.asarray(class_dict[name], np.int64)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= len(images):
      raise JaxmetaError(f"{path}: class {name!r} has indices outside 0..{len(images) - 1}")
    index[idx] = c
  keep = index >= 0
  grouped, counts = group_by_class(images[keep], index[keep], len(names), np.uint8)
  return ImageClasses(grouped, counts, [str(n) for n in names], np.zeros(len(names), np.int32), ("",))


def load_csv(csv_path, images_dir, image_size: int = 84) -> ImageClasses:
  """A split CSV (``filename,label``) with its image folder, resized to ``image_size``."""
  from PIL import Image, UnidentifiedImageError
  csv_path, images_dir = Path(csv_path), Path(images_dir)
  try:
    with open(csv_path, newline="") as f:
      rows = list(csv.reader(f))
  except OSError as e:
    raise JaxmetaError(f"cannot read {csv_path}: {e.strerror}") from e
  if rows and [c.strip().lower() for c in rows[0][:2]] == ["filename", "label"]:
    rows = rows[1:]
  if not rows or any(len(r) < 2 for r in rows):
    raise JaxmetaError(f"{csv_path} should have lines 'filename,label'")
  names = sorted({r[1] for r in rows})
  label = {n: i for i, n in enumerate(names)}
  images = np.zeros((len(rows), image_size, image_size, 3), np.uint8)
  for i, (fname, _) in enumerate(r[:2] for r in rows):
    path = images_dir / fname
    try:
      with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (image_size, image_size):
          im = im.resize((image_size, image_size), resample=Image.LANCZOS)
        images[i] = np.asarray(im)
    except FileNotFoundError:
      raise JaxmetaError(f"{csv_path} names {fname}, which is not in {images_dir}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
      raise JaxmetaError(f"cannot decode image {path}: {e}") from e
  grouped, counts = group_by_class(images, np.asarray([label[r[1]] for r in rows]), len(names), np.uint8)
  return ImageClasses(grouped, counts, names, np.zeros(len(names), np.int32), ("",))


def _float(c: ImageClasses) -> ImageClasses:
  return c._replace(images=c.images.astype(np.float32) / np.float32(255))


def mini_imagenet_splits(data_dir, *, image_size: int = 84, dtype="float32") -> dict:
  """train / val / test :class:`ImageClasses` from pickles or CSVs in ``data_dir``.

  Args:
    data_dir: folder holding the pickles, or the CSVs and ``images/`` (also looked for
      in ``data_dir/mini-imagenet``).
    image_size: side for CSV images; the pickles are used as stored and must match.
    dtype: ``"float32"`` (values in [0, 1]) or ``"uint8"`` (4x less memory; the episode
      sampler converts after its gather).

  Raises:
    ConfigError: nothing found (saying where it looked), or splits sharing a class.
    JaxmetaError: a corrupted, malicious or HTML file (named).
  """
  data_dir = Path(data_dir).expanduser()
  stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns)
                for base in (data_dir, data_dir / "mini-imagenet")
                for f in sorted(base.glob("*")) if f.is_file()) if data_dir.is_dir() else ()
  return _splits(str(data_dir), image_size, dtype, stamp)


@functools.lru_cache(maxsize=2)
def _splits(data_dir, image_size, dtype, stamp) -> dict:
  """:func:`mini_imagenet_splits`, loaded once per process (keyed by the files' stats)."""
  del stamp
  data_dir = Path(data_dir)
  for base in (data_dir, data_dir / "mini-imagenet"):
    if all((base / p).is_file() for p in PICKLES.values()):
      out = {k: load_pickle(base / p) for k, p in PICKLES.items()}
      break
    if all((base / p).is_file() for p in CSVS.values()) and (base / "images").is_dir():
      out = {k: load_csv(base / p, base / "images", image_size) for k, p in CSVS.items()}
      break
  else:
    raise ConfigError("data_dir", f"no mini-ImageNet in {data_dir} or {data_dir / 'mini-imagenet'}: "
                      f"expected {', '.join(PICKLES.values())}, or {', '.join(CSVS.values())} "
                      "with an images/ folder")
  for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
    shared = set(out[a].names) & set(out[b].names)
    if shared:
      raise ConfigError("data_dir", f"the {a} and {b} splits share {len(shared)} classes "
                        f"(e.g. {sorted(shared)[0]}); the splits must not overlap")
  for k, v in out.items():
    if v.images.shape[2:4] != (image_size, image_size):
      raise ConfigError("image_size", f"the mini-ImageNet {k} cache holds {v.images.shape[2]}x"
                        f"{v.images.shape[3]} images; set image_size to {v.images.shape[2]}")
  if dtype == "float32":
    out = {k: _float(v) for k, v in out.items()}
  elif dtype != "uint8":
    raise ValueError(f"dtype must be float32 or uint8, got {dtype!r}")
  return out
