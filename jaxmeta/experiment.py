"""Library-style training and evaluation of a :class:`~jaxmeta.config.Config` run.

This is what ``jaxmeta train`` and ``jaxmeta eval`` call; everything here is host-side
(files, logging, progress) around the pure jitted functions of :mod:`jaxmeta.train`.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import NamedTuple, Optional

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxmeta import checkpoint, parallel, registry
from jaxmeta.config import Config, validate
from jaxmeta.errors import CheckpointError, ConfigError, JaxmetaError, TrainingDivergedError
from jaxmeta.train import TrainState, evaluate, init_state, make_train_loop, summarize

CHECKPOINT_SECONDS = 10.0
BASELINE_DIR = "baseline-pretrained"
TENSORBOARD_DIR = "tensorboard"   # --tensorboard's event files, under the workdir

# Post-adaptation MSE of Finn et al. 2017 (sinusoid, K = 5 at test) after 1 / 5 / 10 steps.
PAPER_SINUSOID_K5 = {"maml": {1: 0.67, 5: 0.38, 10: 0.35},
                     "pretrained": {1: 2.41, 5: 2.23, 10: 2.19}}


class RunKeys(NamedTuple):
  """The three independent PRNG streams of a run, all derived from ``config.seed``."""
  init: jax.Array    # meta-parameter initialisation
  train: jax.Array   # step s samples its tasks from fold_in(train, s)
  eval: jax.Array    # fresh evaluation tasks, never seen in training


def keys_for(config: Config) -> RunKeys:
  return RunKeys(*jax.random.split(jax.random.key(config.seed), 3))


def _state_template(config, task, algo, optimizer):
  """Shapes of the train state without computing (or compiling) anything."""
  return jax.eval_shape(lambda k: init_state(k, task, algo, optimizer), jax.random.key(0))


def read_config(workdir: Path, *, required: bool = True) -> Optional[Config]:
  """The config of the run in ``workdir`` (``None`` if there is none and not ``required``).

  Raises:
    CheckpointError: ``config.json`` is not a JSON object of option values (naming it).
  """
  path = Path(workdir) / "config.json"
  if not path.exists():
    if required:
      raise ConfigError("workdir", f"{workdir} holds no run (no config.json); train one with "
                        f"`jaxmeta train --workdir {workdir}`")
    return None
  try:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
      raise ValueError(f"expected a JSON object of option values, got {type(data).__name__}")
    return Config.from_json(data)
  except (ValueError, TypeError) as e:   # torn or hand-edited
    raise CheckpointError(f"{path} is unreadable ({e}); pass --force to discard that run and "
                          "start a new one there") from e
  except OSError as e:
    raise CheckpointError(f"cannot read {path}: {checkpoint.describe_os_error(e)}") from e


def check_workdir(config: Config, workdir: Optional[Path], force: bool = False) -> None:
  """Refuses, without touching it, a ``workdir`` that is not a directory or holds a run of
  another config (unless ``force``, which will discard it)."""
  if workdir is None:
    return
  workdir = Path(workdir)
  if workdir.exists() and not workdir.is_dir():
    raise ConfigError("workdir", f"{workdir} exists and is not a directory")
  if force or not workdir.exists():
    return
  old = read_config(workdir, required=False)
  diff = [] if old is None else old.differences(config)
  if diff:
    detail = ", ".join(f"{k}: {getattr(old, k)!r} -> {getattr(config, k)!r}" for k in diff)
    raise ConfigError("workdir", f"{workdir} holds a run with a different config ({detail}); "
                      "use another --workdir, or --force to discard that run and start over")


def prepare_workdir(config: Config, workdir: Optional[Path], force: bool = False) -> bool:
  """Makes ``workdir`` ready for ``config``; call it holding the workdir's lock.

  Removes what an interrupted process left (temp files, a half-discarded run); with
  ``force`` discards a run of another config (or an unreadable one) entirely; a fresh
  start drops the metrics and results of an earlier trajectory. Returns ``True`` when
  there is a checkpoint to resume.
  """
  if workdir is None:
    return False
  workdir = Path(workdir)
  check_workdir(config, workdir, force)        # again, now under the lock
  checkpoint.clean_workdir(workdir)
  if force:
    try:
      old = read_config(workdir, required=False)
      stale = old is not None and bool(old.differences(config))
    except CheckpointError:
      stale = True
    if stale:
      checkpoint.discard_run(workdir)
  resume = checkpoint.has_checkpoint(workdir)
  if not resume:   # a fresh trajectory: nothing of an earlier one may stay beside it
    checkpoint.trim_metrics(workdir / checkpoint.METRICS_NAME, 0)
    (workdir / "eval.json").unlink(missing_ok=True)
    shutil.rmtree(workdir / TENSORBOARD_DIR, ignore_errors=True)
  return resume


def _available_memory() -> Optional[int]:
  """Bytes the default device can hold: its allocator's limit, or the host's RAM for the CPU."""
  try:
    stats = jax.devices()[0].memory_stats() or {}
    if stats.get("bytes_limit"):
      return int(stats["bytes_limit"])
  except Exception:  # not every backend reports memory
    pass
  try:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (AttributeError, ValueError, OSError):
    return None


def _nbytes(tree) -> int:
  return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in jax.tree.leaves(tree))


def check_memory(config: Config, task, template, devices: int = 1) -> None:
  """Refuses, before compiling, a meta-batch whose episodes and per-task gradients alone
  exceed the device's memory (a lower bound of what the step needs: activations come on
  top), naming the estimate. Each of ``devices`` holds its share of the tasks."""
  episode = _nbytes(jax.eval_shape(task.sample, jax.random.key(0)))
  params = _nbytes(template.params)
  per_device = -(-config.meta_batch_size // devices)
  need = per_device * (episode + params)
  have = _available_memory()
  if have is not None and need > have:
    share = "" if devices == 1 else f" ({per_device} on each of {devices} devices)"
    raise ConfigError("meta_batch_size", f"{config.meta_batch_size} tasks{share} need at least "
                      f"{need / 2**30:.3g} GiB per step (episodes {episode / 2**20:.3g} MiB and "
                      f"per-task gradients {params / 2**20:.3g} MiB each), more than the "
                      f"{have / 2**30:.3g} GiB of {jax.devices()[0].platform.upper()} memory here")


def check_tensorboard(config: Config, workdir: Optional[Path]) -> None:
  """Refuses ``--tensorboard`` without a workdir to write to, or without tensorboardX
  installed (an optional dependency), before anything is loaded or compiled."""
  if not config.tensorboard:
    return
  if workdir is None:
    raise ConfigError("tensorboard", f"writes its event files in DIR/{TENSORBOARD_DIR}; "
                      "give a --workdir DIR")
  try:
    import tensorboardX  # noqa: F401
  except ImportError:
    raise ConfigError("tensorboard", "needs tensorboardX, which is not installed: "
                      "pip install jaxmeta[tensorboard]") from None


class MetricsLog:
  """Where a run's records go: appended to ``metrics.jsonl``, and with ``tensorboard``
  also written as scalars (one tag per key, at the record's step) to TensorBoard event
  files in ``workdir/tensorboard``.

  ``start`` is the step the run resumes from (0: a fresh start): TensorBoard then drops
  the events an interrupted process logged after it, as :func:`~jaxmeta.checkpoint.trim_metrics`
  does for ``metrics.jsonl``. Use it as a context manager (the event writer has a thread
  and buffers to flush).
  """

  def __init__(self, workdir: Path, tensorboard: bool = False, start: int = 0):
    self.path = Path(workdir) / checkpoint.METRICS_NAME
    self.events_dir = Path(workdir) / TENSORBOARD_DIR
    self.writer = None
    if tensorboard:
      from tensorboardX import SummaryWriter
      # Event files are named by the second they were opened: the suffix keeps a run
      # resumed within the same second from overwriting the file of the one before.
      with _writing(self.events_dir):
        self.writer = SummaryWriter(str(self.events_dir), purge_step=start or None,
                                    filename_suffix=f".from-step-{start}")

  def append(self, record: dict) -> None:
    with _writing(self.path):
      checkpoint.append_metrics(self.path, record)
    if self.writer is not None:
      with _writing(self.events_dir):
        for name, value in record.items():
          if name != "step":
            self.writer.add_scalar(name, value, record["step"])
        self.writer.flush()   # a run still training shows its curves up to now

  def close(self) -> None:
    if self.writer is not None:
      self.writer.close()
      self.writer = None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
    return False


def _writing(path):
  """OSError while writing a run file -> one clear error naming the path and errno."""

  @contextlib.contextmanager
  def guard():
    try:
      yield
    except OSError as e:
      raise CheckpointError(f"cannot write {path}: {checkpoint.describe_os_error(e)}; the last "
                            "checkpoint is intact: free the space (or fix the permissions) and "
                            "rerun the same command to resume") from e
  return guard()


class _Prepared(NamedTuple):
  config: Config
  task: object
  algo: object
  optimizer: object
  template: TrainState
  mesh: object


def run_mesh(config: Config, training: bool = True):
  """The device mesh of a run: ``None`` on one device of one process (today's program,
  bit for bit), else :func:`jaxmeta.parallel.task_mesh` over ``config.devices`` devices
  of every process. Refuses more devices than there are, and (``training``) a meta-batch
  that does not split evenly over them, naming the nearest sizes that do. (Evaluation
  pads its batches instead.)"""
  devices = parallel.local_device_count(config.devices)
  if devices == 1 and jax.process_count() == 1:
    return None
  mesh = parallel.task_mesh(devices)
  if training:
    parallel.check_divisible(config.meta_batch_size, parallel.mesh_size(mesh))
  return mesh


def check_processes_agree(config: Config) -> None:
  """In a multi-process run, refuses processes given different options (every process
  raises the same error); a no-op in one process."""
  parallel.check_same_everywhere(config.to_json())


def _prepare(config: Config, workdir: Optional[Path], force: bool) -> _Prepared:
  """Every check of a training run; writes and compiles nothing."""
  config = validate(config)
  check_processes_agree(config)
  check_tensorboard(config, workdir)
  mesh = run_mesh(config)
  with parallel.placing_data_on(mesh):   # the dataset where the devices sample from it
    task = registry.build_task(config, "train")
  algo = registry.build_algorithm(config, task)
  optimizer = registry.build_optimizer(config)
  # Only process 0 reads the workdir; its verdict stops every process.
  parallel.from_process_0(lambda: check_workdir(config, workdir, force))
  template = _state_template(config, task, algo, optimizer)
  check_memory(config, task, template, parallel.mesh_size(mesh))
  return _Prepared(config, task, algo, optimizer, template, mesh)


def _locked(workdir: Optional[Path]):
  """The workdir's lock; only process 0 of a multi-process run takes it (and writes)."""
  if workdir is None or not parallel.is_writer():
    return contextlib.nullcontext()
  return checkpoint.WorkdirLock(workdir)


def train(config: Config, workdir: Optional[Path] = None, *, force: bool = False,
          progress: bool = True, log=print) -> TrainState:
  """Trains ``config`` (resuming from ``workdir`` when it holds a checkpoint).

  Everything is checked before anything is written or compiled. ``workdir`` is locked for
  the whole call (:class:`~jaxmeta.checkpoint.WorkdirLock`).

  Raises:
    ConfigError, CheckpointError: before anything is compiled.
    TrainingDivergedError: the meta-loss became NaN/inf; the last checkpoint is kept.
  """
  return _train_prepared(_prepare(config, workdir, force), workdir, force, progress, log)


def _train_prepared(p: _Prepared, workdir, force, progress, log) -> TrainState:
  with _locked(workdir):
    # Process 0 makes the workdir ready and says whether there is a checkpoint to resume.
    resume = parallel.from_process_0(lambda: prepare_workdir(p.config, workdir, force), False)
    return _train(p.config, None if workdir is None else Path(workdir), p.task, p.algo,
                  p.optimizer, p.template, resume, progress, log, p.mesh)


def train_and_evaluate(config: Config, workdir: Optional[Path] = None, *, force: bool = False,
                       progress: bool = True, log=print) -> dict:
  """``jaxmeta train``: trains, evaluates on fresh test tasks, trains and evaluates the
  pretrained baseline when ``config.baseline`` asks for it, and writes ``eval.json``, all
  under one lock of ``workdir``. Returns ``{algo: results}`` (see :func:`evaluate_run`);
  a run whose split has no test classes is trained and not evaluated (``{}``)."""
  prepared = _prepare(config, workdir, force)
  config = prepared.config
  with _locked(workdir):
    state = _train_prepared(prepared, workdir, force, progress, log)
    try:
      results = {config.algo: evaluate_run(config, state.params, mesh=prepared.mesh)}
    except JaxmetaError as e:  # e.g. split lake-small: every character was used for training
      log(f"trained {config.steps} steps; not evaluated: {e}")
      return {}
    if config.baseline == "pretrained" and config.algo != "pretrained":
      base_cfg = config.replace(algo="pretrained", baseline="none", inner_steps=0)
      base_dir = None if workdir is None else Path(workdir) / BASELINE_DIR
      base_state = train(base_cfg, base_dir, force=force, progress=progress, log=log)
      results["pretrained"] = evaluate_run(base_cfg, base_state.params, mesh=prepared.mesh)
    if workdir is not None and parallel.is_writer():
      with _writing(Path(workdir) / "eval.json"):
        checkpoint.atomic_write_json(Path(workdir) / "eval.json", results)
  return results


def _train(config, workdir, task, algo, optimizer, template, resume, progress, log, mesh=None):
  keys = keys_for(config)
  if not parallel.is_writer():   # process 0 of a multi-process run logs and writes
    workdir, progress, log = None, False, lambda *a, **k: None
  if resume:
    # Process 0 reads the checkpoint; every process starts from its values.
    like = jax.tree.map(lambda v: np.zeros(v.shape, v.dtype), template)
    state = parallel.from_process_0(lambda: checkpoint.load_checkpoint(workdir, template), like)
    state = jax.tree.map(jax.numpy.asarray, state)
    start = int(state.step)
    log(f"resumed from step {start}")
    if workdir is not None:
      checkpoint.trim_metrics(workdir / checkpoint.METRICS_NAME, start)
  else:
    state = None
    start = 0
  if workdir is not None:
    with _writing(workdir / "config.json"):
      checkpoint.atomic_write_json(workdir / "config.json", config.to_json())
  if state is None:
    state = init_state(keys.init, task, algo, optimizer, mesh)
  saved_step = start if resume else None

  chunk = min(config.steps_per_call, config.log_every, config.checkpoint_every or config.steps_per_call)
  loops = {}
  last_ckpt_time = time.time()
  last_log_step, log_time, log_losses = start, time.time(), []
  bar = tqdm(total=config.steps, initial=start, desc=f"{config.algo} on {config.task}",
             disable=not progress, unit="step", dynamic_ncols=True, file=sys.stderr)
  # Process 0 (the one with a workdir) writes the records; the event writer, if any, is
  # closed (its buffer flushed) however training ends.
  metrics_log = None if workdir is None else MetricsLog(workdir, config.tensorboard, start)
  with metrics_log or contextlib.nullcontext():
    while int(state.step) < config.steps:
      step0 = int(state.step)
      n = min(chunk - step0 % chunk, config.steps - step0)
      if n not in loops:
        loops[n] = make_train_loop(task, algo, optimizer, config.meta_batch_size, n,
                                   task_axis=config.task_axis, mesh=mesh)
      new_state, metrics = loops[n](state, keys.train)
      losses = np.asarray(metrics["loss"])
      if not np.all(np.isfinite(losses)):
        bad = int(np.argmax(~np.isfinite(losses)))
        bar.close()
        raise TrainingDivergedError(step0 + bad + 1, float(losses[bad]), saved_step,
                                    workdir=workdir is not None)
      state = new_state
      step = step0 + n
      bar.update(n)
      log_losses.append(losses)
      if step // config.log_every > last_log_step // config.log_every or step == config.steps:
        now = time.time()
        record = {"step": step, "loss": float(np.concatenate(log_losses).mean()),
                  "steps_per_s": (step - last_log_step) / max(now - log_time, 1e-9)}
        for k, v in metrics.items():
          if k != "loss":
            record[k] = float(np.asarray(v).mean())
        bar.set_postfix(loss=f"{record['loss']:.4g}")
        if metrics_log is not None:
          metrics_log.append(record)
        last_log_step, log_time, log_losses = step, now, []
      if workdir is not None:
        due = (config.checkpoint_every is not None and
               step // config.checkpoint_every > step0 // config.checkpoint_every)
        due = due or (config.checkpoint_every is None and time.time() - last_ckpt_time >= CHECKPOINT_SECONDS)
        if due or step == config.steps:
          with _writing(workdir / checkpoint.CHECKPOINT_NAME):
            checkpoint.save_checkpoint(workdir, state)
          saved_step, last_ckpt_time = step, time.time()
  bar.close()
  return state


def evaluate_run(config: Config, params, *, split: str = "test", eval_steps=None,
                 num_tasks: Optional[int] = None, seed: Optional[int] = None,
                 mesh="config") -> dict:
  """Evaluates ``params`` on fresh tasks; returns the results JSON of ``jaxmeta eval``.

  The tasks are split over ``mesh`` (default: the run's :func:`run_mesh`); the results
  do not depend on it."""
  if isinstance(mesh, str):
    mesh = run_mesh(config, training=False)
  eval_steps = tuple(config.eval_steps if eval_steps is None else eval_steps)
  num_tasks = config.eval_tasks if num_tasks is None else num_tasks
  with parallel.placing_data_on(mesh):
    task = registry.build_task(config, split, for_eval=True)
  algo = registry.build_algorithm(config, task)
  eval_key = keys_for(config if seed is None else config.replace(seed=seed)).eval
  curves = evaluate(task, algo, params, eval_key, num_tasks, max(eval_steps),
                    batch_size=config.eval_batch, mesh=mesh, observe_at=eval_steps)
  # The curve's axis is the method's: adaptation steps (gradient methods; metric methods
  # give a constant curve) or presentations of a class (sequence models). The key is
  # ``by_steps`` or ``by_presentations``; ``curve`` says it in words.
  return {"task": config.task, "algo": config.algo, "metric": task.metric_name,
          "n_tasks": int(num_tasks), "shots": config.eval_shots, "query": config.eval_query,
          "split": split, "eval_norm": config.eval_norm, "curve": algo.curve.description,
          curve_key(algo.curve): {str(s): summarize(curves[:, s]) for s in eval_steps}}


def curve_key(curve) -> str:
  """The results-JSON key of an evaluation curve (``by_steps``, ``by_presentations``)."""
  return f"by_{curve.key}"


def _curve_of(result: dict) -> tuple[str, dict]:
  """(axis key, points) of a results JSON written by :func:`evaluate_run`."""
  (key, points), = [(k[3:], v) for k, v in result.items() if k.startswith("by_")]
  return key, points


def load_run(workdir: Path, **overrides):
  """(config, params) of the run in ``workdir``; errors name the file.

  ``overrides`` replace config fields that do not change the model, e.g. ``data_dir``
  when the data has moved since training.
  """
  workdir = Path(workdir)
  config = read_config(workdir)
  config = validate(config.replace(**{k: v for k, v in overrides.items() if v is not None}))
  if not checkpoint.has_checkpoint(workdir):
    raise CheckpointError(f"{workdir} has no checkpoint yet; train it first")
  task = registry.build_task(config, "train")
  algo = registry.build_algorithm(config, task)
  template = _state_template(config, task, algo, registry.build_optimizer(config))
  state = checkpoint.load_checkpoint(workdir, template)
  return config, state.params


def format_table(results: dict[str, dict], paper: Optional[dict] = None) -> str:
  """A small text table: one row per algorithm, one column per number of steps."""
  curves = {name: _curve_of(r) for name, r in results.items()}
  steps = sorted({int(s) for _, points in curves.values() for s in points})
  axes = {axis for axis, _ in curves.values()}
  unit = "step" if axes == {"steps"} else "presentation" if axes == {"presentations"} else "point"
  metric = next(iter(results.values()))["metric"]
  head = f"{'algorithm':<12}" + "".join(f"{f'{s} {unit}' + ('s' if s != 1 else ''):>28}" for s in steps)
  title = "post-adaptation" if unit == "step" else "evaluation-curve"
  lines = [f"{title} {metric} (mean ± 95% CI, median in brackets; paper in parentheses)", head]
  for name, r in results.items():
    cells = []
    for s in steps:
      b = curves[name][1].get(str(s))
      if b is None:
        cells.append(f"{'-':>28}")
        continue
      ref = paper.get(name, {}).get(s) if paper else None
      cell = f"{b['mean']:.3f}±{b['ci95']:.3f} [{b['median']:.2f}]" + (f" ({ref})" if ref is not None else "")
      cells.append(f"{cell:>28}")
    lines.append(f"{name:<12}" + "".join(cells))
  # A mean far above the median is a heavy tail (a few tasks that diverge when fine-tuned
  # for many steps): say where it is instead of leaving the reader to guess.
  for name, r in results.items():
    worst = max(curves[name][1].items(), key=lambda kv: kv[1]["max"])
    s, b = worst
    if b.get("n_nonfinite", 0) or b["max"] > 20 * max(b["median"], 1e-12):
      lines.append(f"  {name}: heavy tail — worst task {b['max']:.4g} at {unit} {s}"
                   + (f", {b['n_nonfinite']} task(s) diverged" if b.get("n_nonfinite") else "")
                   + "; compare the medians (benchmarks/RESULTS.md explains the tail)")
  return "\n".join(lines)


def check_lake_scorable(workdir) -> None:
  """Raises ConfigError (one line, before anything is loaded or compiled) when the run in
  ``workdir`` cannot be scored on Lake et al.'s runs: a sequence model (``--algo mann``,
  ``lstm``) reads (image, previous label) sequences and answers with a label code of fixed
  width, the one-hot over its ``--ways`` classes (or string codes it was trained to emit),
  while a Lake run is a 20-way one-shot support/query set."""
  config = read_config(Path(workdir))
  if registry.ALGORITHMS[config.algo].episodes is None:
    return
  raise ConfigError("workdir", f"{workdir} is a --algo {config.algo} run, a sequence model "
                    f"with a fixed label width ({config.label_encoding} labels for --ways "
                    f"{config.ways}); eval-lake scores 20-way one-shot support/query runs, which "
                    f"it cannot read: evaluate it with `jaxmeta eval` (accuracy by instance)")


def _lake_scorer(workdir, runs, **overrides):
  """``(config, params, algo, episodes, keys)`` to score the run in ``workdir`` on the
  Lake ``runs``: the run's method rebuilt for their number of ways, the runs as a batch
  of episodes at the run's image size, one evaluation key per run."""
  from jaxmeta.data.lake import run_episodes
  from jaxmeta.tasks.episodes import accuracy, cross_entropy
  from jaxmeta.types import TaskDistribution
  check_lake_scorable(workdir)
  config, params = load_run(workdir, **overrides)
  if config.task != "omniglot":
    raise ConfigError("workdir", f"{workdir} was trained on --task {config.task}; eval-lake "
                      "scores Omniglot runs")
  episodes = run_episodes(runs, config.image_size)
  ways = int(episodes.support_y.shape[1])
  task = TaskDistribution("omniglot", None, cross_entropy, accuracy, "accuracy", ways)
  algo = registry.build_algorithm(config.replace(ways=ways, eval_ways=None), task)
  first = jax.tree.map(lambda v: v[0], episodes)
  expected = jax.eval_shape(algo.init, jax.random.key(0), first)
  shapes = lambda t: [(tuple(k), tuple(v.shape)) for k, v in jax.tree_util.tree_leaves_with_path(t)]
  if shapes(expected) != shapes(params):
    raise ConfigError("ways", f"{workdir} was trained with --ways {config.ways} and its model's "
                      f"head has a fixed number of outputs; the Lake runs are {ways}-way: train "
                      f"with --ways {ways} (or a metric-based --algo) to score it")
  return config, params, algo, episodes, jax.random.split(keys_for(config).eval, len(runs))


def _percent_wrong(correct, n_query: int) -> np.ndarray:
  """Percent error per run from the fraction (or count) right of its ``n_query`` items."""
  wrong = np.rint((1.0 - np.asarray(correct, np.float64)) * n_query)  # exact counts, not float32
  return 100.0 * wrong / n_query


def score_lake_runs(workdir, runs, steps=None, **overrides) -> dict:
  """Percent error of each run for the trained run in ``workdir``, scored at point
  ``steps`` of the method's evaluation curve (default: the run's largest ``eval_steps``).

  Returns:
    ``{"per_run": [errors], "curve": what the curve's axis means, "at": steps,
    "eval_norm": the normalisation the runs were scored with}``. ``overrides`` may set
    ``eval_norm``: ``"support"`` (the CLI's default) scores each test image on its own,
    as Lake's protocol does; ``"episode"`` normalises a run's 20 test images together.

  Raises:
    ConfigError: the run is not an Omniglot run, or its model's head is fixed to another
      number of ways than the runs have. ``overrides`` (``data_dir``, ``cache_dir``) say
      where the run's data is now.
  """
  config, params, algo, episodes, keys = _lake_scorer(workdir, runs, **overrides)
  steps = max(config.eval_steps) if steps is None else steps
  score = lambda ep, k: algo.evaluate(params, ep, steps, k, observe_at=(steps,))[-1]
  acc = jax.jit(jax.vmap(score))(episodes, keys)
  return {"per_run": _percent_wrong(acc, episodes.query_y.shape[1]),
          "curve": algo.curve.description, "at": steps, "eval_norm": config.eval_norm}


def score_lake_ensemble(workdirs, runs, **overrides) -> dict:
  """Percent error of each run for the ensemble of the trained runs in ``workdirs``: each
  run's class probabilities ``P(y | x, S)`` (its method's ``predict``) averaged over the
  members, then the most probable class (issue 18: the metric methods averaged in
  probability space). ``overrides`` as in :func:`score_lake_runs`, for every member.

  Returns:
    ``{"per_run": [errors], "members": {workdir: [its own errors]}, "eval_norm": ...}``.

  Raises:
    ConfigError: a member's method has no ``predict`` (it adapts, or reads sequences),
      or any reason of :func:`score_lake_runs`.
  """
  probs, members, norms = 0.0, {}, set()
  for workdir in workdirs:
    config, params, algo, episodes, keys = _lake_scorer(workdir, runs, **overrides)
    if algo.predict is None:
      raise ConfigError("workdir", f"{workdir} is a --algo {config.algo} run, which gives no "
                        "class probabilities to average; an ensemble takes metric-based runs "
                        "(protonet, matching, matching-fce, relation, siamese)")
    log_probs = jax.jit(jax.vmap(lambda ep, k: algo.predict(params, ep, k)))(episodes, keys)
    p = np.exp(np.asarray(log_probs, np.float64))
    right = np.argmax(p, -1) == np.asarray(episodes.query_y)
    members[str(workdir)] = _percent_wrong(right.mean(-1), right.shape[-1]).tolist()
    probs, norms = probs + p / len(workdirs), norms | {config.eval_norm}
  right = np.argmax(probs, -1) == np.asarray(episodes.query_y)
  return {"per_run": _percent_wrong(right.mean(-1), right.shape[-1]), "members": members,
          "eval_norm": "/".join(sorted(norms))}
