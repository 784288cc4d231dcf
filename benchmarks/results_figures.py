"""The figures of benchmarks/RESULTS.md, drawn from the rows' results JSONs.

Every figure is written even when some (or all) rows have no JSON yet: missing rows are
left out and an empty figure says so, so a link in RESULTS.md never breaks. matplotlib is
imported lazily (Agg backend) so that reading the tables does not need it.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from results_io import atomic_write_bytes
from tables import Table, row_points

# figure kind -> file name pattern ({table} is the table's name) and alt text
FIGURES = {
    "accuracy": ("{table}_by_method.png", "{title}: ours with 95 % intervals, and the paper"),
    "curves": ("{table}_curves.png", "{title}: learning curves"),
    "sinusoid_fits": ("sinusoid_fits.png", "MAML vs pretrained after 0 / 1 / 10 steps "
                                            "(Finn et al. 2017, Fig. 2)"),
    "speed": ("speed_ratios.png", "speed against the fastest PyTorch peer"),
    "memory": ("memory_remat.png", "peak memory vs inner steps, with and without --remat"),
}
IDENTITIES = "identity_remainders.png"


def figure_files(table: Table) -> list:
  """(alt text, file name) of each figure of ``table``."""
  return [(alt.format(title=table.title), name.format(table=table.name))
          for name, alt in (FIGURES[kind] for kind in table.figures)]


def _pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def _save(fig, path: Path) -> None:
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=110)
  _pyplot().close(fig)
  atomic_write_bytes(path, buf.getvalue())


def _empty(ax, text="no results yet"):
  ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
  ax.set_xticks([])
  ax.set_yticks([])


def _label(row) -> str:
  """The row's name (what --rows takes: "maml-5w1s"), short enough for an axis."""
  return row.name


def _first_number(text: str):
  m = re.search(r"\d+(?:\.\d+)?", text or "")
  return float(m.group()) if m else None


def draw(table: Table, records: dict, folder: Path) -> list:
  """Writes ``table``'s figures into ``folder``; returns their (alt text, file name)."""
  for kind, (alt, name) in zip(table.figures, figure_files(table)):
    DRAWERS[kind](table, records, Path(folder) / name)
  return figure_files(table)


def accuracy_by_method(table: Table, records: dict, path: Path) -> None:
  """Ours (first point of each row) with its interval, and the paper's number, per row."""
  plt = _pyplot()
  rows = list(table.rows)
  fig, ax = plt.subplots(figsize=(9, 0.36 * len(rows) + 1.4))
  ys = list(range(len(rows)))[::-1]
  shown = False
  for y, row in zip(ys, rows):
    record = records.get(row.name)
    point = row_points(table, row)[0]
    r = ((record or {}).get("results") or {}).get(point)
    if r is not None and r.get("mean") is not None:
      recorded = record.get("source") == "recorded"
      ax.errorbar(r["mean"], y, xerr=r.get("ci95") or 0, fmt="o",
                  color="tab:orange" if recorded else "tab:blue", capsize=3,
                  label="ours, recorded (†)" if recorded else "ours, reproduce.py")
      shown = True
    paper = _first_number(row.paper)
    if paper is not None:
      ax.plot(paper, y, "k|", markersize=12, label="paper")
  ax.set_yticks(ys)
  ax.set_yticklabels([_label(r) + ("" if r.name in records else " (not yet)") for r in rows],
                     fontsize=7)
  unit = table.unit.strip() or "value"
  ax.set_xlabel(f"{'error' if table.transform == 'error_percent' else 'accuracy'} ({unit}), "
                f"mean ± 95 %")
  ax.set_title(table.title, fontsize=9)
  if shown:
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="best")
  else:
    ax.text(0.5, 0.5, "no results yet", ha="center", va="center", transform=ax.transAxes)
  ax.grid(axis="x", alpha=0.3)
  fig.tight_layout()
  _save(fig, path)


def learning_curves(table: Table, records: dict, path: Path) -> None:
  """Training loss (and accuracy, where the method logs one) against the step, per row."""
  plt = _pyplot()
  curves = {r.name: (r, records[r.name]["curve"]) for r in table.rows
            if records.get(r.name) and records[r.name].get("curve")}
  has_acc = any("accuracy" in c[0] for _, c in curves.values() if c)
  fig, axes = plt.subplots(1, 2 if has_acc else 1, figsize=(11 if has_acc else 6.5, 4),
                           squeeze=False)
  axes = axes[0]
  if not curves:
    _empty(axes[0], "no learning curves yet (rows recorded without one, or not run)")
  for name, (row, curve) in curves.items():
    steps = [c["step"] for c in curve if "step" in c]
    label = _label(row) + (" †" if records[name].get("source") == "recorded" else "")
    if all("loss" in c for c in curve):
      axes[0].plot(steps, [c["loss"] for c in curve], label=label)
    if has_acc and all("accuracy" in c for c in curve):
      axes[1].plot(steps, [c["accuracy"] for c in curve], label=label)
  if curves:
    axes[0].set(xlabel="training step", ylabel="training loss", yscale="log")
    axes[0].legend(fontsize=6)
    if has_acc:
      axes[1].set(xlabel="training step", ylabel="training accuracy")
      axes[1].legend(fontsize=6)
  fig.suptitle(f"{table.title}: learning curves", fontsize=9)
  fig.tight_layout()
  _save(fig, path)


def sinusoid_fits(table: Table, records: dict, path: Path, pair=("maml", "pretrained")) -> None:
  """Finn et al. 2017's Figure 2: the fixed task, its K support points, and the model's
  predictions after 0 / 1 / 10 fine-tuning steps, MAML beside pretrained."""
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(pair), figsize=(11, 3.8), squeeze=False)
  rows = {r.name: r for r in table.rows}
  for ax, name in zip(axes[0], pair):
    p = (records.get(name) or {}).get("predictions")
    ax.set_title(rows[name].method if name in rows else name, fontsize=9)
    if not p:
      _empty(ax, "no predictions yet (rows recorded before they were stored, or not run)")
      continue
    ax.plot(p["grid_x"], p["grid_y"], "r-", lw=2, label="ground truth")
    for (step, y), style in zip(p["after"].items(), (":", "--", "-")):
      ax.plot(p["grid_x"], y, style, color="tab:green",
              label=f"after {step} step{'s' if step != '1' else ''}")
    ax.plot(p["support_x"], p["support_y"], "^", color="tab:purple", ms=8,
            label=f"{len(p['support_x'])} points used for the gradient")
    ax.set(xlim=(-5, 5))
    ax.legend(fontsize=7)
  fig.tight_layout()
  _save(fig, path)


def speed_ratios(table: Table, records: dict, path: Path) -> None:
  """jaxmeta / fastest PyTorch per row, best and median rounds, with the 1x line."""
  plt = _pyplot()
  names = [r for r in table.rows]
  fig, ax = plt.subplots(figsize=(max(8.0, 1.5 * len(names)), 3.6))
  xs = range(len(names))
  for i, row in zip(xs, names):
    res = (records.get(row.name) or {}).get("results") or {}
    for offset, point, color in ((-0.18, "best", "tab:blue"), (0.18, "median", "tab:gray")):
      value = (res.get(point) or {}).get("mean")
      if value is not None:
        ax.bar(i + offset, value, width=0.36, color=color, label=f"{point} rounds")
        ax.text(i + offset, value, f"{value:.3g}x", ha="center", va="bottom", fontsize=6)
  ax.axhline(1.0, color="k", lw=0.8)
  ax.set_yscale("log")  # CPU rows are ~1x, GPU rows up to ~100x
  ax.set_xticks(list(xs))
  ax.set_xticklabels([f"{r.method}\n{r.setting.split(',')[0].split(' 84x84')[0]}"
                      + ("\n(GPU)" if r.setting.endswith("on a GPU") else "\n(CPU)")
                      + ("" if r.name in records else "\n(not yet)") for r in names], fontsize=6)
  ax.set_ylabel("jaxmeta / fastest PyTorch (log)")
  handles, labels = ax.get_legend_handles_labels()
  if handles:
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7)
  else:
    ax.text(0.5, 0.5, "no results yet", ha="center", va="center", transform=ax.transAxes)
  ax.set_title(table.title, fontsize=9)
  fig.tight_layout()
  _save(fig, path)


def memory_vs_steps(table: Table, records: dict, path: Path) -> None:
  """Peak MiB against inner steps k, without and with remat."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.8))
  drawn = False
  for point, style in (("no remat", "o-"), ("remat", "s-")):
    pts = [(row.x, ((records.get(row.name) or {}).get("results") or {}).get(point, {}).get("mean"))
           for row in table.rows]
    pts = [(x, y) for x, y in pts if y is not None]
    if pts:
      ax.plot(*zip(*pts), style, label=point)
      drawn = True
  if drawn:
    ax.set(xlabel="inner steps k", ylabel="compiled peak memory (MiB)")
    ax.legend()
  else:
    _empty(ax)
  ax.set_title(table.title, fontsize=9)
  fig.tight_layout()
  _save(fig, path)


def identity_remainders(data: dict, path: Path) -> None:
  """The remainder of the first-order expansion against alpha, log-log, with alpha^2."""
  plt = _pyplot()
  import numpy as np
  fig, ax = plt.subplots(figsize=(6, 4))
  alphas = np.asarray(data["alphas"])
  for (name, values), style in zip(data["relative_remainder"].items(), ("o-", "s--", "^:")):
    ax.loglog(alphas, values, style, label=f"{name} (slope {data['slopes'][name]:.2f})")
  first = data["relative_remainder"]["maml"][0]
  ax.loglog(alphas, first * (alphas / alphas[0]) ** 2, "k-", lw=0.5, label=r"$\propto\alpha^2$")
  ax.set(xlabel=r"inner step $\alpha$", ylabel=r"$|E[g_X] - (c_A A - c_B\alpha B)|\ /\ |A|$",
         title=data["model"])
  ax.title.set_fontsize(8)
  ax.legend(fontsize=8)
  fig.tight_layout()
  _save(fig, path)


DRAWERS = {"accuracy": accuracy_by_method, "curves": learning_curves,
           "sinusoid_fits": sinusoid_fits, "speed": speed_ratios, "memory": memory_vs_steps}
