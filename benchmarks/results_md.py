"""The generated sections of benchmarks/RESULTS.md: one markdown table per
:class:`tables.Table`, rendered from the rows' results JSONs, between markers.

Only the text between a table's two markers is ever rewritten; everything around it is
prose written by people and stays byte for byte. A file without a table's markers gets
them appended at its end (once) under a heading.
"""
from __future__ import annotations

import math
from typing import Optional

from tables import Row, Table, row_points

RECORDED_MARK = "†"
NOT_YET = "not yet"


def begin_marker(table: str) -> str:
  return (f"<!-- reproduce.py: table {table} (generated; edit benchmarks/tables.py, not this "
          f"table) -->")


def end_marker(table: str) -> str:
  return f"<!-- end reproduce.py: {table} -->"


class MarkerError(ValueError):
  """RESULTS.md's markers of a table are broken (one without the other, twice, reversed)."""


def replace_section(text: str, table: Table, body: str) -> str:
  """``text`` with the part between ``table``'s markers replaced by ``body``.

  Raises:
    MarkerError: the markers are not exactly one begin followed by one end.
  """
  begin, end = begin_marker(table.name), end_marker(table.name)
  n_begin, n_end = text.count(begin), text.count(end)
  if n_begin == n_end == 0:
    sep = "" if text.endswith("\n") else "\n"
    return f"{text}{sep}\n## {table.title}\n\n{begin}\n{body}\n{end}\n"
  if n_begin != 1 or n_end != 1 or text.index(begin) > text.index(end):
    raise MarkerError(f"the markers of table {table.name} are broken ({n_begin} begin, {n_end} "
                      f"end, or in the wrong order): expected one '{begin}' followed by one "
                      f"'{end}'")
  start = text.index(begin) + len(begin)
  stop = text.index(end)
  return f"{text[:start]}\n{body}\n{text[stop:]}"


def outside_sections(text: str, names) -> str:
  """``text`` with every generated section's body removed (what must never change)."""
  for name in names:
    begin, end = begin_marker(name), end_marker(name)
    if begin in text and end in text:
      text = text[:text.index(begin) + len(begin)] + text[text.index(end):]
  return text


# --------------------------------------------------------------------------- cells
def _cell(text: str) -> str:
  """A markdown table cell: pipes escaped, no line breaks."""
  return " ".join(str(text).split()).replace("|", "\\|")


def _number(value, decimals: int, recorded: bool) -> str:
  """``value`` with the table's decimals; a recorded number keeps any further digits
  RESULTS.md stated (98.18 in a table of one decimal)."""
  if value is None:
    return "?"
  if recorded:   # an int was stated without decimals (1207 MiB), a float with its own
    text = repr(value)
    stated = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    decimals = max(decimals, stated)
  value = float(value)
  if not math.isfinite(value):
    return str(value)
  return f"{value:.{decimals}f}"


def format_ours(table: Table, row: Row, record: Optional[dict]) -> str:
  """"0.593 ± 0.018 / 0.348 ± 0.020 / ..." for the row's points; "not yet" without a record."""
  if record is None:
    return NOT_YET
  recorded = record.get("source") == "recorded"
  parts = []
  for point in row_points(table, row):
    r = (record.get("results") or {}).get(point)
    if r is None:
      parts.append("–")
      continue
    text = _number(r.get("mean"), table.decimals, recorded)
    if r.get("ci95") is not None:
      text += f" ± {_number(r['ci95'], table.decimals, recorded)}"
    parts.append(text + table.unit)
  out = " / ".join(parts)
  if record.get("quick"):
    out += " (--quick smoke run)"
  return out + (f" {RECORDED_MARK}" if recorded else "")


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  if seconds < 120:
    return f"{seconds} s"
  minutes, s = divmod(seconds, 60)
  if minutes < 120:
    return f"{minutes} min {s:02d} s"
  return f"{minutes // 60} h {minutes % 60:02d} min"


def format_budget(row: Row, record: Optional[dict]) -> str:
  if record is None:
    return row.budget
  ran = []
  if record.get("steps") is not None:
    ran.append(f"{record['steps']} steps")
  if record.get("source") == "recorded":
    if record.get("wall"):
      ran.append(record["wall"])
  elif record.get("train_seconds") is not None:
    ran.append(_duration(record["train_seconds"]) + " wall")
  return row.budget + (f"; ran {', '.join(ran)}" if ran else "")


def format_hardware(record: Optional[dict]) -> str:
  if record is None:
    return "—"
  hw = record.get("hardware") or {}
  if record.get("source") == "recorded":
    load = record.get("load")
    return hw.get("description", "—") + (f"; load {load}" if load else "")
  load = ""
  if hw.get("load_start") and hw.get("load_end"):
    load = f", load {hw['load_start'][0]:.1f} → {hw['load_end'][0]:.1f}"
  device = hw.get("jax_backend")
  if hw.get("device_kind") and hw.get("device_kind") != device:   # e.g. "gpu (NVIDIA H100)"
    device += f" ({hw['device_kind']})"
  return (f"{hw.get('cpu_count')} CPUs ({hw.get('machine')}), jax on {device}{load}; "
          f"{record.get('date', '')[:10]}")


def format_protocol(row: Row, record: Optional[dict]) -> str:
  text = row.protocol
  if record is not None and record.get("recorded_protocol"):
    text += f". Recorded run: {record['recorded_protocol']}"
  return text


def command(table: Table, row: Row) -> str:
  """The one command that reproduces the row (the generator does the rest)."""
  if row.preset is not None:
    return f"`jaxmeta train --preset {row.preset}`"
  return f"`python benchmarks/reproduce.py --table {table.name} --rows {row.name}`"


def render_table(table: Table, records: dict, figures: list) -> str:
  """The section body: a sentence on the numbers, the table, footnotes, figure links.

  Args:
    records: row name -> its results JSON (rows without one are "not yet").
    figures: (alt text, path relative to RESULTS.md) of the table's figures.
  """
  head = ("| method | setting | ours (mean ± 95 %) | paper | protocol difference | budget | "
          "hardware | command |")
  lines = [f"Ours: {table.ours}."]
  if table.protocol:
    lines[0] += f" Protocol difference of every row: {table.protocol}."
  lines += ["", head, "|" + "---|" * 8]
  for row in table.rows:
    record = records.get(row.name)
    paper = f"{row.paper} [{row.paper_source}]" if row.paper_source else row.paper
    cells = (row.method, row.setting, format_ours(table, row, record), paper,
             format_protocol(row, record), format_budget(row, record), format_hardware(record),
             command(table, row))
    lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
  lines.append("")
  if any((records.get(r.name) or {}).get("source") == "recorded" for r in table.rows):
    lines.append(f"{RECORDED_MARK}: recorded by an earlier run, not yet rerun by reproduce.py "
                 f"(the row's `benchmarks/results/{table.name}/<row>.json` names the section "
                 "of this file it comes from and its exact command).")
  missing = sum(r.name not in records for r in table.rows)
  if missing:
    lines.append(f"{NOT_YET}: no results JSON for the row yet ({missing} of {len(table.rows)}).")
  lines.append(f"Rerun rows: `python benchmarks/reproduce.py --table {table.name} "
               f"[--rows NAME,...] [--data-dir DIR]` (row names: "
               f"{', '.join(r.name for r in table.rows)}); "
               f"`--render-only` redraws this section and its figures from the JSONs.")
  for alt, path in figures:
    lines += ["", f"![{alt}]({path})"]
  return "\n".join(lines)
