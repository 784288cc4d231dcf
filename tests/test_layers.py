"""Imports run one way: the library never imports the application, and no module imports
itself back through others (function-level imports included)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxmeta"
# The application layer: run configuration, name tables, host-side experiment, command line.
APPLICATION = {"jaxmeta.config", "jaxmeta.presets", "jaxmeta.registry", "jaxmeta.experiment",
               "jaxmeta.plots", "jaxmeta.cli"}


def _module_name(path: Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set:
  """jaxmeta modules that ``name`` imports anywhere in its source (``from a import b`` counts
  as importing ``a.b`` when that is a module)."""
  out = set()
  for node in ast.walk(ast.parse(MODULES[name].read_text())):
    if isinstance(node, ast.Import):
      out.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      out.add(node.module)
      out.update(f"{node.module}.{a.name}" for a in node.names)
  return {m for m in out if m in MODULES and m != name}


def test_the_layer_lists_name_real_modules():
  assert APPLICATION <= set(MODULES)
  assert len(MODULES) > 30


@pytest.mark.parametrize("name", sorted(set(MODULES) - APPLICATION - {"jaxmeta"}))
def test_library_module_does_not_import_the_application(name):
  assert not imports_of(name) & APPLICATION, f"{name} imports {sorted(imports_of(name) & APPLICATION)}"


def test_no_import_cycles():
  """Package __init__ files re-export their modules; edges into a package are left out so
  that only module-to-module dependencies count."""
  packages = {n for n, p in MODULES.items() if p.name == "__init__.py"}
  graph = {n: imports_of(n) - packages for n in MODULES if n not in packages}
  state, stack = {}, []

  def visit(n):
    state[n] = "open"
    stack.append(n)
    for m in sorted(graph.get(n, ())):
      if state.get(m) == "open":
        cycle = stack[stack.index(m):] + [m]
        pytest.fail("import cycle: " + " -> ".join(cycle))
      if m not in state:
        visit(m)
    stack.pop()
    state[n] = "done"

  for n in sorted(graph):
    if n not in state:
      visit(n)


def test_a_cycle_would_be_found(monkeypatch):
  """The cycle check is live: a module importing its importer is reported."""
  real = imports_of
  fake = lambda n: real(n) | ({"jaxmeta.experiment"} if n == "jaxmeta.checkpoint" else set())
  monkeypatch.setitem(globals(), "imports_of", fake)
  with pytest.raises(pytest.fail.Exception, match="import cycle"):
    test_no_import_cycles()
