"""The Lake et al. (2015) one-shot classification benchmark: 20 within-alphabet 20-way runs.

The official ``all_runs.zip`` (or its extracted folder) holds ``run01`` ... ``run20``;
each has ``training/class01.png`` ... ``class20.png`` (one image per class),
``test/item01.png`` ... ``item20.png`` and ``class_labels.txt``, whose lines
``runNN/test/itemMM.png runNN/training/classKK.png`` give each test item's true class.
A run's error is the percentage of its test items whose best-scoring training image is
not their class; the benchmark figure is the mean over the runs. Published: people
4.5 %, BPL 3.3 %, Siamese convnet 8.0 %, Modified Hausdorff Distance 38.8 %.

Scorers:
  * :func:`score_mhd`: the Modified Hausdorff Distance baseline (Dubuisson & Jain 1994)
    between the centred ink-pixel coordinates of two images; each test item gets the
    training class at the smallest distance.
  * a trained jaxmeta run (:func:`jaxmeta.experiment.score_lake_runs`, ``jaxmeta
    eval-lake``): per Lake run one :class:`~jaxmeta.types.Episode` (:func:`run_episodes`:
    support = the training images with labels ``0..N-1``, query = the test items with
    their true labels), scored by ``algo.evaluate(params, episode, steps, key)[-1]``: gradient-based learners adapt on the
    support set, metric-based ones compare with their own similarity. Images are
    preprocessed exactly as in training (:func:`jaxmeta.data.omniglot.preprocess`).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxmeta.errors import ConfigError, JaxmetaError

_FILE_RE = re.compile(r"(?:^|/)(run\d+)/(training|test)/((?:class|item)\d+\.png)$", re.IGNORECASE)
_LABELS_RE = re.compile(r"(?:^|/)(run\d+)/class_labels\.txt$", re.IGNORECASE)


class LakeRun(NamedTuple):
  """One run: PNG bytes of the training images (one per class, in class order) and of
  the test items (in item order), and each test item's true class index."""
  name: str
  train_png: list
  test_png: list
  labels: np.ndarray


def _read_all(path: Path) -> dict[str, bytes]:
  """Relevant files of a zip or folder, keyed by their ``runNN/...`` relative name."""
  path = Path(path)
  out = {}
  if path.is_file():
    try:
      with zipfile.ZipFile(path) as z:
        for info in z.infolist():
          m = _FILE_RE.search(info.filename) or _LABELS_RE.search(info.filename)
          if m and not info.is_dir():
            key = info.filename[m.start():].lstrip("/")
            out[key] = z.read(info)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
      raise JaxmetaError(f"{path} is not a readable zip file ({e}); it is corrupted or truncated") from e
  elif path.is_dir():
    for f in path.rglob("*"):
      rel = f.relative_to(path).as_posix()
      m = _FILE_RE.search(rel) or _LABELS_RE.search(rel)
      if m and f.is_file():
        out[rel[m.start():].lstrip("/")] = f.read_bytes()
  else:
    raise ConfigError("runs", f"{path} does not exist; it should be all_runs.zip from "
                      "https://github.com/brendenlake/omniglot (python/one-shot-classification) "
                      "or its extracted folder")
  return out


def load_runs(path) -> list[LakeRun]:
  """Reads the runs of ``all_runs.zip`` or its folder, checking every file is there.

  Raises:
    ConfigError: no runs found. JaxmetaError: a run misses images or has a malformed
      ``class_labels.txt`` (named).
  """
  files = _read_all(Path(path))
  run_names = sorted({k.split("/")[0] for k in files}, key=lambda r: int(r[3:]))
  if not run_names:
    raise ConfigError("runs", f"{path} holds no Lake runs (runNN/training/classKK.png, "
                      "runNN/test/itemMM.png, runNN/class_labels.txt)")
  runs = []
  for run in run_names:
    mine = {k[len(run) + 1:]: v for k, v in files.items() if k.split("/")[0] == run}
    train = sorted((k for k in mine if k.startswith("training/")), key=lambda k: int(re.findall(r"\d+", k)[-1]))
    test = sorted((k for k in mine if k.startswith("test/")), key=lambda k: int(re.findall(r"\d+", k)[-1]))
    if "class_labels.txt" not in mine or not train or len(test) == 0:
      raise JaxmetaError(f"{path}: {run} is incomplete (needs training/class*.png, test/item*.png "
                         "and class_labels.txt)")
    index = {Path(k).name: i for i, k in enumerate(train)}
    item_index = {Path(k).name: i for i, k in enumerate(test)}
    labels = np.full(len(test), -1, np.int32)
    for n, line in enumerate(mine["class_labels.txt"].decode("utf-8", "replace").splitlines(), 1):
      if not line.strip():
        continue
      parts = line.split()
      try:
        item, cls = Path(parts[0]).name, Path(parts[1]).name
        labels[item_index[item]] = index[cls]
      except (IndexError, KeyError):
        raise JaxmetaError(f"{path}: {run}/class_labels.txt line {n} is not "
                           f"'runNN/test/itemMM.png runNN/training/classKK.png': {line!r}") from None
    if (labels < 0).any():
      raise JaxmetaError(f"{path}: {run}/class_labels.txt gives no class for "
                         f"{[test[i] for i in np.flatnonzero(labels < 0)]}")
    runs.append(LakeRun(run, [mine[k] for k in train], [mine[k] for k in test], labels))
  return runs


def ink_points(png: bytes, where: str = "image") -> np.ndarray:
  """``[n, 2]`` float coordinates of the ink pixels of a binary PNG, centred on their mean."""
  import io
  from PIL import Image, UnidentifiedImageError
  try:
    with Image.open(io.BytesIO(png)) as im:
      ink = np.asarray(im.convert("L")) < 128
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise JaxmetaError(f"cannot decode {where}: {e}") from e
  points = np.argwhere(ink).astype(np.float64)
  if len(points) == 0:
    raise JaxmetaError(f"{where} has no ink")
  return points - points.mean(axis=0)


def modified_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
  """``max(mean_a min_b |a-b|, mean_b min_a |a-b|)`` (Dubuisson & Jain 1994)."""
  from scipy.spatial.distance import cdist  # scipy is a dependency of jax
  d = cdist(a, b)
  return float(max(d.min(axis=1).mean(), d.min(axis=0).mean()))


def score_mhd(runs: list[LakeRun]) -> np.ndarray:
  """Percent error of each run with the Modified Hausdorff Distance nearest neighbour."""
  errors = []
  for run in runs:
    train = [ink_points(p, f"{run.name}/training/{i + 1}") for i, p in enumerate(run.train_png)]
    test = [ink_points(p, f"{run.name}/test/{i + 1}") for i, p in enumerate(run.test_png)]
    cost = np.array([[modified_hausdorff(t, c) for c in train] for t in test])
    errors.append(100.0 * np.mean(cost.argmin(axis=1) != run.labels))
  return np.asarray(errors)


def run_episodes(runs: list[LakeRun], image_size: int):
  """A batch of :class:`~jaxmeta.types.Episode`, one per run, preprocessed as in training."""
  from jaxmeta.data.omniglot import preprocess
  from jaxmeta.types import Episode
  ways = {len(r.train_png) for r in runs}
  queries = {len(r.test_png) for r in runs}
  if len(ways) != 1 or len(queries) != 1:
    raise JaxmetaError(f"runs have different numbers of classes {sorted(ways)} or items {sorted(queries)}")
  prep = lambda pngs, run, kind: np.stack(
      [preprocess(p, image_size, f"{run}/{kind}/{i + 1}") for i, p in enumerate(pngs)])
  sx = np.stack([prep(r.train_png, r.name, "training") for r in runs])
  qx = np.stack([prep(r.test_png, r.name, "test") for r in runs])
  to_float = lambda x: x[..., None].astype(np.float32) / np.float32(255)
  n = ways.pop()
  return Episode(to_float(sx), np.tile(np.arange(n, dtype=np.int32), (len(runs), 1)),
                 to_float(qx), np.stack([r.labels for r in runs]).astype(np.int32))
