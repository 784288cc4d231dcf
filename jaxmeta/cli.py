"""Command line: ``jaxmeta train | eval | presets | download | eval-lake | plot``.

Parsing only; the work is in :mod:`jaxmeta.experiment` and the library. The ``train``
flags and their ``--help`` are generated from the option declarations
(:data:`jaxmeta.config.OPTIONS`). Bad input exits with status 2 and one line
``jaxmeta: error: --flag: ...``: the library names parameters (``eval_shots``), and
:func:`main` prints the flag of the command that sets it (``--shots`` for ``jaxmeta eval``).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

from jaxmeta.errors import ConfigError, JaxmetaError


def _int_list(text: str) -> tuple:
  items = [t.strip() for t in text.split(",")]
  try:
    if not all(items):
      raise ValueError
    return tuple(int(t) for t in items)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected comma-separated integers without empty items, "
                                     f"got {text!r}") from None


_TYPES = {"int": int, "float": float, "ints": _int_list, "str": str}


def _help_text(option) -> str:
  default = option.default
  if isinstance(default, tuple):
    default = ",".join(map(str, default))
  parts = [option.help.rstrip(".")]
  allowed = option.describe_allowed()
  detail = [] if option.kind == "bool" or default is None else [f"default: {default}"]
  if allowed and option.kind != "bool":
    detail.append(allowed)
  if option.resumable:
    detail.append("may change on resume")
  text = f"{parts[0]} ({'; '.join(detail)})" if detail else parts[0]
  return text.replace("%", "%%")


def add_option(group, option) -> None:
  """One argparse flag for an option; the default is ``None`` so a preset can fill it in."""
  kw = dict(dest=option.name, default=None, help=_help_text(option))
  if option.kind == "bool":
    kw["action"] = argparse.BooleanOptionalAction
  else:
    kw["type"] = _TYPES[option.kind]
    kw["metavar"] = option.name.upper()
  group.add_argument(option.flag, **kw)


def _method_groups(algo: Optional[str]):
  """(title, options) of each set of methods declaring the same options; only ``algo``'s
  when one is named."""
  from jaxmeta import registry
  owners: dict[str, list] = {}
  for name, entry in registry.ALGORITHMS.items():
    for option in entry.options:
      owners.setdefault(option.name, []).append(name)
  groups: dict[tuple, list] = {}
  from jaxmeta.config import OPTIONS
  for option_name, algos in owners.items():
    if algo is None or algo in algos:
      groups.setdefault(tuple(algos), []).append(OPTIONS[option_name])
  return [(f"options of --algo {', '.join(algos)}", opts) for algos, opts in groups.items()]


def _add_train_args(p: argparse.ArgumentParser, algo: Optional[str] = None):
  from jaxmeta import registry
  from jaxmeta.config import OPTIONS
  method_owned = {o.name for e in registry.ALGORITHMS.values() for o in e.options}
  groups = {}
  for option in OPTIONS.values():
    if option.name in method_owned:
      continue
    if option.group not in groups:
      groups[option.group] = p.add_argument_group(option.group)
    add_option(groups[option.group], option)
  for title, opts in _method_groups(algo):
    g = p.add_argument_group(title)
    for option in opts:
      add_option(g, option)
  if algo is not None:   # `jaxmeta train --algo NAME --help`: say what the method reads
    flags = [OPTIONS[n].flag for n in registry.options_read_by(algo)]
    p.description = (f"--algo {algo}: {registry.ALGORITHMS[algo].description} It reads "
                     f"{', '.join(flags) or 'no method options'}, besides the run, evaluation "
                     "and data options.")
  else:
    p.epilog = "`jaxmeta train --algo NAME --help` lists the options one method reads."
  p.add_argument("--workdir", type=Path, help="run directory (config, metrics, checkpoints)")
  p.add_argument("--force", action="store_true", help="discard a different run in --workdir")
  p.add_argument("--no-progress", action="store_true")
  _add_process_args(p)


def _add_process_args(p):
  """Flags of a multi-process run (jax.distributed); not part of the run's config."""
  g = p.add_argument_group("processes (several hosts, or several processes on one host)")
  g.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address: every "
                 "process of the run is started with the same --coordinator and options and "
                 "its own --process-id; auto: read a cluster's environment (SLURM, Open MPI, "
                 "...). Only process 0 writes files")
  g.add_argument("--num-processes", type=int, metavar="P", help="processes in the run")
  g.add_argument("--process-id", type=int, metavar="I", help="this process, 0..P-1")
  g.add_argument("--join-timeout", type=int, default=None, metavar="SECONDS",
                 help="how long to wait for every process to join (default: 60), and for a "
                 "silent process during the run (default: 20)")


def _join(args) -> None:
  """``jax.distributed.initialize`` when the flags ask for several processes; first thing,
  before any device is used."""
  from jaxmeta import checks, parallel
  given = [f for f, v in (("--num-processes", args.num_processes),
                          ("--process-id", args.process_id)) if v is not None]
  if args.coordinator is None:
    if given:
      verb = "needs" if len(given) == 1 else "need"
      raise ConfigError("coordinator", f"{' and '.join(given)} {verb} --coordinator HOST:PORT "
                        "(process 0's address)")
    return
  kw = {}
  if args.join_timeout is not None:
    timeout = checks.integer("join_timeout", args.join_timeout)
    kw = dict(timeout_s=timeout, heartbeat_timeout_s=min(timeout, parallel.HEARTBEAT_TIMEOUT_S))
  parallel.initialize(args.coordinator, args.num_processes, args.process_id, **kw)


def _config_from_args(args):
  from jaxmeta.config import OPTIONS, from_preset
  overrides = {k: v for k, v in vars(args).items() if k in OPTIONS and k != "preset"}
  config = from_preset(args.preset, **overrides)
  if args.preset is None and args.task in (None, "sinusoid") and args.algo in (None, "maml") \
      and args.baseline is None:
    config = config.replace(baseline="pretrained")  # the default job compares with the baseline
  return config


def cmd_train(args) -> int:
  from jaxmeta import experiment, parallel
  from jaxmeta.config import validate
  config = validate(_config_from_args(args))   # bad flags fail before joining other processes
  _join(args)
  results = experiment.train_and_evaluate(config, args.workdir, force=args.force,
                                          progress=not args.no_progress)
  if results and parallel.is_writer():
    paper = experiment.PAPER_SINUSOID_K5 if config.task == "sinusoid" and config.eval_shots == 5 else None
    print(f"\n{config.task}: {config.eval_tasks} fresh tasks, K = {config.eval_shots}")
    print(experiment.format_table(results, paper))
  return 0


def _add_eval_args(p):
  # dest = the config field each flag overrides, so errors about it name this flag.
  p.add_argument("--workdir", type=Path, required=True)
  p.add_argument("--out", type=Path, help="results JSON (default: print only)")
  p.add_argument("--shots", dest="eval_shots", type=int,
                 help="K at evaluation (default: the run's --eval-shots)")
  p.add_argument("--ways", dest="eval_ways", type=int,
                 help="N at evaluation (default: the run's --eval-ways or --ways)")
  p.add_argument("--query", dest="eval_query", type=int, help="query examples at evaluation")
  p.add_argument("--eval-steps", type=_int_list, help="points of the curve, e.g. 1,5,10")
  p.add_argument("--num-tasks", dest="eval_tasks", type=int,
                 help="fresh tasks to evaluate (default: the run's)")
  p.add_argument("--seed", type=int, help="evaluation seed (default: the run's)")
  p.add_argument("--eval-batch", type=int, help="test tasks per jitted call (default: the "
                 "run's; lower it when a large model's evaluation runs out of memory)")
  p.add_argument("--inner-lr", type=float, help="step size of test-time SGD (methods that "
                 "fine-tune at test; tune it with --split val)")
  p.add_argument("--eval-norm", help="episode | support: batch norm at evaluation "
                 "(default: the run's --eval-norm)")
  p.add_argument("--test-update", help="meta-lstm: learned (the meta-LSTM) | sgd (its learned "
                 "initialisation with SGD at --inner-lr)")
  p.add_argument("--split", dest="eval_split", default="test", help="train | val | test (image tasks)")
  p.add_argument("--data-dir", help="where the data is now (default: the run's)")
  p.add_argument("--cache-dir", help="decoded-image cache (default: the run's)")
  p.add_argument("--devices", help="devices the tasks are split over, per process: all or a "
                 "count (default: the run's --devices)")
  _add_process_args(p)


def cmd_eval(args) -> int:
  from jaxmeta import checks, experiment
  from jaxmeta.checkpoint import atomic_write_json
  from jaxmeta.config import OPTIONS, validate
  checks.one_of("eval_split", args.eval_split, ("train", "val", "test"))
  changes = {k: getattr(args, k) for k in ("eval_shots", "eval_ways", "eval_query", "eval_steps",
                                           "eval_tasks", "seed", "inner_lr", "test_update",
                                           "eval_norm", "devices", "eval_batch")
             if getattr(args, k) is not None}
  for name, value in changes.items():   # before the run is loaded (and anything compiled)
    changes[name] = OPTIONS[name].validate(value)
  _join(args)
  # Every process reads the run (a multi-process evaluation needs the workdir on a shared
  # filesystem); only process 0 prints and writes.
  config, params = experiment.load_run(args.workdir, data_dir=args.data_dir,
                                       cache_dir=args.cache_dir)
  config = validate(config.replace(**changes))
  experiment.check_processes_agree(config)
  results = experiment.evaluate_run(config, params, split=args.eval_split)
  from jaxmeta import parallel
  if parallel.is_writer():
    print(json.dumps(results, indent=2))
    if args.out is not None:
      atomic_write_json(args.out, results)
  return 0


def cmd_presets(args) -> int:
  from jaxmeta.presets import PRESETS
  for name in sorted(PRESETS):
    p = PRESETS[name]
    print(f"{name:<32} {p.description}")
    if args.verbose:
      print(f"{'':<32} {p.paper}, {p.table}")
  return 0


def _add_download_args(p):
  p.add_argument("dataset", help="omniglot (the four official zips) | omniglot-small (the two small sets)")
  p.add_argument("--data-dir", type=Path, help="data root (default: $JAXMETA_DATA, else ~/.cache/jaxmeta/data)")
  p.add_argument("--url", help="base URL to fetch from (default: the official location)")
  p.add_argument("--no-progress", action="store_true")


def cmd_download(args) -> int:
  from jaxmeta import checks
  from jaxmeta.data.omniglot import SMALL_SETS, default_data_dir, download_omniglot
  checks.one_of("dataset", args.dataset, ("omniglot", "omniglot-small"))
  names = None if args.dataset == "omniglot" else SMALL_SETS
  for path in download_omniglot(args.data_dir or default_data_dir(), names, base_url=args.url,
                                progress=not args.no_progress):
    print(f"{path}: sha256 verified")
  return 0


def _add_eval_lake_args(p):
  p.add_argument("--runs", type=Path, required=True, help="all_runs.zip or its extracted folder")
  p.add_argument("--workdir", type=Path, action="append", help="a trained run to score; "
                 "several (--workdir A --workdir B ...) are scored as an ensemble, their class "
                 "probabilities averaged (metric-based runs)")
  p.add_argument("--baseline", help="mhd: score with the Modified Hausdorff Distance instead")
  p.add_argument("--out", type=Path, help="results JSON")
  p.add_argument("--steps", type=int, help="point of the method's evaluation curve to score at: "
                 "adaptation steps (default: the run's largest --eval-steps)")
  p.add_argument("--data-dir", help="where the run's training data is now (default: the run's)")
  p.add_argument("--cache-dir", help="decoded-image cache (default: the run's)")
  p.add_argument("--eval-norm", default="support", help="support (default: each test image "
                 "is classified on its own, Lake's protocol) | episode (the run's 20 test "
                 "images normalised together, transductive)")


def cmd_eval_lake(args) -> int:
  import numpy as np
  from jaxmeta import checks, experiment
  from jaxmeta.checkpoint import atomic_write_json
  from jaxmeta.data import lake
  from jaxmeta.train import summarize
  if args.baseline is not None:
    checks.one_of("baseline", args.baseline, ("mhd",))
  workdirs = args.workdir or []
  if (args.baseline is None) == (not workdirs):
    raise ConfigError("workdir", "give exactly one of --workdir (a trained run; several for an "
                      "ensemble) or --baseline mhd")
  if args.steps is not None:
    checks.integer("steps", args.steps, minimum=0)
    if len(workdirs) > 1:
      raise ConfigError("steps", "an ensemble averages metric-based runs, which do not adapt: "
                        "drop --steps")
  checks.one_of("eval_norm", args.eval_norm, ("episode", "support"))
  for workdir in workdirs:   # before reading the runs: a run that cannot be scored
    experiment.check_lake_scorable(workdir)
  runs = lake.load_runs(args.runs)
  where = dict(data_dir=args.data_dir, cache_dir=args.cache_dir, eval_norm=args.eval_norm)
  if args.baseline == "mhd":
    scored = {"per_run": lake.score_mhd(runs)}
  elif len(workdirs) == 1:   # the run's method names the axis of the curve point it is scored at
    scored = experiment.score_lake_runs(workdirs[0], runs, args.steps, **where)
  else:
    scored = experiment.score_lake_ensemble(workdirs, runs, **where)
  per_run = np.asarray(scored.pop("per_run"), np.float64)
  summary = summarize(per_run)
  result = {"error_rate": summary["mean"], "error_ci95": summary["ci95"],
            "per_run": [float(e) for e in per_run],
            "scorer": "mhd" if args.baseline == "mhd" else " + ".join(map(str, workdirs)),
            "runs": str(args.runs), "n_runs": len(runs), **scored}
  names = [r.name for r in runs]
  print("  ".join(f"{n} {e:.0f} %" for n, e in zip(names, per_run)), file=sys.stderr)
  print(f"error {summary['mean']:.2f} ± {summary['ci95']:.2f} % (mean ± 95 % interval over "
        f"{len(runs)} runs)", file=sys.stderr)
  print(json.dumps(result, indent=2))
  if args.out is not None:
    atomic_write_json(args.out, result)
  return 0


def _add_plot_args(p):
  p.add_argument("--workdir", type=Path, required=True,
                 help="a run directory (its metrics.jsonl; the run may still be training)")
  p.add_argument("--out", type=Path, help="image to write, .png, .pdf or .svg "
                 "(default: DIR/curves.png)")


def cmd_plot(args) -> int:
  from jaxmeta import plots
  print(plots.plot_run(args.workdir, args.out))
  return 0


class _Parser(argparse.ArgumentParser):
  """argparse with the one-line error format of the rest of the CLI (exit status 2), and
  negative numbers in any notation (``-1e-3``) read as values, so that the range check
  names the real problem instead of "expected one argument"."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$|^-inf$|^-nan$",
                                               re.IGNORECASE)

  def error(self, message):
    self.exit(2, f"jaxmeta: error: {message} (see `{self.prog} --help`)\n")


# name -> (help, add_arguments(parser), run(args) -> exit status)
COMMANDS = {
    "train": ("meta-train (default: MAML on sinusoid regression)", _add_train_args, cmd_train),
    "eval": ("evaluate a trained run on fresh tasks", _add_eval_args, cmd_eval),
    "presets": ("list the named paper settings",
                lambda p: p.add_argument("--verbose", "-v", action="store_true",
                                         help="also name each preset's paper and table"),
                cmd_presets),
    "download": ("download the official Omniglot files", _add_download_args, cmd_download),
    "eval-lake": ("score a run (or the MHD baseline) on Lake et al.'s 20-way runs",
                  _add_eval_lake_args, cmd_eval_lake),
    "plot": ("draw a run's training curves (loss, accuracy, steps/s, ...) from its "
             "metrics.jsonl", _add_plot_args, cmd_plot),
}


def _algo_in(argv: Sequence[str]) -> Optional[str]:
  """The method ``argv`` names (``--algo X``, or its ``--preset``'s), if it is registered."""
  from jaxmeta import registry
  from jaxmeta.config import PRESETS
  algo = preset = None
  for i, arg in enumerate(argv):
    for flag in ("--algo", "--preset"):
      value = None
      if arg == flag and i + 1 < len(argv):
        value = argv[i + 1]
      elif arg.startswith(flag + "="):
        value = arg.split("=", 1)[1]
      if value is not None and flag == "--algo":
        algo = value
      elif value is not None:
        preset = value
  if algo is None and preset in PRESETS:
    algo = PRESETS[preset].get("algo")
  return algo if algo in registry.ALGORITHMS else None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
  """The parser; ``argv`` only narrows ``train --help`` to the method it names."""
  parser = _Parser(prog="jaxmeta", description="Meta-learning in pure JAX.")
  sub = parser.add_subparsers(dest="command")
  for name, (help_text, add_args, run) in COMMANDS.items():
    p = sub.add_parser(name, help=help_text)
    if name == "train" and any(a in ("-h", "--help") for a in argv):
      add_args(p, _algo_in(argv))
    else:
      add_args(p)
    p.set_defaults(run=run, parser=p)
  return parser


def flag_for(parser: argparse.ArgumentParser, parameter: str) -> str:
  """The flag of ``parser`` that sets ``parameter`` (``eval_shots`` -> ``--shots`` for
  ``jaxmeta eval``); a parameter no flag sets is named as it is."""
  for action in parser._actions:
    if action.dest == parameter and action.option_strings:
      return action.option_strings[0]
  from jaxmeta.config import OPTIONS
  return OPTIONS[parameter].flag if parameter in OPTIONS else parameter


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  parser = build_parser(argv)
  try:
    args = parser.parse_args(argv)
  except SystemExit as e:  # argparse: --help (0) or a malformed flag (2, one line printed)
    return int(e.code or 0)
  if getattr(args, "run", None) is None:
    parser.print_help()
    return 2
  try:
    return args.run(args)
  except ConfigError as e:
    print(f"jaxmeta: error: {flag_for(args.parser, e.parameter)}: {e.message}", file=sys.stderr)
    return _exit(2)
  except JaxmetaError as e:
    print(f"jaxmeta: error: {e}", file=sys.stderr)
    return _exit(2)
  except Exception as e:  # noqa: BLE001
    if not _in_multiprocess_run():
      raise
    # A collective failed: another process of the run died or was killed.
    detail = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
    print(f"jaxmeta: error: lost contact with another process of the run ({detail}); start "
          "every process again with the same command to resume from the last checkpoint",
          file=sys.stderr)
    return _exit(1)
  except KeyboardInterrupt:
    print("jaxmeta: interrupted; rerun the same command to resume from the last checkpoint",
          file=sys.stderr)
    return 130


def _in_multiprocess_run() -> bool:
  if "jax" not in sys.modules:
    return False
  import jax
  try:
    return jax.distributed.is_initialized()
  except AttributeError:
    return False


def _exit(code: int) -> int:
  """``code``; in a multi-process run, exits at once: the normal exit would wait (minutes)
  to say goodbye to processes that may be gone."""
  if _in_multiprocess_run():
    sys.stdout.flush()
    sys.stderr.flush()
    import os
    os._exit(code)
  return code


if __name__ == "__main__":
  sys.exit(main())
