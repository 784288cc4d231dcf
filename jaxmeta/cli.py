"""Command line: ``jaxmeta train | eval | presets``. Parsing and validation only; the work
is in :mod:`jaxmeta.experiment`. Bad input exits with status 2 and one error line."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from jaxmeta.errors import JaxmetaError

# Subcommands registered by later modules (data download, Lake evaluation, ...):
# name -> (add_arguments(parser), run(args) -> int)
EXTRA_COMMANDS: dict[str, tuple[Callable, Callable]] = {}


def _int_list(text: str) -> tuple:
  try:
    return tuple(int(t) for t in text.split(",") if t.strip())
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def _add_train_args(p: argparse.ArgumentParser):
  # Defaults are None so that a --preset can fill in what the user did not give.
  g = p.add_argument_group("run")
  g.add_argument("--preset", help="named paper settings (see `jaxmeta presets`)")
  g.add_argument("--task", help="task distribution (default: sinusoid)")
  g.add_argument("--algo", help="maml | fomaml | reptile | pretrained | ... (default: maml)")
  g.add_argument("--model", help="model name, or auto for the task's paper model")
  g.add_argument("--hidden", type=_int_list, help="MLP hidden widths, e.g. 40,40")
  g.add_argument("--ways", type=int, help="N classes per task (classification)")
  g.add_argument("--shots", type=int, help="K support examples (per class)")
  g.add_argument("--query", type=int, help="query examples (per class)")
  g.add_argument("--inner-lr", type=float, help="alpha, inner SGD step size (default 0.01)")
  g.add_argument("--inner-steps", type=int, help="k, inner steps in training (default 1)")
  g.add_argument("--meta-batch-size", type=int, help="tasks per meta-step (default 25)")
  g.add_argument("--optimizer", help="outer optimizer: adam | sgd")
  g.add_argument("--outer-lr", type=float, help="beta, outer learning rate (default 1e-3)")
  g.add_argument("--steps", type=int, help="meta-steps (default 70000)")
  g.add_argument("--seed", type=int)
  g.add_argument("--steps-per-call", type=int, help="meta-steps per jitted dispatch (lax.scan)")
  g.add_argument("--task-axis", help="vmap | map | auto: how tasks are batched")
  g.add_argument("--remat", action="store_const", const=True, help="rematerialise inner steps")
  g.add_argument("--filters", type=int, help="Conv-4 channels (default 64)")
  g.add_argument("--norm", help="Conv-4 normalisation: batch (transductive, as the MAML code) | "
                 "none | support (support-set statistics only)")
  g.add_argument("--conv-impl", help="auto | lax | patches: convolution implementation "
                 "(auto: patches+matmul on CPU, lax.conv on GPU/TPU)")
  g.add_argument("--log-every", type=int)
  g.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default ~10 s)")
  g.add_argument("--eval-shots", type=int, help="K at evaluation after training (default 5)")
  g.add_argument("--eval-query", type=int)
  g.add_argument("--eval-steps", type=_int_list, help="adaptation steps to report, e.g. 1,5,10")
  g.add_argument("--eval-tasks", type=int)
  g.add_argument("--baseline", help="none | pretrained: also train the MAML paper's baseline")
  g.add_argument("--eval-ways", type=int, help="N at evaluation (default: --ways); e.g. ProtoNets "
                 "train 60-way and test 5-way")
  g.add_argument("--read-steps", type=int, help="Matching Networks FCE: reads of the support set (default 5)")
  g.add_argument("--distort", action="store_const", const=True,
                 help="Siamese: random affine distortions of training images (Koch et al.)")
  g.add_argument("--cosine-scale", type=float, help="Matching Networks: s in softmax(s * cosine) "
                 "(default 1, the paper's kernel)")
  g.add_argument("--learn-scale", action="store_const", const=True,
                 help="Matching Networks: learn s, starting from --cosine-scale")
  g.add_argument("--eval-batch", type=int, help="test tasks per jitted evaluation call "
                 "(default 100; lower it if evaluation runs out of memory)")
  d = p.add_argument_group("image data (see jaxmeta.data.omniglot)")
  d.add_argument("--data-dir", help="where the official data files are "
                 "(default: $JAXMETA_DATA, else ~/.cache/jaxmeta/data)")
  d.add_argument("--cache-dir", help="decoded-image cache (default: ~/.cache/jaxmeta)")
  d.add_argument("--data-source", help="files (official zips or folders) | tfds")
  d.add_argument("--download", action="store_const", const=True,
                 help="download missing official files first (sha256-verified)")
  d.add_argument("--image-size", type=int, help="resize images to this side (default 28)")
  d.add_argument("--rotation", help="classes (rotated train characters are new classes) | "
                 "per-task (one random rotation per class per task) | none")
  d.add_argument("--split", help="class split: small-sets | lake-small | lake | holdout:ALPHABET | "
                 "random:TRAIN,VAL,TEST | maml | reptile (default small-sets)")
  d.add_argument("--within-alphabet", action="store_const", const=True,
                 help="draw all N classes of a task from one alphabet")
  p.add_argument("--workdir", type=Path, help="run directory (config, metrics, checkpoints)")
  p.add_argument("--force", action="store_true", help="discard a different run in --workdir")
  p.add_argument("--no-progress", action="store_true")


CONFIG_FIELDS = {f.name for f in dataclasses.fields(__import__("jaxmeta.config", fromlist=["Config"]).Config)}


def _config_from_args(args):
  from jaxmeta.config import from_preset
  overrides = {k: v for k, v in vars(args).items() if k in CONFIG_FIELDS and k != "preset"}
  config = from_preset(args.preset, **overrides)
  if args.preset is None and args.task in (None, "sinusoid") and args.algo in (None, "maml") \
      and args.baseline is None:
    config = config.replace(baseline="pretrained")  # the default job compares with the baseline
  return config


def cmd_train(args) -> int:
  from jaxmeta import experiment
  config = _config_from_args(args)
  state = experiment.train(config, args.workdir, force=args.force, progress=not args.no_progress)
  try:
    results = {config.algo: experiment.evaluate_run(config, state.params)}
  except JaxmetaError as e:  # e.g. --split lake-small: every character was used for training
    print(f"trained {config.steps} steps; not evaluated: {e}")
    return 0
  if config.baseline == "pretrained" and config.algo != "pretrained":
    base_cfg = config.replace(algo="pretrained", baseline="none", inner_steps=0)
    base_dir = None if args.workdir is None else args.workdir / experiment.BASELINE_DIR
    base_state = experiment.train(base_cfg, base_dir, force=args.force, progress=not args.no_progress)
    results["pretrained"] = experiment.evaluate_run(base_cfg, base_state.params)
  paper = experiment.PAPER_SINUSOID_K5 if config.task == "sinusoid" and config.eval_shots == 5 else None
  print(f"\n{config.task}: {config.eval_tasks} fresh tasks, K = {config.eval_shots}")
  print(experiment.format_table(results, paper))
  if args.workdir is not None:
    from jaxmeta.checkpoint import atomic_write_json
    atomic_write_json(args.workdir / "eval.json", results)
  return 0


def _add_eval_args(p):
  p.add_argument("--workdir", type=Path, required=True)
  p.add_argument("--out", type=Path, help="results JSON (default: print only)")
  p.add_argument("--shots", type=int, help="K at evaluation (default: the run's --eval-shots)")
  p.add_argument("--ways", type=int, help="N at evaluation (default: the run's --eval-ways or --ways)")
  p.add_argument("--query", type=int, help="query examples at evaluation")
  p.add_argument("--eval-steps", type=_int_list, help="adaptation steps, e.g. 1,5,10")
  p.add_argument("--num-tasks", type=int, help="fresh tasks to evaluate (default: the run's)")
  p.add_argument("--seed", type=int, help="evaluation seed (default: the run's)")
  p.add_argument("--split", default="test", help="train | val | test (image tasks)")
  p.add_argument("--data-dir", help="where the data is now (default: the run's)")
  p.add_argument("--cache-dir", help="decoded-image cache (default: the run's)")


def cmd_eval(args) -> int:
  import json
  from jaxmeta import experiment
  from jaxmeta.checkpoint import atomic_write_json
  from jaxmeta.config import validate
  from jaxmeta import registry
  from jaxmeta.errors import ConfigError
  if args.split not in ("train", "val", "test"):
    raise ConfigError("--split", f"must be train, val or test, got {args.split!r}")
  for flag, value in (("--shots", args.shots), ("--query", args.query), ("--num-tasks", args.num_tasks)):
    if value is not None and value <= 0:
      raise ConfigError(flag, f"must be a positive integer, got {value}")
  if args.eval_steps is not None and (not args.eval_steps or min(args.eval_steps) < 0):
    raise ConfigError("--eval-steps", f"must be comma-separated non-negative integers, got {args.eval_steps}")
  if args.seed is not None and args.seed < 0:
    raise ConfigError("--seed", f"must be a non-negative integer, got {args.seed}")
  config, params = experiment.load_run(args.workdir, data_dir=getattr(args, "data_dir", None),
                                       cache_dir=getattr(args, "cache_dir", None))
  changes = {}
  if args.shots is not None:
    changes["eval_shots"] = args.shots
  if getattr(args, "ways", None) is not None:
    changes["eval_ways"] = args.ways
  if args.query is not None:
    changes["eval_query"] = args.query
  if args.eval_steps is not None:
    changes["eval_steps"] = args.eval_steps
  if args.num_tasks is not None:
    changes["eval_tasks"] = args.num_tasks
  if args.seed is not None:
    changes["seed"] = args.seed
  config = validate(config.replace(**changes), **registry.names())
  results = experiment.evaluate_run(config, params, split=args.split)
  print(json.dumps(results, indent=2))
  if args.out is not None:
    atomic_write_json(args.out, results)
  return 0


def cmd_presets(args) -> int:
  from jaxmeta.config import DESCRIPTIONS, PRESETS
  for name in sorted(PRESETS):
    print(f"{name:<28} {DESCRIPTIONS.get(name, '')}")
  return 0


class _Parser(argparse.ArgumentParser):
  """argparse with the one-line error format of the rest of the CLI (exit status 2)."""

  def error(self, message):
    self.exit(2, f"jaxmeta: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog="jaxmeta", description="Meta-learning in pure JAX.")
  sub = parser.add_subparsers(dest="command")
  p = sub.add_parser("train", help="meta-train (default: MAML on sinusoid regression)")
  _add_train_args(p)
  p.set_defaults(run=cmd_train)
  p = sub.add_parser("eval", help="evaluate a trained run on fresh tasks")
  _add_eval_args(p)
  p.set_defaults(run=cmd_eval)
  p = sub.add_parser("presets", help="list the named paper settings")
  p.set_defaults(run=cmd_presets)
  import jaxmeta.data.commands  # noqa: F401  (registers download, eval-lake)
  for name, (add_args, run) in EXTRA_COMMANDS.items():
    p = sub.add_parser(name)
    add_args(p)
    p.set_defaults(run=run)
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = build_parser()
  try:
    args = parser.parse_args(argv)
  except SystemExit as e:  # argparse: --help (0) or a malformed flag (2, one line printed)
    return int(e.code or 0)
  if getattr(args, "run", None) is None:
    parser.print_help()
    return 2
  try:
    return args.run(args)
  except JaxmetaError as e:
    print(f"jaxmeta: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("jaxmeta: interrupted; rerun the same command to resume from the last checkpoint",
          file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
