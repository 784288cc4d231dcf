"""Lake's one-shot task from the small sets alone: a k-fold over alphabets (issue 18).

Lake et al.'s official runs (``all_runs.zip``, 20 within-alphabet 20-way one-shot runs of
the evaluation alphabets) are not on this machine. This script stands in for them with
runs built the same way from alphabets HELD OUT of training, several folds so that no one
alphabet decides the figure:

* the two small background sets hold 8 alphabets (242 characters; Greek and Latin are in
  both). Tagalog (17 characters) cannot host a 20-way run and is always trained on; the
  other 7 are split into the folds of :data:`FOLDS`, each fold's model trained on every
  alphabet but its own (``--split holdout:A,B``);
* each held-out alphabet gets ``--runs-per-alphabet`` Lake-format runs
  (``runNN/training/classKK.png``, ``runNN/test/itemMM.png``, ``class_labels.txt``): 20
  of its characters, all training images from one drawer and all test images from
  another (a drawer pair, as in Lake's runs; a drawer is the ``_NN`` of the file name),
  the original 105x105 PNGs, the test items in a random order (``sources.txt`` names the
  zip member each image was copied from);
* each fold is scored by ``jaxmeta eval-lake`` exactly as the official runs would be
  (``--eval-norm support``: every test image on its own, non-transductive), and the
  figure is the mean percent error over all runs of all folds with its 95 % interval.

Usage (one configuration; ``--flags`` are passed to every fold's ``jaxmeta train``):

  python benchmarks/lake_folds.py --data-dir /work/shared/data/omniglot --out runs/lake-folds \\
      --name protonet --preset protonet-omniglot-korean
  python benchmarks/lake_folds.py --data-dir DIR --out runs/lake-folds --name fce \\
      --preset matching-fce-omniglot-korean --flags="--steps 1000"
  python benchmarks/lake_folds.py --data-dir DIR --out runs/lake-folds --ensemble protonet,fce

Trained folds are kept (``OUT/NAME/foldK``) and not retrained (an interrupted one resumes
from its checkpoint); the runs are written once
(``OUT/runs/foldK``, the same for every configuration, fixed by ``--seed``). The summary is
``OUT/NAME/summary.json``.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

# Held-out alphabets of each fold: 7 alphabets with >= 20 characters, 40-69 characters per
# fold (Latin alone: 26); every fold trains on 173-216 of the 242 characters.
FOLDS = (("Japanese_(katakana)", "Early_Aramaic"), ("Sanskrit", "Balinese"),
         ("Korean", "Greek"), ("Latin",))
WAYS = 20
_MEMBER = re.compile(r"(?:^|/)([^/]+)/([^/]+)/([^/]+)_(\d+)\.png$", re.IGNORECASE)


def drawings_by_character(data_dir: Path) -> dict[str, dict[int, tuple[Path, str]]]:
  """``{"alphabet/character": {drawer: (zip, member)}}`` over both small sets (a character
  in both sets is read once: its drawings are the same)."""
  from jaxmeta.data.omniglot import SMALL_SETS, find_sources
  found = find_sources(data_dir)
  out: dict[str, dict[int, tuple[Path, str]]] = defaultdict(dict)
  for name in SMALL_SETS:
    with zipfile.ZipFile(found[name]) as z:
      for member in sorted(z.namelist()):
        m = _MEMBER.search(member)
        if m:
          out[f"{m.group(1)}/{m.group(2)}"].setdefault(int(m.group(4)), (found[name], member))
  return dict(out)


def write_runs(drawings, alphabets, out: Path, runs_per_alphabet: int,
               rng: np.random.Generator) -> int:
  """Lake-format 20-way runs of ``alphabets`` in ``out`` (written to a temporary folder,
  then renamed: a folder that exists is complete). Returns the number of runs."""
  if out.exists():
    return len(list(out.glob("run*")))
  tmp = out.with_name(out.name + ".tmp")
  if tmp.exists():
    import shutil
    shutil.rmtree(tmp)
  r, zips = 0, {}
  for alphabet in alphabets:
    chars = sorted(c for c in drawings if c.split("/")[0] == alphabet)
    if len(chars) < WAYS:
      raise SystemExit(f"lake_folds: {alphabet} has {len(chars)} characters, fewer than {WAYS}")
    for _ in range(runs_per_alphabet):
      r += 1
      picked = [chars[i] for i in rng.choice(len(chars), WAYS, replace=False)]
      common = sorted(set.intersection(*(set(drawings[c]) for c in picked)))
      train_drawer, test_drawer = rng.choice(common, 2, replace=False)
      run = tmp / f"run{r:03d}"
      (run / "training").mkdir(parents=True)
      (run / "test").mkdir()
      order = rng.permutation(WAYS)          # test item m + 1 shows class order[m] + 1
      lines, sources = [], []
      for m, k in enumerate(order):
        for drawer, dest in ((train_drawer, run / "training" / f"class{k + 1:02d}.png"),
                             (test_drawer, run / "test" / f"item{m + 1:02d}.png")):
          zpath, member = drawings[picked[k]][int(drawer)]
          dest.write_bytes(zips.setdefault(zpath, zipfile.ZipFile(zpath)).read(member))
          sources.append(f"{dest.relative_to(run)} {zpath.name}:{member}")
        lines.append(f"{run.name}/test/item{m + 1:02d}.png {run.name}/training/class{k + 1:02d}.png")
      (run / "class_labels.txt").write_text("\n".join(lines) + "\n")
      (run / "sources.txt").write_text("\n".join(sorted(sources)) + "\n")   # provenance
  for z in zips.values():
    z.close()
  tmp.rename(out)
  return r


def _jaxmeta(*args) -> None:
  cmd = [sys.executable, "-m", "jaxmeta.cli", *map(str, args)]
  print("+ " + shlex.join(cmd[2:]), file=sys.stderr, flush=True)
  subprocess.run(cmd, check=True)


def _summary(per_run: np.ndarray) -> dict:
  from jaxmeta.train import summarize
  s = summarize(per_run)
  return {"error": s["mean"], "ci95": s["ci95"], "runs": int(per_run.size)}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--data-dir", type=Path, required=True, help="the Omniglot small sets")
  p.add_argument("--out", type=Path, required=True, help="folder of the runs and trained folds")
  p.add_argument("--name", help="name of this configuration (its folder under --out)")
  p.add_argument("--preset", help="the jaxmeta train preset of every fold")
  p.add_argument("--flags", default="", help="more jaxmeta train flags, one string given "
                 "after '=' (--flags=\"--steps 1000\")")
  p.add_argument("--ensemble", help="comma-separated names of trained configurations to score "
                 "as an ensemble (probabilities averaged) instead of training")
  p.add_argument("--folds", default=",".join(str(k) for k in range(len(FOLDS))),
                 help=f"which folds (0..{len(FOLDS) - 1}), comma-separated")
  p.add_argument("--runs-per-alphabet", type=int, default=10)
  p.add_argument("--seed", type=int, default=0, help="seed of the runs (not of training)")
  args = p.parse_args(argv)
  if (args.ensemble is None) == (args.preset is None):
    p.error("give --preset (with --name) to train and score, or --ensemble to score")
  if args.preset is not None and not args.name:
    p.error("--preset needs --name")
  if args.runs_per_alphabet <= 0:
    p.error("--runs-per-alphabet must be positive")
  folds = [int(k) for k in args.folds.split(",")]
  if not all(0 <= k < len(FOLDS) for k in folds):
    p.error(f"--folds: each must be in 0..{len(FOLDS) - 1}")
  members = args.ensemble.split(",") if args.ensemble else [args.name]
  name = args.name or "ensemble-" + "+".join(members)

  drawings = drawings_by_character(args.data_dir)
  per_fold, t0 = {}, time.time()
  for k in range(len(FOLDS)):   # fold k's runs have their own seed: the same whatever --folds
    runs = args.out / "runs" / f"fold{k}"
    write_runs(drawings, FOLDS[k], runs, args.runs_per_alphabet,
               np.random.default_rng([args.seed, k]))
    if k not in folds:
      continue
    workdirs = [args.out / m / f"fold{k}" for m in members]
    if args.preset is not None and not (workdirs[0] / "train_seconds.txt").exists():
      # Not trained to the end yet: jaxmeta train starts it, or resumes its checkpoint.
      t = time.time()
      _jaxmeta("train", "--preset", args.preset, "--split", "holdout:" + ",".join(FOLDS[k]),
               "--data-dir", args.data_dir, "--workdir", workdirs[0], "--eval-tasks", "100",
               "--no-progress", *shlex.split(args.flags))
      (workdirs[0] / "train_seconds.txt").write_text(f"{time.time() - t:.0f}\n")
    scored = args.out / name / f"fold{k}-lake.json"
    scored.parent.mkdir(parents=True, exist_ok=True)
    _jaxmeta("eval-lake", "--runs", runs, "--out", scored,
             *[a for w in workdirs for a in ("--workdir", w)])
    per_fold[k] = json.loads(scored.read_text())["per_run"]
  all_runs = np.concatenate([np.asarray(v, np.float64) for v in per_fold.values()])
  result = {"name": name, "preset": args.preset, "flags": args.flags, "members": members,
            "folds": {str(k): {"held_out": list(FOLDS[k]), **_summary(np.asarray(v))}
                      for k, v in per_fold.items()},
            "all": _summary(all_runs), "runs_per_alphabet": args.runs_per_alphabet,
            "seed": args.seed, "seconds": round(time.time() - t0)}
  from jaxmeta.checkpoint import atomic_write_json
  atomic_write_json(args.out / name / "summary.json", result)
  for k, f in result["folds"].items():
    print(f"fold {k} ({', '.join(f['held_out'])}): {f['error']:.2f} ± {f['ci95']:.2f} % error "
          f"over {f['runs']} runs")
  a = result["all"]
  print(f"{name}: {a['error']:.2f} ± {a['ci95']:.2f} % error (mean ± 95 % interval over "
        f"{a['runs']} runs of {len(per_fold)} folds)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
