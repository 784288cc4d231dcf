"""The README's research-code snippet runs as written and trains."""
import re
from pathlib import Path


def test_readme_snippet_runs(capsys):
  text = (Path(__file__).parents[1] / "README.md").read_text()
  snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
  namespace = {}
  exec(compile(snippet, "README.md", "exec"), namespace)
  summary = namespace["jaxmeta"].summarize(namespace["curves"][:, 10])
  pre = namespace["curves"][:, 0].mean()
  assert summary["median"] < 0.5 * pre, (summary, pre)
