"""Options declared once: --help, validation, config.json and resumption are generated from
the declarations, and a run written by jaxmeta 0.1 resumes under the current code."""
import json
import shutil
from pathlib import Path

import pytest

from jaxmeta import cli, config, registry
from jaxmeta.config import OPTIONS, Config, from_preset, validate
from jaxmeta.errors import ConfigError
from jaxmeta.presets import PRESETS

FIXTURES = Path(__file__).parent / "fixtures"


def _help(capsys, argv):
  assert cli.main(argv) == 0
  return " ".join(capsys.readouterr().out.split())   # argparse wraps lines


def test_train_help_lists_every_option_with_default_and_allowed_values(capsys):
  text = _help(capsys, ["train", "--help"])
  for option in OPTIONS.values():
    assert option.flag in text, option.name
  assert "--task TASK task distribution (default: sinusoid; one of sinusoid, omniglot, mini-imagenet)" in text
  assert "--norm NORM" in text and "one of batch, none, support" in text
  assert "--shots SHOTS K support examples (per class for classification) (default: 10; a positive integer up to 100000)" in text
  assert "--image-size IMAGE_SIZE resize images to this side (default: 28; an integer >= 4 up to 512)" in text
  assert "--eval-steps EVAL_STEPS" in text and "comma-separated non-negative integers" in text
  assert "--steps STEPS" in text and "may change on resume" in text
  assert "--remat, --no-remat" in text


def test_method_help_shows_the_options_it_reads(capsys):
  text = _help(capsys, ["train", "--algo", "matching", "--help"])
  assert "--cosine-scale" in text and "--learn-scale" in text
  assert "--distort" not in text and "--read-steps" not in text   # siamese's, matching-fce's
  assert "--algo matching:" in text and "It reads --cosine-scale, --learn-scale, --ways, --eval-ways" in text
  text = _help(capsys, ["train", "--preset", "maml-omniglot-5w1s", "--help"])
  assert "It reads --inner-params, --inner-lr, --inner-steps, --remat" in text
  assert "--cosine-scale" not in text
  everything = _help(capsys, ["train", "--help"])
  assert "--distort" in everything and "--read-steps" in everything


def test_each_method_declares_what_it_reads():
  for name, entry in registry.ALGORITHMS.items():
    for option in entry.option_names():
      assert option in OPTIONS, (name, option)
  assert {o.name for o in registry.ALGORITHMS["matching-fce"].options} == {
      "cosine_scale", "learn_scale", "read_steps"}
  assert OPTIONS["distort"] is registry.ALGORITHMS["siamese"].options[0]


def _bad_value(option):
  """A value the option must refuse, as command-line text (None: nothing to refuse)."""
  if option.kind == "bool":
    return None
  if option.choices is not None:
    return "no-such-value"
  if option.kind == "int":
    return "-7"
  if option.kind == "float":
    return "-1.5"
  if option.kind == "ints":
    return "1,-3"
  for candidate in ("no:such:value", __file__):   # a path check refuses a file
    try:
      option.validate(candidate)
    except ConfigError:
      return candidate
  return None


BAD = [(o.name, _bad_value(o)) for o in OPTIONS.values() if _bad_value(o) is not None]


@pytest.mark.parametrize("name, text", BAD, ids=[n for n, _ in BAD])
def test_every_bad_option_value_is_one_line_naming_its_flag(capsys, tmp_path, name, text):
  code = cli.main(["train", OPTIONS[name].flag, text, "--workdir", str(tmp_path / "w"), "--no-progress"])
  err = capsys.readouterr().err
  assert code == 2, err
  assert err.startswith(f"jaxmeta: error: {OPTIONS[name].flag}: ") and err.count("\n") == 1, err
  assert not (tmp_path / "w").exists()   # refused before anything was written or compiled


def test_at_least_every_kind_of_option_is_checked():
  assert {n for n, _ in BAD} >= {"ways", "inner_lr", "eval_steps", "norm", "algo", "split", "preset",
                                 "cosine_scale", "read_steps", "image_size", "data_source"}


def test_library_errors_name_parameters_and_the_cli_names_flags(capsys, tmp_path):
  with pytest.raises(ConfigError) as e:
    validate(Config(eval_shots=0))
  assert e.value.parameter == "eval_shots" and str(e.value).startswith("eval_shots: ")
  # `jaxmeta eval --shots` sets eval_shots: the error names --shots, not --eval-shots.
  run = tmp_path / "run"
  shutil.copytree(FIXTURES / "run_v0_1", run)
  assert cli.main(["eval", "--workdir", str(run), "--shots", "0"]) == 2
  assert capsys.readouterr().err == "jaxmeta: error: --shots: must be a positive integer, got 0\n"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_validate_and_round_trip_through_config_json(name):
  cfg = validate(from_preset(name))
  assert cfg.preset == name and PRESETS[name].paper and PRESETS[name].table
  for key, value in PRESETS[name].values.items():
    assert getattr(cfg, key) == value
  assert Config.from_json(json.loads(config.dumps(cfg))) == cfg


def test_resumability_is_declared_per_option():
  assert set(Config.RESUMABLE_CHANGES) == {
      "steps", "log_every", "tensorboard", "checkpoint_every", "eval_shots", "eval_query",
      "eval_steps", "eval_tasks", "baseline", "preset", "eval_ways", "data_dir", "cache_dir",
      "download", "eval_batch", "eval_inner_batch", "eval_norm", "test_update", "devices"}
  a = Config()
  assert a.differences(a.replace(steps=5, eval_tasks=3)) == []
  assert a.differences(a.replace(inner_lr=0.5, cosine_scale=2.0)) == ["inner_lr", "cosine_scale"]


def test_unknown_option_in_python_is_refused():
  with pytest.raises(ConfigError, match="^inner_rl: is not an option"):
    from_preset(None, inner_rl=0.1)


def test_run_written_by_version_0_1_resumes_bit_identically(tmp_path, capsys):
  """tests/fixtures/run_v0_1: `jaxmeta train --steps 4 --eval-tasks 5 --baseline none
  --log-every 2 --checkpoint-every 2 --steps-per-call 2` run by jaxmeta 0.1 (config.json in
  the old format). Resumed to step 8 it gives the eval.json of an uninterrupted 8-step run of
  0.1 (run_v0_1_resumed_to_8_eval.json), to the last bit."""
  run = tmp_path / "run"
  shutil.copytree(FIXTURES / "run_v0_1", run)
  argv = ["train", "--steps", "8", "--eval-tasks", "5", "--baseline", "none", "--log-every", "2",
          "--checkpoint-every", "2", "--steps-per-call", "2", "--workdir", str(run), "--no-progress"]
  assert cli.main(argv) == 0
  assert "resumed from step 4" in capsys.readouterr().out
  expected = json.loads((FIXTURES / "run_v0_1_resumed_to_8_eval.json").read_text())
  got = json.loads((run / "eval.json").read_text())
  assert got["maml"]["by_steps"] == expected["maml"]["by_steps"]
  steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
  assert steps == [2, 4, 6, 8]
