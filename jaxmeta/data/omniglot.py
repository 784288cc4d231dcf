"""Omniglot (Lake et al. 2015): sources, preprocessing, cache, class definitions, splits.

Sources, one loader
  The official zips ``images_background.zip`` (30 alphabets, 964 characters),
  ``images_evaluation.zip`` (20 alphabets, 659), ``images_background_small1.zip`` (5
  alphabets, 136) and ``images_background_small2.zip`` (5 alphabets, 156), or their
  extracted folders (``NAME/ALPHABET/characterNN/*.png``), found in ``data_dir`` or
  ``data_dir/omniglot``; or TFDS's prepared ``omniglot`` (``source="tfds"``, read with
  ``tfds.data_source``, no TensorFlow needed). Every character has 20 drawings (drawers).

Preprocessing (as the papers do it)
  105x105 binary PNG -> grey -> resize to ``image_size`` (28 by default) with Lanczos
  antialiasing -> ink = 1.0, background = 0.0, float32 ``[H, W, 1]``. The decoded pixels
  of each source are cached as one compressed ``.npz`` under ``cache_dir/omniglot``
  named by the source's sha256 and the image size, written atomically, so a second run
  decodes nothing. Inside one process decoded splits are kept in a small LRU.

Classes
  A character is a class, named ``"alphabet/characterNN"``. Sources are united with
  duplicates removed by content (a character's identity is the sha256 of its PNG bytes):
  the two small sets share Greek (24) and Latin (26) byte for byte, so 136 + 156 = 292
  characters are 242 unique ones. ``rotation``:

  * ``"classes"``: 0/90/180/270-degree rotations of each TRAIN character are new classes
    (Vinyals et al. 2016; ProtoNets; Reptile) — validation and test classes are not
    rotated;
  * ``"per-task"``: one random rotation per class per episode (the MAML code), done by
    the sampler in :mod:`jaxmeta.tasks.episodes`;
  * ``"none"``.

Split protocols (``split``; the class lists are fixed by :data:`SPLIT_SEED`, not by the
run's seed)

  * ``"small-sets"`` (default): the 242 unique characters of the two small background
    sets, a seeded random character split 172 train / 20 val / 50 test; with rotations
    as classes 688 train classes. Test characters are never seen in training.
  * ``"lake-small"``: all 242 characters of both small sets for training (for presets
    that train on everything and are scored with ``jaxmeta eval-lake``); val/test are the
    evaluation alphabets when ``images_evaluation`` is present, else an error.
  * ``"holdout:ALPHABET"`` (e.g. ``"holdout:Korean"``): train on the small sets' other
    alphabets, val = test = every character of ALPHABET (use ``within_alphabet`` for a
    within-alphabet 20-way test). Several alphabets, comma-separated
    (``"holdout:Korean,Latin"``), hold all of them out: one fold of a k-fold over the
    alphabets (``benchmarks/lake_folds.py``).
  * ``"lake"``: Lake's split, train = ``images_background``, val = test =
    ``images_evaluation``.
  * ``"random:TRAIN,VAL,TEST"``: a seeded random character split with those sizes over
    every character found (the union of all sources); ``"maml"`` is ``random:1100,100,423``
    and ``"reptile"`` is ``random:1200,0,423`` (both need the two full sets, 1623 characters).

Example:
  >>> splits = omniglot_splits("small-sets", data_dir="/work/shared/data/omniglot")  # doctest: +SKIP
  >>> splits["train"].images.shape, splits["test"].num_classes  # doctest: +SKIP
  ((688, 20, 28, 28, 1), 50)
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import zipfile
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np

from jaxmeta import checks, options
from jaxmeta.data.download import (DEADLINE, MIN_SPEED, SPEED_WINDOW, DownloadInterrupted,
                                   check_limits, fetch, sha256_file)
from jaxmeta.data.images import ImageClasses, group_by_class, rotations_as_classes
from jaxmeta.errors import ConfigError, JaxmetaError

URL = "https://github.com/brendenlake/omniglot/raw/master/python/"
# name -> (size in bytes, sha256), as registered in TFDS's url_checksums/omniglot.txt.
OFFICIAL = {
    "images_background": (9464212, "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640"),
    "images_evaluation": (6462886, "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee"),
    "images_background_small1": (1319022, "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4"),
    "images_background_small2": (1580917, "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f"),
}
SMALL_SETS = ("images_background_small1", "images_background_small2")
TFDS_SPLITS = {"images_background": "train", "images_evaluation": "test",
               "images_background_small1": "small1", "images_background_small2": "small2"}
ROTATIONS = ("classes", "per-task", "none")
SPLIT_SEED = 0
SMALL_SETS_SIZES = (172, 20, 50)
ALIASES = {"maml": "random:1100,100,423", "reptile": "random:1200,0,423"}
CACHE_VERSION = 1


SOURCES = ("files", "tfds")


def _check_data_dir(name, value):
  if not isinstance(value, str):
    raise ConfigError(name, f"must be a path, got {value!r}")
  if Path(value).exists() and not Path(value).is_dir():
    raise ConfigError(name, f"{value} is a file, not a directory")
  return value


def _check_split_option(name, value):
  check_split(value, name)
  return value


# The image-data options of a run (``jaxmeta train --help``, section "image data").
_DATA = dict(group="image data")
OPTIONS = (
    options.text("data_dir", None, "where the official data files are (default: $JAXMETA_DATA, "
                 "else ~/.cache/jaxmeta/data)", check=_check_data_dir, allowed="a directory",
                 resumable=True, **_DATA),
    options.text("cache_dir", None, "decoded-image cache (default: ~/.cache/jaxmeta)",
                 resumable=True, **_DATA),
    options.choice("data_source", "files", SOURCES, "files (official zips or folders) | tfds",
                   **_DATA),
    options.flag("download", "download missing official files first (sha256-verified)",
                 resumable=True, **_DATA),
    options.integer("image_size", 28, "resize images to this side", minimum=4, maximum=512,
                    **_DATA),
    options.choice("rotation", "classes", ROTATIONS, "classes (rotated train characters are new "
                   "classes) | per-task (one random rotation per class per task) | none", **_DATA),
    options.text("split", "small-sets", "class split protocol (jaxmeta.data.omniglot)",
                 check=_check_split_option,
                 allowed="small-sets, lake-small, lake, holdout:ALPHABET[,ALPHABET...], "
                 "random:TRAIN,VAL,TEST, maml, reptile", **_DATA),
    options.flag("within_alphabet", "draw all N classes of a task from one alphabet", **_DATA),
)


def default_data_dir() -> Path:
  """``$JAXMETA_DATA``, else ``~/.cache/jaxmeta/data``."""
  env = os.environ.get("JAXMETA_DATA")
  return Path(env).expanduser() if env else Path.home() / ".cache" / "jaxmeta" / "data"


def default_cache_dir() -> Path:
  return Path.home() / ".cache" / "jaxmeta"


def find_sources(data_dir) -> dict[str, Path]:
  """Official Omniglot files (zip preferred over folder) in ``data_dir`` or ``data_dir/omniglot``."""
  found = {}
  for base in (Path(data_dir), Path(data_dir) / "omniglot"):
    for name in OFFICIAL:
      if name in found:
        continue
      if (base / f"{name}.zip").is_file():
        found[name] = base / f"{name}.zip"
      elif (base / name).is_dir():
        inner = base / name / name   # unzipped into a folder of the same name
        found[name] = inner if inner.is_dir() else base / name
  return found


def _missing_message(data_dir, wanted) -> str:
  return (f"no Omniglot {' / '.join(wanted)} in {data_dir} (looked for NAME.zip or an extracted "
          f"NAME/ folder there and in {Path(data_dir) / 'omniglot'}); download with "
          f"`jaxmeta download omniglot --data-dir {data_dir}`, or pass --download")


class Decoded(NamedTuple):
  """One source, decoded: ``images`` uint8 ink ``[N, S, S]`` (255 = full ink), the
  character index of each image, and per character its name and content digest."""
  images: np.ndarray
  char_index: np.ndarray
  names: list
  digests: list


def preprocess(png: bytes, image_size: int, where: str) -> np.ndarray:
  """PNG bytes -> uint8 ``[S, S]`` ink (255 = ink): grey, Lanczos resize, inverted."""
  from PIL import Image, UnidentifiedImageError
  try:
    with Image.open(io.BytesIO(png)) as im:
      grey = im.convert("L")
      if grey.size != (image_size, image_size):
        grey = grey.resize((image_size, image_size), resample=Image.LANCZOS)
      return 255 - np.asarray(grey, np.uint8)
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise JaxmetaError(f"cannot decode image {where}: {e}; the file is corrupted, download it again") from e


_CHAR_RE = re.compile(r"(?:^|/)([^/]+)/([^/]+)/([^/]+\.png)$", re.IGNORECASE)


def _members(path: Path):
  """Yields (alphabet, character, file name, reader, where) for every PNG of a source."""
  if path.is_file():
    try:
      zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
      raise JaxmetaError(f"{path} is not a readable zip file ({e}); it is corrupted or truncated: "
                         "delete it and download it again") from e
    with zf:
      for info in sorted(zf.infolist(), key=lambda i: i.filename):
        m = _CHAR_RE.search(info.filename)
        if info.is_dir() or not m:
          continue
        def read(info=info):
          try:
            return zf.read(info)
          except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile) as e:
            raise JaxmetaError(f"{path} is corrupted ({info.filename}: {e}); delete it and "
                               "download it again") from e
        yield m.group(1), m.group(2), m.group(3), read, f"{path}:{info.filename}"
  else:
    for png in sorted(path.glob("*/*/*.png")):
      yield png.parent.parent.name, png.parent.name, png.name, png.read_bytes, str(png)


def decode_source(path: Path, image_size: int = 28) -> Decoded:
  """Decodes every PNG of a zip or folder (no cache)."""
  images, char_index, names, hashes = [], [], [], []
  index = {}
  for alphabet, character, _, read, where in _members(Path(path)):
    name = f"{alphabet}/{character}"
    if name not in index:
      index[name] = len(names)
      names.append(name)
      hashes.append([])
    data = read()
    hashes[index[name]].append(hashlib.sha256(data).digest())
    images.append(preprocess(data, image_size, where))
    char_index.append(index[name])
  if not images:
    raise JaxmetaError(f"{path} holds no Omniglot images (expected ALPHABET/characterNN/*.png)")
  digests = [hashlib.sha256(b"".join(sorted(h))).hexdigest() for h in hashes]
  return Decoded(np.stack(images), np.asarray(char_index, np.int32), names, digests)


def source_checksum(path: Path) -> str:
  """sha256 of a zip; for a folder, of its file names, sizes and modification times."""
  path = Path(path)
  if path.is_file():
    return sha256_file(path)
  h = hashlib.sha256()
  for f in sorted(path.glob("*/*/*.png")):
    st = f.stat()
    h.update(f"{f.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
  return h.hexdigest()


def load_source(path: Path, image_size: int = 28, cache_dir=None) -> Decoded:
  """:func:`decode_source` through the on-disk cache (``cache_dir/omniglot``)."""
  from jaxmeta.checkpoint import atomic_write_bytes
  path = Path(path)
  if cache_dir is None:
    return decode_source(path, image_size)
  name = path.name[:-4] if path.name.endswith(".zip") else path.name
  cache = (Path(cache_dir) / "omniglot" /
           f"{name}-{source_checksum(path)[:20]}-{image_size}px-v{CACHE_VERSION}.npz")
  if cache.exists():
    try:
      with np.load(cache, allow_pickle=False) as z:
        return Decoded(z["images"], z["char_index"], [str(s) for s in z["names"]],
                       [str(s) for s in z["digests"]])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
      pass  # unreadable cache: decode again and overwrite it
  decoded = decode_source(path, image_size)
  buf = io.BytesIO()
  np.savez_compressed(buf, images=decoded.images, char_index=decoded.char_index,
                      names=np.asarray(decoded.names), digests=np.asarray(decoded.digests))
  atomic_write_bytes(cache, buf.getvalue())
  return decoded


def load_tfds_source(name: str, image_size: int = 28, data_dir=None) -> Decoded:
  """One Omniglot source from TFDS's prepared ``omniglot`` via ``tfds.data_source``."""
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise ConfigError("data_source", "tfds needs the extra: pip install 'jaxmeta[tfds]'") from e
  from PIL import Image
  try:
    builder = tfds.builder("omniglot", data_dir=None if data_dir is None else str(data_dir))
    source = tfds.data_source("omniglot", split=TFDS_SPLITS[name],
                              data_dir=None if data_dir is None else str(data_dir))
  except Exception as e:  # tfds raises many kinds for a missing dataset
    raise ConfigError("data_dir", f"TFDS omniglot ({TFDS_SPLITS[name]}) is not prepared in "
                      f"{data_dir or 'the TFDS default data dir'}: {e}") from e
  alphabet_names = builder.info.features["alphabet"].names
  images, keys, hashes = [], [], {}
  for i in range(len(source)):
    ex = source[i]
    raw = np.asarray(ex["image"], np.uint8)
    raw = raw[..., 0] if raw.ndim == 3 else raw
    key = f"{alphabet_names[int(ex['alphabet'])]}/character{int(ex['alphabet_char_id']) + 1:02d}"
    grey = Image.fromarray(raw, "L")
    if grey.size != (image_size, image_size):
      grey = grey.resize((image_size, image_size), resample=Image.LANCZOS)
    images.append(255 - np.asarray(grey, np.uint8))
    keys.append(key)
    hashes.setdefault(key, []).append(hashlib.sha256(raw.tobytes()).digest())
  names = sorted(hashes)
  index = {n: i for i, n in enumerate(names)}
  order = np.argsort([index[k] for k in keys], kind="stable")
  digests = [hashlib.sha256(b"".join(sorted(hashes[n]))).hexdigest() for n in names]
  return Decoded(np.stack(images)[order], np.asarray([index[k] for k in keys], np.int32)[order],
                 names, digests)


def to_classes(sources: list[Decoded]) -> ImageClasses:
  """Unites decoded sources into classes, dropping characters whose content was already seen."""
  seen, parts_images, parts_index, names = set(), [], [], []
  for src in sources:
    keep = np.zeros(len(src.names), bool)
    new_id = np.full(len(src.names), -1, np.int64)
    for i, d in enumerate(src.digests):
      if d not in seen:
        seen.add(d)
        keep[i] = True
        new_id[i] = len(names)
        names.append(src.names[i])
    mask = keep[src.char_index]
    parts_images.append(src.images[mask])
    parts_index.append(new_id[src.char_index[mask]])
  images = np.concatenate(parts_images)
  grouped, counts = group_by_class(images, np.concatenate(parts_index), len(names), np.uint8)
  alphabets = tuple(sorted({n.split("/")[0] for n in names}))
  alphabet_ids = np.asarray([alphabets.index(n.split("/")[0]) for n in names], np.int32)
  as_float = grouped[..., None].astype(np.float32) / np.float32(255)
  return ImageClasses(as_float, counts, names, alphabet_ids, alphabets)


def _parse_sizes(split: str, name: str = "split"):
  text = ALIASES.get(split, split)
  try:
    sizes = tuple(int(t) for t in text.split(":", 1)[1].split(","))
    if len(sizes) != 3 or min(sizes) < 0 or sizes[0] == 0 or sizes[2] == 0:
      raise ValueError
  except (IndexError, ValueError):
    raise ConfigError(name, f"expected random:TRAIN,VAL,TEST with positive train and test "
                      f"sizes, got {split!r}") from None
  return sizes


def check_split(split: str, name: str = "split") -> None:
  """Raises ConfigError (naming ``name``) for a split protocol that is not known."""
  if split in ("small-sets", "lake-small", "lake") or split in ALIASES:
    return
  if not isinstance(split, str):
    raise ConfigError(name, f"must be a split protocol name, got {split!r}")
  if split.startswith("random:"):
    _parse_sizes(split, name)
    return
  if split.startswith("holdout:") and split[len("holdout:"):]:
    return
  raise ConfigError(name, "must be small-sets, lake-small, lake, holdout:ALPHABET[,...], "
                    f"random:TRAIN,VAL,TEST, maml or reptile, got {split!r}")


def _random_split(classes: ImageClasses, sizes) -> dict:
  n = classes.num_classes
  if sum(sizes) > n:
    raise ConfigError("split", f"sizes {'/'.join(map(str, sizes))} need {sum(sizes)} characters; "
                      f"the Omniglot files found hold {n}")
  order = np.random.default_rng(SPLIT_SEED).permutation(n)
  a, b, c = sizes
  return {"train": order[:a], "val": order[a:a + b], "test": order[a + b:a + b + c]}


@functools.lru_cache(maxsize=4)
def omniglot_splits(split: str = "small-sets", *, data_dir=None, cache_dir=None,
                    image_size: int = 28, rotation: str = "classes", source: str = "files",
                    download: bool = False) -> dict:
  """The train / val / test :class:`ImageClasses` of a split protocol (module docstring).

  Args:
    split: the protocol name.
    data_dir: where the official files are (default :func:`default_data_dir`); the TFDS
      data dir with ``source="tfds"``.
    cache_dir: decoded-array cache root (default :func:`default_cache_dir`).
    image_size: side of the square images after resizing.
    rotation: ``"classes"`` adds rotated train classes; ``"per-task"``/``"none"`` do not.
    source: ``"files"`` or ``"tfds"``.
    download: fetch missing small sets first (with ``split`` needing the full sets, those).

  Returns:
    ``{"train": ImageClasses, "val": ImageClasses | None, "test": ImageClasses | None}``;
    no character is in two of them.

  Raises:
    ConfigError: unknown split or rotation, missing files (saying where it looked and
      how to download). JaxmetaError: a corrupted zip or PNG (naming it).
  """
  check_split(split)
  checks.one_of("rotation", rotation, ROTATIONS)
  checks.integer("image_size", image_size, 4, 512)
  checks.one_of("data_source", source, SOURCES)
  data_dir = default_data_dir() if data_dir is None and source == "files" else data_dir
  cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)

  if split in ("small-sets", "lake-small") or split.startswith("holdout:"):
    needed, optional = list(SMALL_SETS), ["images_evaluation"] if split == "lake-small" else []
  elif split == "lake":
    needed, optional = ["images_background", "images_evaluation"], []
  else:
    needed, optional = [], list(OFFICIAL)

  if source == "tfds":
    def load(names, required=True):
      return {n: load_tfds_source(n, image_size, data_dir) for n in names}
  else:
    if Path(data_dir).exists() and not Path(data_dir).is_dir():
      raise ConfigError("data_dir", f"{data_dir} is a file, not a directory")
    if not Path(data_dir).is_dir() and not download:
      raise ConfigError("data_dir", f"{data_dir} does not exist; " +
                        _missing_message(data_dir, needed or ["files"]))
    found = find_sources(data_dir)
    if download and any(n not in found for n in needed or SMALL_SETS):
      download_omniglot(data_dir, [n for n in (needed or SMALL_SETS) if n not in found])
      found = find_sources(data_dir)

    def load(names, required=True):
      missing = [n for n in names if n not in found]
      if missing and required:
        raise ConfigError("data_dir", _missing_message(data_dir, missing))
      return {n: load_source(found[n], image_size, cache_dir) for n in names if n in found}

  if needed:
    pool = load(needed)
    extra = load(optional, required=False) if source == "files" else {}
  else:
    pool = load(optional, required=False) if source == "files" else load(list(OFFICIAL))
    if not pool:
      raise ConfigError("data_dir", _missing_message(data_dir, list(OFFICIAL)))
    extra = {}

  if split == "lake":
    train = to_classes([pool["images_background"]])
    test = to_classes([pool["images_evaluation"]])
    out = {"train": train, "val": test, "test": test}
  else:
    classes = to_classes([pool[n] for n in (needed or OFFICIAL) if n in pool])
    if split == "small-sets":
      out = {k: classes.subset(v) for k, v in _random_split(classes, SMALL_SETS_SIZES).items()}
    elif split == "lake-small":
      test = to_classes([extra["images_evaluation"]]) if "images_evaluation" in extra else None
      out = {"train": classes, "val": test, "test": test}
    elif split.startswith("holdout:"):
      alphabets = split[len("holdout:"):].split(",")
      for alphabet in alphabets:
        if alphabet not in classes.alphabets:
          raise ConfigError("split", f"alphabet {alphabet!r} is not in the data; choose from "
                            f"{', '.join(classes.alphabets)}")
      if len(set(alphabets)) == len(classes.alphabets):
        raise ConfigError("split", f"{split!r} holds out every alphabet; keep one to train on")
      held = np.isin(classes.alphabet_ids, [classes.alphabets.index(a) for a in alphabets])
      test = classes.subset(np.flatnonzero(held))
      out = {"train": classes.subset(np.flatnonzero(~held)), "val": test, "test": test}
    else:
      idx = _random_split(classes, _parse_sizes(split))
      out = {k: classes.subset(v) if len(v) else None for k, v in idx.items()}
  if rotation == "classes":
    out["train"] = rotations_as_classes(out["train"])
  return out


def split_classes(config, split: str = "train", required: bool = True) -> Optional[ImageClasses]:
  """The :class:`ImageClasses` of ``split`` ("train" | "val" | "test") for a run's config
  (``None`` when the protocol has no such split and not ``required``)."""
  if split not in ("train", "val", "test"):
    raise ConfigError("split", f"must be train, val or test, got {split!r}")
  splits = omniglot_splits(
      config.split, data_dir=None if config.data_dir is None else str(config.data_dir),
      cache_dir=None if config.cache_dir is None else str(config.cache_dir),
      image_size=config.image_size, rotation=config.rotation, source=config.data_source,
      download=config.download)
  classes = splits[split]
  if classes is None and not required:
    return None
  if classes is None:
    hint = ("score it with `jaxmeta eval-lake`, or put images_evaluation.zip in the data_dir"
            if config.split == "lake-small" else "choose a split protocol with one")
    raise ConfigError("split", f"protocol {config.split!r} has no {split} classes here; {hint}")
  return classes


def download_omniglot(data_dir, names: Optional[Sequence[str]] = None, *,
                      base_url: Optional[str] = None, progress: bool = True,
                      timeout: float = 60.0, deadline: Optional[float] = DEADLINE,
                      min_speed: Optional[float] = MIN_SPEED,
                      speed_window: float = SPEED_WINDOW) -> list[Path]:
  """Fetches the official Omniglot zips into ``data_dir/omniglot`` (sha256-verified).

  Args:
    data_dir: data root (the files go to ``data_dir/omniglot``).
    names: which of :data:`jaxmeta.data.omniglot.OFFICIAL` (default: all four).
    base_url: where the files are (default the official GitHub location, or
      ``$JAXMETA_OMNIGLOT_URL``).
    progress: progress bars.
    timeout: socket timeout per read, in seconds.
    deadline: seconds each file's download may take (``None``: no limit; default 30
      minutes).
    min_speed: the least throughput in bytes per second over the last ``speed_window``
      seconds (``None`` or 0: no limit; default 10 kB/s).
    speed_window: seconds of the throughput average and of the grace period before its
      first check (default 30).

  Returns:
    The paths of the files, already present and verified or downloaded.

  Raises:
    DownloadError: see :func:`jaxmeta.data.download.fetch`; the files fetched before
      the failing one are kept (verified), the failing one leaves nothing behind.
    DownloadInterrupted: Ctrl-C; the same.
    ConfigError: a bad ``deadline``, ``min_speed`` or ``speed_window``.
  """
  check_limits(deadline, min_speed, speed_window)
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
    try:
      if dest.is_file() and dest.stat().st_size == size and sha256_file(dest) == digest:
        out.append(dest)
        continue
    except KeyboardInterrupt:
      raise DownloadInterrupted(f"interrupted while verifying {dest}; nothing was changed: "
                                "run the same command again") from None
    out.append(fetch(base_url + f"{name}.zip", dest, digest, size, progress=progress,
                     timeout=timeout, deadline=deadline, min_speed=min_speed,
                     speed_window=speed_window))
  return out
