"""Reruns the experiments behind one table of benchmarks/RESULTS.md and regenerates it.

Each table and row is declared once in benchmarks/tables.py. A row runs its named preset
(``jaxmeta train --preset P --workdir RESULTS/<table>/<row>``, evaluated at the end of
training) or its benchmark script, and its numbers go to ``RESULTS/<table>/<row>.json``
with the command, the wall time, the machine and its load, the date, the commit and a
downsampled learning curve. The table's section of RESULTS.md (between its markers) and
its figures are then redrawn from the JSONs; the prose around the sections is never touched.

Usage:
  python benchmarks/reproduce.py --table sinusoid                    # every row of a table
  python benchmarks/reproduce.py --table omniglot-metric --rows relation --data-dir DIR
  python benchmarks/reproduce.py --table sinusoid --quick            # ~1 min smoke run
  python benchmarks/reproduce.py --render-only                       # all tables and figures

``--quick`` shrinks every row (the table's and row's ``quick`` flags: a few steps and test
tasks), writes into a temporary results folder and regenerates a copy of RESULTS.md there,
never the real one. Rows that have a run folder resume it (``jaxmeta train`` semantics);
``--fresh`` starts them over.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # the benchmarks/ modules

import results_io  # noqa: E402
from tables import TABLES, Row, Table  # noqa: E402

PROG = "reproduce.py"


class UsageError(Exception):
  """Bad command-line input: one line naming the flag; exit status 2."""


class RowFailed(Exception):
  """A row's command failed; the others still run."""


class _Parser(argparse.ArgumentParser):
  def error(self, message):   # argparse's usage + message -> one line, our exit status
    raise UsageError(message)


def parse_args(argv):
  p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
  p.add_argument("--table", help=f"one of {', '.join(TABLES)}")
  p.add_argument("--rows", help="comma-separated row names of --table (default: all)")
  p.add_argument("--quick", action="store_true",
                 help="smoke run: tiny overrides, a temporary results folder, a copy of RESULTS.md")
  p.add_argument("--results", type=Path, help="results folder (default: benchmarks/results; "
                 "--quick: a new temporary folder)")
  p.add_argument("--results-md", type=Path, help="the RESULTS.md to regenerate (default: "
                 "benchmarks/RESULTS.md; --quick: a copy of it in the results folder)")
  p.add_argument("--data-dir", help="where the Omniglot files are (jaxmeta train --data-dir)")
  p.add_argument("--render-only", action="store_true",
                 help="run nothing: redraw the tables (all, or --table's) and figures from the JSONs")
  p.add_argument("--fresh", action="store_true", help="discard a row's run folder before running it")
  args = p.parse_args(argv)
  if args.table is not None and args.table not in TABLES:
    raise UsageError(f"--table: unknown table {args.table!r}; choose from {', '.join(TABLES)}")
  if args.rows is not None and args.table is None:
    raise UsageError(f"--rows: needs --table (choose from {', '.join(TABLES)})")
  if args.table is None and not args.render_only:
    raise UsageError(f"--table: required unless --render-only; choose from {', '.join(TABLES)}")
  if args.rows is not None:
    names = [r.name for r in TABLES[args.table].rows]
    wanted = [r.strip() for r in args.rows.split(",")]
    unknown = [r for r in wanted if r not in names]
    if unknown or not all(wanted):
      raise UsageError(f"--rows: unknown row {(unknown or [''])[0]!r} of table {args.table}; "
                       f"choose from {', '.join(names)}")
    args.rows = wanted
  if args.quick and args.render_only:
    raise UsageError("--quick: runs rows; --render-only runs none: give one of them")
  if args.quick:
    # The smoke run must never overwrite the committed figures.
    if args.results is not None and _same(args.results, results_io.RESULTS):
      raise UsageError(f"--results: --quick never writes into {results_io.RESULTS}; give "
                       "another folder (default: a temporary one)")
    if args.results_md is not None and _same(args.results_md, results_io.RESULTS_MD):
      raise UsageError(f"--results-md: --quick never rewrites {results_io.RESULTS_MD}; give "
                       "a copy's path (default: RESULTS.md in the results folder)")
  return args


def _same(a: Path, b: Path) -> bool:
  return Path(a).resolve() == Path(b).resolve()


# --------------------------------------------------------------------------- running rows
def _transform(table: Table, summary: dict) -> dict:
  """An eval.json summary (fraction for accuracies) in the table's unit."""
  out = {k: summary.get(k) for k in ("mean", "ci95", "median", "n_nonfinite")}
  if table.transform in ("percent", "error_percent"):
    for k in ("mean", "ci95", "median"):
      out[k] = None if out[k] is None else 100.0 * out[k]
  if table.transform == "error_percent":
    out["mean"], out["median"] = 100.0 - out["mean"], 100.0 - out["median"]
  return out


def run_preset_row(table: Table, row: Row, results: Path, data_dir, quick: bool,
                   fresh: bool) -> dict:
  """``jaxmeta train --preset`` of the row (in this process), then its record."""
  from jaxmeta import checkpoint, cli
  from jaxmeta.config import from_preset
  workdir = results_io.run_dir(results, table.name, row.name)
  if fresh and workdir.exists():
    shutil.rmtree(workdir)
  argv = ["train", "--preset", row.preset, "--workdir", str(workdir), "--no-progress"]
  if data_dir is not None and from_preset(row.preset).task != "sinusoid":
    argv += ["--data-dir", str(data_dir)]
  if quick:
    argv += list(table.quick) + list(row.quick)
  command = "jaxmeta " + shlex.join(argv)
  resumed = checkpoint.has_checkpoint(workdir) if workdir.exists() else False
  print(f"{PROG}: {table.name}/{row.name}: {command}", flush=True)
  load_start, start = results_io.load_average(), time.time()
  rc = cli.main(argv)
  seconds, load_end = time.time() - start, results_io.load_average()
  if rc != 0:
    raise RowFailed(f"`{command}` exited with status {rc}")
  evaluation = json.loads((workdir / "eval.json").read_text())
  config = json.loads((workdir / "config.json").read_text())
  ours = evaluation[config["algo"]]
  (curve,) = [v for k, v in ours.items() if k.startswith("by_")]
  record = {
      "table": table.name, "row": row.name, "source": "reproduce.py", "method": row.method,
      "algo": config["algo"], "preset": row.preset, "command": command, "quick": quick,
      "unit": table.unit.strip(), "results": {p: _transform(table, s) for p, s in curve.items()},
      "eval": evaluation, "steps": config["steps"],
      # The whole `jaxmeta train` command: training and the evaluation at its end.
      "train_seconds": round(seconds, 1), "resumed": resumed,
      "hardware": results_io.hardware(load_start, load_end), "date": results_io.now(),
      "git_commit": results_io.git_commit(),
      "curve": results_io.downsample_curve(workdir / "metrics.jsonl")}
  if table.name == "sinusoid":
    from sinusoid_fits import predictions
    record["predictions"] = predictions(workdir)
  return record


def run_script_row(table: Table, row: Row, results: Path, data_dir, quick: bool,
                   fresh: bool) -> dict:
  """The row's benchmark script in a subprocess, then its record from the script's JSON."""
  workdir = results_io.run_dir(results, table.name, row.name)
  if fresh and workdir.exists():
    shutil.rmtree(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  out = workdir / "output.json"
  out.unlink(missing_ok=True)
  args, script = [], list(row.script)
  while script:
    a = script.pop(0)
    if script and script[0] == "{data_dir}":   # "--data-dir {data_dir}": the script's default
      if data_dir is None:
        script.pop(0)
        continue
    args.append(a.format(json=out, data_dir=data_dir))
  if quick:
    args += list(table.quick) + list(row.quick)
  command = "python " + shlex.join(args)
  print(f"{PROG}: {table.name}/{row.name}: {command}", flush=True)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(results_io.REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
  load_start, start = results_io.load_average(), time.time()
  rc = subprocess.run([sys.executable] + args, cwd=results_io.REPO, env=env).returncode
  seconds, load_end = time.time() - start, results_io.load_average()
  if rc != 0 or not out.exists():
    raise RowFailed(f"`{command}` exited with status {rc}" + ("" if out.exists() else
                                                                  f" and wrote no {out}"))
  data = json.loads(out.read_text())
  found = {point: {"mean": results_io.lookup(data, path),
                   "ci95": results_io.lookup(data, path + "_ci95")} for point, path in row.extract}
  return {"table": table.name, "row": row.name, "source": "reproduce.py", "method": row.method,
          "algo": row.algo, "script": row.script[0], "command": command, "quick": quick,
          "unit": table.unit.strip(), "results": found, "output": data,
          "train_seconds": round(seconds, 1),
          "hardware": results_io.hardware(load_start, load_end), "date": results_io.now(),
          "git_commit": results_io.git_commit()}


def run_rows(table: Table, rows, results: Path, data_dir, quick: bool, fresh: bool) -> list:
  """Runs ``rows`` of ``table``, writing each row's JSON as soon as it is done; returns
  the failures (a failed row writes nothing and does not stop the others)."""
  failed = []
  for row in rows:
    run = run_preset_row if row.preset is not None else run_script_row
    try:
      record = run(table, row, results, data_dir, quick, fresh)
    except (RowFailed, OSError, ValueError, KeyError) as e:
      print(f"{PROG}: {table.name}/{row.name} failed: {e}", file=sys.stderr)
      failed.append(row.name)
      continue
    path = results_io.row_path(results, table.name, row.name)
    results_io.write_json(path, record)
    print(f"{PROG}: wrote {path}", flush=True)
  return failed


# --------------------------------------------------------------------------- rendering
def read_records(table: Table, results: Path) -> dict:
  """Row name -> results JSON, for the rows of ``table`` that have one."""
  records = {}
  for row in table.rows:
    record = results_io.read_row(results, table.name, row.name)
    if record is not None:
      records[row.name] = record
  return records


def render(tables, results: Path, results_md: Path, identities: bool = False) -> list:
  """Regenerates the sections of ``tables`` in ``results_md`` and their figures (in
  ``figures/`` beside it) from the JSONs under ``results``; with ``identities`` also the
  gradient-identity figure. Returns the figure paths written."""
  import identity_remainders
  import results_figures
  import results_md as md
  folder = Path(results_md).parent / "figures"
  text = Path(results_md).read_text()
  written = []
  for table in tables:
    records = read_records(table, results)
    figures = results_figures.draw(table, records, folder)
    written += [folder / name for _, name in figures]
    body = md.render_table(table, records, [(alt, f"figures/{name}") for alt, name in figures])
    text = md.replace_section(text, table, body)
  if identities:
    data = identity_remainders.cached(Path(results) / "identities" / "remainders.json")
    results_figures.identity_remainders(data, folder / results_figures.IDENTITIES)
    written.append(folder / results_figures.IDENTITIES)
  results_io.atomic_write_text(Path(results_md), text)
  return written


def main(argv=None) -> int:
  try:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
  except UsageError as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 2
  tables = [TABLES[args.table]] if args.table else list(TABLES.values())
  if args.quick:
    results = args.results or Path(tempfile.mkdtemp(prefix="jaxmeta-reproduce-"))
    results_md = args.results_md or results / "RESULTS.md"
    if not results_md.exists():   # regenerate a copy, never the committed file
      results_md.parent.mkdir(parents=True, exist_ok=True)
      shutil.copyfile(results_io.RESULTS_MD, results_md)
  else:
    results = args.results or results_io.RESULTS
    results_md = args.results_md or results_io.RESULTS_MD
  failed = []
  if not args.render_only:
    table = tables[0]
    rows = [r for r in table.rows if args.rows is None or r.name in args.rows]
    failed = run_rows(table, rows, results, args.data_dir, args.quick, args.fresh)
  try:
    render(tables, results, results_md, identities=args.render_only and args.table is None)
  except (ValueError, OSError) as e:   # broken markers, an unreadable JSON
    print(f"{PROG}: error: cannot regenerate {results_md}: {e}", file=sys.stderr)
    return 1
  print(f"{PROG}: regenerated {', '.join(t.name for t in tables)} in {results_md} "
        f"(results: {results})")
  if failed:
    print(f"{PROG}: failed rows: {', '.join(failed)}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
