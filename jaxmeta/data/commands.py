"""``jaxmeta download`` and ``jaxmeta eval-lake``, registered in :data:`jaxmeta.cli.EXTRA_COMMANDS`."""
from __future__ import annotations

from pathlib import Path

from jaxmeta.cli import EXTRA_COMMANDS
from jaxmeta.errors import ConfigError


def _add_download_args(p):
  p.add_argument("dataset", help="omniglot (the four official zips) | omniglot-small (the two small sets)")
  p.add_argument("--data-dir", type=Path, help="data root (default: $JAXMETA_DATA, else ~/.cache/jaxmeta/data)")
  p.add_argument("--url", help="base URL to fetch from (default: the official location)")
  p.add_argument("--no-progress", action="store_true")


def cmd_download(args) -> int:
  from jaxmeta.data.download import download_omniglot
  from jaxmeta.data.omniglot import SMALL_SETS, default_data_dir
  if args.dataset not in ("omniglot", "omniglot-small"):
    raise ConfigError("dataset", f"must be omniglot or omniglot-small, got {args.dataset!r}")
  data_dir = args.data_dir or default_data_dir()
  names = None if args.dataset == "omniglot" else SMALL_SETS
  for path in download_omniglot(data_dir, names, base_url=args.url, progress=not args.no_progress):
    print(f"{path}: sha256 verified")
  return 0


def _add_eval_lake_args(p):
  p.add_argument("--runs", type=Path, required=True, help="all_runs.zip or its extracted folder")
  p.add_argument("--workdir", type=Path, help="a trained run to score")
  p.add_argument("--baseline", help="mhd: score with the Modified Hausdorff Distance instead")
  p.add_argument("--out", type=Path, help="results JSON")
  p.add_argument("--steps", type=int, help="adaptation steps (default: the run's largest --eval-steps)")
  p.add_argument("--data-dir", help="where the run's training data is now (default: the run's)")
  p.add_argument("--cache-dir", help="decoded-image cache (default: the run's)")


def cmd_eval_lake(args) -> int:
  from jaxmeta.data import lake
  return lake.main(args)


EXTRA_COMMANDS.setdefault("download", (_add_download_args, cmd_download))
EXTRA_COMMANDS.setdefault("eval-lake", (_add_eval_lake_args, cmd_eval_lake))
