"""Class-indexed image arrays, the form every few-shot image dataset takes in jaxmeta.

A dataset is one dense array ``[num_classes, max_examples, H, W, C]`` plus per-class
counts, so that sampling an episode is a gather on the device (see
:mod:`jaxmeta.tasks.episodes`).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np


class ImageClasses(NamedTuple):
  """Images grouped by class.

  Attributes:
    images: float32 ``[num_classes, max_examples, H, W, C]``; slots past a class's count
      are zero and never sampled.
    counts: int32 ``[num_classes]``, valid examples per class.
    names: ``num_classes`` class names, ``"alphabet/character"`` for Omniglot
      (``"alphabet/character/rot90"`` for a rotated copy used as a new class).
    alphabet_ids: int32 ``[num_classes]``, index into ``alphabets`` (the super-class;
      for datasets without alphabets every class has id 0).
    alphabets: names of the alphabets.

  Example:
    >>> import numpy as np
    >>> c = ImageClasses(np.zeros((3, 20, 28, 28, 1), np.float32), np.full(3, 20, np.int32),
    ...                  ["A/c1", "A/c2", "B/c1"], np.array([0, 0, 1], np.int32), ("A", "B"))
    >>> c.num_classes
    3
  """
  images: np.ndarray
  counts: np.ndarray
  names: list
  alphabet_ids: np.ndarray
  alphabets: tuple = ()

  @property
  def num_classes(self) -> int:
    return int(self.images.shape[0])

  def subset(self, indices: Sequence[int]) -> "ImageClasses":
    """The classes at ``indices`` (in that order), keeping every alphabet name."""
    idx = np.asarray(indices, np.int64)
    return ImageClasses(self.images[idx], self.counts[idx], [self.names[i] for i in idx],
                        self.alphabet_ids[idx], self.alphabets)


def concat(parts: Sequence[ImageClasses]) -> ImageClasses:
  """Classes of several :class:`ImageClasses` side by side (alphabets merged by name)."""
  alphabets = []
  for p in parts:
    alphabets += [a for a in p.alphabets if a not in alphabets]
  m = max(p.images.shape[1] for p in parts)
  images, ids = [], []
  for p in parts:
    pad = m - p.images.shape[1]
    images.append(np.pad(p.images, [(0, 0), (0, pad)] + [(0, 0)] * (p.images.ndim - 2)))
    ids.append(np.array([alphabets.index(p.alphabets[i]) for i in p.alphabet_ids], np.int32)
               if p.alphabets else np.zeros(p.num_classes, np.int32))
  return ImageClasses(np.concatenate(images), np.concatenate([p.counts for p in parts]).astype(np.int32),
                      [n for p in parts for n in p.names], np.concatenate(ids), tuple(alphabets))


def rotations_as_classes(classes: ImageClasses, angles=(0, 90, 180, 270)) -> ImageClasses:
  """Every class rotated by each angle becomes its own class (Vinyals et al. 2016;
  ProtoNets; Reptile): ``len(angles) * num_classes`` classes, angle-major order."""
  parts = []
  for angle in angles:
    if angle % 90:
      raise ValueError(f"rotation angles must be multiples of 90, got {angle}")
    k = (angle // 90) % 4
    images = np.ascontiguousarray(np.rot90(classes.images, k, axes=(2, 3)))
    names = [n if angle == 0 else f"{n}/rot{angle}" for n in classes.names]
    parts.append(classes._replace(images=images, names=names))
  return concat(parts)


def group_by_class(images: np.ndarray, class_index: np.ndarray, num_classes: int,
                   dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
  """``[N, ...]`` examples with class ids -> (``[C, max_count, ...]`` zero-padded, counts)."""
  class_index = np.asarray(class_index)
  counts = np.bincount(class_index, minlength=num_classes).astype(np.int32)
  out = np.zeros((num_classes, int(counts.max()) if num_classes else 0) + images.shape[1:], dtype)
  order = np.argsort(class_index, kind="stable")
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  slot = np.arange(len(order)) - starts[class_index[order]]
  out[class_index[order], slot] = images[order]
  return out, counts
