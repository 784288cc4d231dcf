"""Runs a notebook of ``notebooks/`` top to bottom for a test and reads the JSON it wrote.

Each notebook writes its measured numbers to ``$JAXMETA_NOTEBOOK_OUT/<name>.json``; the
tests assert on those numbers. Committed notebooks carry no outputs (they are rerun here).
Importing this module skips the importing test module when the notebook tools are missing.
"""
import json
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


def assert_no_outputs(path: pathlib.Path) -> None:
  """The committed notebook has no outputs or execution counts in its code cells."""
  nb = nbformat.read(path, as_version=4)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert not cell.get("outputs") and cell.get("execution_count") is None, cell.source[:80]


def execute(path: pathlib.Path, out: pathlib.Path, result: str, env: dict = ()) -> dict:
  """Executes ``path`` with ``$JAXMETA_NOTEBOOK_OUT=out`` (and ``env``), headless
  matplotlib, and returns ``out/result`` parsed; raises on the first failing cell."""
  nb = nbformat.read(path, as_version=4)
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("JAXMETA_NOTEBOOK_OUT", str(out))
    mp.setenv("MPLBACKEND", "Agg")
    for key, value in dict(env).items():
      mp.setenv(key, str(value))
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()   # raises CellExecutionError on the first failing cell
  return json.loads((out / result).read_text())
