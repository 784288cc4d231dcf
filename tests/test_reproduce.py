"""benchmarks/reproduce.py: the --quick smoke run of the sinusoid table, rendering every
table from the committed results JSONs (no training), the tables' coverage of the
library's methods, and the refusals of bad input."""
import json
import math
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import recorded  # noqa: E402
import reproduce  # noqa: E402
import results_figures  # noqa: E402
from tables import TABLES  # noqa: E402


def _begin(name):
  return f"<!-- reproduce.py: table {name} (generated; edit benchmarks/tables.py, not this table) -->"


def _end(name):
  return f"<!-- end reproduce.py: {name} -->"


def _split(text, names):
  """(text outside every generated section, {name: section}); written independently of
  results_md so that the test does not trust the code it checks."""
  sections = {}
  for name in names:
    head, rest = text.split(_begin(name))
    body, tail = rest.split(_end(name))
    sections[name] = body
    text = head + _begin(name) + _end(name) + tail
  return text, sections


def test_quick_sinusoid_writes_every_row_and_only_its_section(tmp_path):
  md = tmp_path / "RESULTS.md"
  shutil.copyfile(BENCHMARKS / "RESULTS.md", md)
  before = md.read_bytes()
  rc = reproduce.main(["--table", "sinusoid", "--quick", "--results", str(tmp_path / "results"),
                       "--results-md", str(md)])
  assert rc == 0
  table = TABLES["sinusoid"]
  for row in table.rows:
    record = json.loads((tmp_path / "results" / "sinusoid" / f"{row.name}.json").read_text())
    assert record["source"] == "reproduce.py" and record["quick"], row.name
    for point in table.points:
      assert math.isfinite(record["results"][point]["mean"]), (row.name, point)
      assert math.isfinite(record["results"][point]["ci95"]), (row.name, point)
    assert record["command"].startswith(f"jaxmeta train --preset {row.preset} ")
    assert record["curve"] and record["hardware"]["cpu_count"] and record["date"]
    assert set(record["predictions"]["after"]) == {"0", "1", "10"}
  names = list(TABLES)
  outside_before, sections_before = _split(before.decode(), names)
  outside_after, sections_after = _split(md.read_text(), names)
  assert outside_after.encode() == outside_before.encode()   # the prose, byte for byte
  assert {n: s for n, s in sections_after.items() if n != "sinusoid"} == \
         {n: s for n, s in sections_before.items() if n != "sinusoid"}
  section = sections_after["sinusoid"]
  for row in table.rows:
    line = next(l for l in section.splitlines() if f"`jaxmeta train --preset {row.preset}`" in l)
    assert line.startswith(f"| {row.method} |") and "(--quick smoke run)" in line
  assert "not yet" not in section
  for _, name in results_figures.figure_files(table):
    assert (tmp_path / "figures" / name).stat().st_size > 1000, name
    assert f"(figures/{name})" in section


def test_render_only_regenerates_the_committed_results_md(tmp_path):
  """Every table renders from the committed JSONs without training, every row appears,
  every figure is written, and the result is the committed RESULTS.md itself (so a row's
  JSON and its table never disagree)."""
  md = tmp_path / "RESULTS.md"
  shutil.copyfile(BENCHMARKS / "RESULTS.md", md)
  assert reproduce.main(["--render-only", "--results-md", str(md)]) == 0
  text = md.read_text()
  _, sections = _split(text, list(TABLES))
  for table in TABLES.values():
    for row in table.rows:
      assert f"| {row.method} | {row.setting} |" in sections[table.name], (table.name, row.name)
    for _, name in results_figures.figure_files(table):
      assert (tmp_path / "figures" / name).stat().st_size > 1000, name
  assert (tmp_path / "figures" / results_figures.IDENTITIES).exists()
  assert text == (BENCHMARKS / "RESULTS.md").read_text(), \
      "benchmarks/RESULTS.md is stale: run python benchmarks/reproduce.py --render-only"


def test_every_method_of_the_library_appears_in_a_table():
  from jaxmeta import registry
  from jaxmeta.presets import PRESETS
  shown = {row.algo for table in TABLES.values() for row in table.rows}
  assert set(registry.ALGORITHMS) <= shown, set(registry.ALGORITHMS) - shown
  for table in TABLES.values():
    for row in table.rows:
      assert (row.preset is None) != (row.script is None), row.name
      if row.preset is not None:
        assert PRESETS[row.preset].values["algo"] == row.algo, row.name


def test_recorded_jsons_are_the_transcriptions_and_name_their_section():
  """The committed JSONs are recorded.py's transcriptions (or rows rerun since), each of a
  declared row, each recorded one with its RESULTS.md section and command."""
  expected = {(r["table"], r["row"]): r for r in recorded.records()}
  for path in sorted((BENCHMARKS / "results").glob("*/*.json")):
    table, row = path.parent.name, path.stem
    if table == "identities":
      continue
    assert row in {r.name for r in TABLES[table].rows}, path
    record = json.loads(path.read_text())
    if record["source"] == "recorded":
      assert record == json.loads(json.dumps(expected[table, row])), path
      assert record["recorded_from"].startswith("benchmarks/RESULTS.md, '") and record["command"]


@pytest.mark.parametrize("argv, flag", [
    (["--table", "nope"], "--table"),
    (["--table", "sinusoid", "--rows", "maml,nope"], "--rows"),
    (["--rows", "maml"], "--rows"),
    ([], "--table"),
    (["--table", "sinusoid", "--quick", "--results-md", str(BENCHMARKS / "RESULTS.md")],
     "--results-md"),
    (["--table", "sinusoid", "--quick", "--render-only"], "--quick"),
])
def test_bad_input_is_one_line_naming_the_flag_and_writes_nothing(tmp_path, capsys, argv, flag):
  md = BENCHMARKS / "RESULTS.md"
  before = md.read_bytes()
  rc = reproduce.main(argv + ["--results", str(tmp_path / "results")]
                      if "--quick" not in argv else argv)
  err = capsys.readouterr().err.strip()
  assert rc == 2
  assert len(err.splitlines()) == 1 and err.startswith(f"reproduce.py: error: {flag}:"), err
  if flag in ("--table", "--rows"):
    assert "choose from" in err and ("sinusoid" in err or "maml" in err)
  assert not (tmp_path / "results").exists() and md.read_bytes() == before
