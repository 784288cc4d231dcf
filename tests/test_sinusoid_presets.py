"""The sinusoid presets resolve to the settings benchmarks/RESULTS.md reports."""
from jaxmeta import registry
from jaxmeta.cli import main
from jaxmeta.config import PRESETS, from_preset, validate


def test_reference_preset_is_maml_sinusoid_with_the_reference_code_step_size():
  paper = validate(from_preset("maml-sinusoid"), **registry.names())
  ref = validate(from_preset("maml-sinusoid-reference"), **registry.names())
  assert paper.inner_lr == 0.01 and ref.inner_lr == 0.001
  differing = [k for k in paper.to_json() if k != "preset" and paper.to_json()[k] != ref.to_json()[k]]
  assert differing == ["inner_lr"]


def test_explicit_flag_overrides_the_reference_preset():
  assert from_preset("maml-sinusoid-reference", inner_lr=0.005).inner_lr == 0.005


def test_presets_command_lists_it(capsys):
  assert main(["presets"]) == 0
  assert "maml-sinusoid-reference" in capsys.readouterr().out
  assert "maml-sinusoid-reference" in PRESETS
