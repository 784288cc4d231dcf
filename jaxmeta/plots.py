"""``jaxmeta plot``: a run's training curves from its ``metrics.jsonl``.

Application layer (it reads a run directory and writes an image); matplotlib is an optional
dependency (``pip install jaxmeta[plot]``), imported only when a figure is drawn. Works on a
run that is still training: the line being appended when the file is read is skipped.

Example:
  >>> import json, pathlib, tempfile
  >>> with tempfile.TemporaryDirectory() as run:
  ...   lines = [json.dumps({"step": s, "loss": 1 / s, "steps_per_s": 50.0}) for s in (5, 10)]
  ...   _ = (pathlib.Path(run) / "metrics.jsonl").write_text("\\n".join(lines) + '\\n{"step": 1')
  ...   out = plot_run(run)
  ...   out.name, out.read_bytes()[:4]
  ('curves.png', b'\\x89PNG')
"""
from __future__ import annotations

import io
import json
import math
import numbers
from pathlib import Path

from jaxmeta import checkpoint
from jaxmeta.errors import CheckpointError, ConfigError, JaxmetaError

DEFAULT_OUT = "curves.png"
# Formats matplotlib's Agg-based savefig writes without extra dependencies.
FORMATS = (".png", ".pdf", ".svg")
# Series drawn first, in this order; every other series follows in the order first logged,
# and the throughput comes last.
_LEADING = ("loss", "accuracy")
_TRAILING = ("steps_per_s",)
_LABELS = {"steps_per_s": "meta-steps / s", "pre_adaptation_loss": "pre-adaptation loss",
           "meta_grad_norm": "meta-gradient norm"}


def read_metrics(path) -> list[dict]:
  """The records of a ``metrics.jsonl``, skipping lines that are not whole records.

  A run appends one line per logging interval, so the file of a run still training may end
  in a line being written; a run killed mid-write leaves one until it resumes. Such lines
  (and any other line that is not a JSON object with an integer ``step``) are skipped.

  Example:
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...   p = pathlib.Path(d) / "metrics.jsonl"
    ...   _ = p.write_text('{"step": 5, "loss": 0.5}\\n{"step": 10, "lo')
    ...   read_metrics(p)
    [{'step': 5, 'loss': 0.5}]
  """
  records = []
  for line in Path(path).read_text(errors="replace").splitlines():
    try:
      record = json.loads(line)
    except ValueError:
      continue
    if isinstance(record, dict) and _is_number(record.get("step")):
      records.append(record)
  return records


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def series(records: list[dict]) -> dict[str, tuple[list, list]]:
  """``name -> (steps, values)`` of every numeric series in ``records``, in drawing order
  (loss, accuracy, the other series as first logged, steps/s last). A series logged by only
  some records (e.g. after a resume that added one) has only their points.

  Example:
    >>> series([{"step": 1, "steps_per_s": 9.0, "loss": 2.0, "meta_grad_norm": 0.5, "note": "x"},
    ...         {"step": 2, "steps_per_s": 8.0, "loss": 1.0}])
    {'loss': ([1, 2], [2.0, 1.0]), 'meta_grad_norm': ([1], [0.5]),
     'steps_per_s': ([1, 2], [9.0, 8.0])}
  """
  found: dict[str, tuple[list, list]] = {}
  for record in records:
    for name, value in record.items():
      if name != "step" and _is_number(value):
        steps, values = found.setdefault(name, ([], []))
        steps.append(record["step"])
        values.append(float(value))
  rank = lambda name: (0, _LEADING.index(name)) if name in _LEADING else (
      (2, _TRAILING.index(name)) if name in _TRAILING else (1, 0))
  return {name: found[name] for name in sorted(found, key=rank)}   # sorted() is stable


def check_run(workdir, out=None) -> tuple[Path, Path]:
  """(metrics file, output path) of ``jaxmeta plot``, refusing bad input before anything
  is drawn or written.

  Raises:
    ConfigError: (``workdir``) it does not exist, is not a directory, or holds no
      ``metrics.jsonl``; (``out``) its suffix is not one of :data:`FORMATS`, or it is a
      directory.
  """
  workdir = Path(workdir)
  if not workdir.exists():
    raise ConfigError("workdir", f"{workdir} does not exist")
  if not workdir.is_dir():
    raise ConfigError("workdir", f"{workdir} is not a directory")
  metrics = workdir / checkpoint.METRICS_NAME
  if not metrics.is_file():
    raise ConfigError("workdir", f"{workdir} holds no {checkpoint.METRICS_NAME} (a run "
                      "writes it at its first --log-every step)")
  out = workdir / DEFAULT_OUT if out is None else Path(out)
  if out.suffix.lower() not in FORMATS:
    raise ConfigError("out", f"{out}: the file name must end in "
                      f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
  if out.is_dir():
    raise ConfigError("out", f"{out} is a directory; name the image file")
  return metrics, out


def plot_run(workdir, out=None, *, columns: int = 2) -> Path:
  """Draws the training curves of the run in ``workdir``, one panel per logged metric
  against the meta-step, and writes them to ``out`` (default ``workdir/curves.png``)
  atomically: a temp file in the same directory, then ``os.replace``, so a viewer never
  sees a half-written image. Returns the path written.

  Raises:
    ConfigError: bad ``workdir`` or ``out`` (see :func:`check_run`), or a
      ``metrics.jsonl`` without a whole record yet (nothing is written).
    JaxmetaError: matplotlib is not installed.
  """
  metrics, out = check_run(workdir, out)
  try:
    records = read_metrics(metrics)
  except OSError as e:
    raise CheckpointError(f"cannot read {metrics}: {checkpoint.describe_os_error(e)}") from e
  curves = series(records)
  if not curves:
    raise ConfigError("workdir", f"{metrics} holds no complete record yet (one is appended "
                      "every --log-every steps); plot it again later")
  figure = _draw(curves, _title(Path(workdir), records), columns)
  buffer = io.BytesIO()
  figure.savefig(buffer, format=out.suffix.lower()[1:], dpi=110)
  try:
    checkpoint.atomic_write_bytes(out, buffer.getvalue())
  except OSError as e:
    raise CheckpointError(f"cannot write {out}: {checkpoint.describe_os_error(e)}") from e
  return out


def _title(workdir: Path, records: list[dict]) -> str:
  """The run's method and task from its ``config.json`` when it is readable (the metrics
  alone do not name them), and how far it got."""
  name, last = workdir.resolve().name, max(r["step"] for r in records)
  try:
    config = json.loads((workdir / "config.json").read_text())
    return f"{config['algo']} on {config['task']} ({name}): step {last} of {config['steps']}"
  except (OSError, ValueError, KeyError, TypeError):
    return f"{name}: step {last}"   # a run directory written by a script of its own


def _draw(curves: dict, title: str, columns: int):
  """A matplotlib Figure on the Agg canvas (no pyplot: no global backend or GUI state)."""
  try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
  except ImportError:
    raise JaxmetaError("plot needs matplotlib, which is not installed: "
                       "pip install jaxmeta[plot]") from None
  columns = max(1, min(columns, len(curves)))
  rows = math.ceil(len(curves) / columns)
  figure = Figure(figsize=(5.0 * columns, 3.0 * rows + 0.5), layout="constrained")
  FigureCanvasAgg(figure)
  axes = figure.subplots(rows, columns, squeeze=False, sharex=True)
  for ax, (name, (steps, values)) in zip(axes.flat, curves.items()):
    ax.plot(steps, values, marker="." if len(steps) < 50 else None, linewidth=1.2)
    ax.set_title(_LABELS.get(name, name.replace("_", " ")), fontsize=10)
    # A loss falling over decades reads better on a log axis; only where that is defined.
    finite = [v for v in values if math.isfinite(v)]
    if name.endswith("loss") and finite and min(finite) > 0 and max(finite) > 20 * min(finite):
      ax.set_yscale("log")
    ax.grid(alpha=0.3)
  for ax in axes.flat[len(curves):]:
    ax.set_visible(False)
  for column in range(columns):   # a hidden last-row panel leaves the step axis to the row above
    visible = [axes[r, column] for r in range(rows) if axes[r, column].get_visible()]
    if visible:
      visible[-1].set_xlabel("meta-step")
      visible[-1].tick_params(labelbottom=True)
  figure.suptitle(title, fontsize=11)
  return figure
