"""The meta-batch across devices and hosts, with JAX's own machinery.

Tasks are the embarrassingly parallel axis of meta-learning. A :class:`jax.sharding.Mesh`
with one axis, :data:`TASKS`, lays the devices out along it; the train step
(:func:`jaxmeta.train.make_train_step` with ``mesh=``) gives each device its share of the
global meta-batch's task keys; each device samples those tasks (the keys are sharded, and
the compiler partitions the sampler) and differentiates them (``jax.shard_map``), and XLA
adds the per-device sums of the meta-gradient with one all-reduce. Parameters and
optimizer state are replicated.

The same code serves one host (``jax.devices()`` are the local devices) and several
(after :func:`initialize`, ``jax.devices()`` are every process's devices and the mesh
spans them all; each process runs the same program on its own devices).

Example:
  >>> mesh = task_mesh(1)
  >>> mesh.axis_names, mesh.size
  (('tasks',), 1)
  >>> check_divisible(24, 8)
  24
  >>> check_divisible(25, 8)
  Traceback (most recent call last):
  ...
  jaxmeta.errors.ConfigError: meta_batch_size: 25 tasks cannot be split evenly over 8 devices; the nearest valid sizes are 24 and 32
"""
from __future__ import annotations

import contextlib
import time
from typing import Optional, Sequence, Union

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxmeta.errors import ConfigError

TASKS = "tasks"   # the mesh axis the meta-batch is split along

# How long a process waits for the others at start-up, and how long without a heartbeat
# from a peer before the coordination service declares it dead (JAX's defaults are 300 s
# and 100 s: far too long for a run that failed to start, or a peer that was killed).
INIT_TIMEOUT_S = 60
HEARTBEAT_TIMEOUT_S = 20


def parse_devices(name: str, value) -> Union[int, str]:
  """``"all"`` or a positive device count (an int, or its digits as text).

  Example:
    >>> parse_devices("devices", "4"), parse_devices("devices", "all")
    (4, 'all')
  """
  if value == "all":
    return "all"
  if isinstance(value, str) and value.strip().isdigit():
    value = int(value)
  if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
    return int(value)
  raise ConfigError(name, f"must be 'all' or a positive integer, got {value!r}")


def local_device_count(devices: Union[int, str] = 1, name: str = "devices") -> int:
  """How many of this process's devices ``devices`` asks for; refuses more than there are."""
  devices = parse_devices(name, devices)
  have = jax.local_device_count()
  if devices == "all":
    return have
  if devices > have:
    platform = jax.local_devices()[0].platform.upper()
    hint = ("; on the CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N simulates N "
            "devices" if platform == "CPU" else "")
    raise ConfigError(name, f"asks for {devices} devices but this process has {have} "
                      f"{platform} device{'s' * (have != 1)}{hint}")
  return devices


def task_mesh(devices: Union[int, str, Sequence] = "all", name: str = "devices") -> Mesh:
  """A one-axis mesh (:data:`TASKS`) over ``devices`` local devices of every process.

  Args:
    devices: ``"all"``, a count per process, or an explicit sequence of devices.
    name: the parameter errors name.

  Returns:
    A :class:`~jax.sharding.Mesh` of ``devices x jax.process_count()`` devices, process by
    process, so that process ``p``'s share of the meta-batch is one contiguous block.
  """
  if not isinstance(devices, (int, str, np.integer)):
    return Mesh(np.asarray(list(devices)), (TASKS,))
  n = local_device_count(devices, name)
  by_process = {}
  for d in jax.devices():
    by_process.setdefault(d.process_index, []).append(d)
  chosen = [d for p in sorted(by_process) for d in sorted(by_process[p], key=lambda d: d.id)[:n]]
  return Mesh(np.asarray(chosen), (TASKS,))


def mesh_size(mesh: Optional[Mesh]) -> int:
  """Devices along :data:`TASKS` (1 without a mesh)."""
  return 1 if mesh is None else int(mesh.shape[TASKS])


def nearest_multiples(n: int, k: int) -> tuple:
  """The multiples of ``k`` nearest ``n`` from below (if positive) and above."""
  below, above = (n // k) * k, -(-n // k) * k
  return tuple(v for v in dict.fromkeys((below, above)) if v > 0)


def check_divisible(size: int, devices: int, name: str = "meta_batch_size",
                    what: str = "tasks") -> int:
  """Refuses ``size`` not divisible by ``devices``, naming the nearest valid sizes."""
  if size % devices:
    valid = " and ".join(map(str, nearest_multiples(size, devices)))
    raise ConfigError(name, f"{size} {what} cannot be split evenly over {devices} devices; "
                      f"the nearest valid sizes are {valid}")
  return size


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def replicate(tree, mesh: Optional[Mesh]):
  """``tree`` as arrays replicated on every device of ``mesh`` (unchanged without one).

  Every process must pass the same values (they are the same run). Works across
  processes: each puts its own copy on its own devices.
  """
  if mesh is None:
    return tree
  sharding = replicated(mesh)

  def put(x):
    if isinstance(x, jax.Array) and x.sharding == sharding:
      return x
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      data = replicate(jax.random.key_data(x), mesh)
      return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    if jax.process_count() == 1:
      return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
  return jax.tree.map(put, tree)


_DATA_MESH: list = []


@contextlib.contextmanager
def placing_data_on(mesh: Optional[Mesh]):
  """Datasets that task distributions keep on the device, created inside this block, are
  replicated on every device of ``mesh`` instead of put on the default device.

  A sampler reads its dataset inside the jitted step, on every device that samples
  tasks, so the dataset must be where the mesh is (one copy per device; a few MB for
  Omniglot). Build the task inside the block::

    with jaxmeta.parallel.placing_data_on(mesh):
      task = jaxmeta.tasks.few_shot_task(classes, ways=5, shots=1, query=15)
  """
  _DATA_MESH.append(mesh)
  try:
    yield mesh
  finally:
    _DATA_MESH.pop()


def data_mesh() -> Optional[Mesh]:
  """The mesh of the innermost :func:`placing_data_on` block (``None`` outside one)."""
  return _DATA_MESH[-1] if _DATA_MESH else None


# --------------------------------------------------------------------------- processes
def initialize(coordinator: Optional[str], num_processes: Optional[int],
               process_id: Optional[int], *, timeout_s: int = INIT_TIMEOUT_S,
               heartbeat_timeout_s: int = HEARTBEAT_TIMEOUT_S) -> None:
  """Joins a multi-process run with ``jax.distributed.initialize``, before any computation.

  Args:
    coordinator: ``HOST:PORT`` of process 0's coordination service, or ``"auto"`` to let
      JAX read a cluster's environment (SLURM, Open MPI, Kubernetes, ...).
    num_processes: processes in all (``None`` with ``"auto"``).
    process_id: this process's index, ``0 .. num_processes - 1``.
    timeout_s: how long to wait for every process to join; then a clear error.
    heartbeat_timeout_s: how long a silent peer is waited for during the run.
      When a peer dies, JAX's coordination service ends the surviving processes within
      about this time ("Terminating process because the JAX distributed service detected
      fatal errors. This most likely indicates that another task died").

  Raises:
    ConfigError: (``coordinator``, ``num_processes`` or ``process_id``) bad values, or
      the other processes did not join within ``timeout_s``.
  """
  if coordinator != "auto":
    if not isinstance(coordinator, str) or coordinator.count(":") < 1 or \
        not coordinator.rsplit(":", 1)[1].isdigit() or not coordinator.rsplit(":", 1)[0]:
      raise ConfigError("coordinator", f"must be HOST:PORT (or auto), got {coordinator!r}")
    if not isinstance(num_processes, int) or isinstance(num_processes, bool) or num_processes < 1:
      raise ConfigError("num_processes", f"must be a positive integer, got {num_processes!r}")
    if not isinstance(process_id, int) or isinstance(process_id, bool) or \
        not 0 <= process_id < num_processes:
      raise ConfigError("process_id", f"must be in 0..{num_processes - 1}, got {process_id!r}")
  # XLA:CPU needs a collectives library to reduce across processes (gloo ships with
  # jaxlib); set before the backends start, and harmless where the devices are GPUs.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  kwargs = dict(initialization_timeout=int(timeout_s), heartbeat_timeout_seconds=int(heartbeat_timeout_s),
                shutdown_timeout_seconds=int(timeout_s))
  if coordinator != "auto":
    kwargs.update(coordinator_address=coordinator, num_processes=num_processes,
                  process_id=process_id)
  if coordinator != "auto" and process_id != 0:
    _wait_for_coordinator(coordinator, timeout_s)
  start = time.time()
  try:
    jax.distributed.initialize(**kwargs)
  except Exception as e:  # noqa: BLE001 - jaxlib raises its own runtime errors
    waited = time.time() - start
    raise ConfigError("coordinator", f"could not join the run at {coordinator} as process "
                      f"{process_id} of {num_processes} within {waited:.0f} s: "
                      f"{_first_line(e)}") from e


def _wait_for_coordinator(coordinator: str, timeout_s: float) -> None:
  """Waits until something listens at ``HOST:PORT`` (process 0's coordination service).

  Done with a plain socket before ``jax.distributed.initialize``, whose client aborts the
  process (a C++ stack trace, "another task died") when it cannot register in time.
  """
  import socket
  host, port = coordinator.rsplit(":", 1)
  deadline = time.time() + timeout_s
  last = None
  while time.time() < deadline:
    try:
      with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
        return
    except OSError as e:
      last = e
      time.sleep(0.5)
  raise ConfigError("coordinator", f"no process 0 answers at {coordinator} after {timeout_s:.0f} s "
                    f"({getattr(last, 'strerror', None) or last}); start process 0 there, or "
                    "check the address and the firewall")


def _first_line(e) -> str:
  text = str(e).strip().splitlines()
  return text[0][:300] if text else type(e).__name__


def is_writer() -> bool:
  """Whether this process writes the run's files (process 0 of a multi-process run)."""
  return jax.process_index() == 0


_TEXT_BYTES = 2048


def _broadcast_text(text: str) -> str:
  """Process 0's ``text`` on every process (at most :data:`_TEXT_BYTES` bytes of UTF-8)."""
  from jax.experimental import multihost_utils
  data = np.zeros(_TEXT_BYTES, np.uint8)
  raw = text.encode()[:_TEXT_BYTES]
  data[:len(raw)] = np.frombuffer(raw, np.uint8)
  out = np.asarray(multihost_utils.broadcast_one_to_all(data))
  return bytes(out[out != 0]).decode(errors="replace")


def from_process_0(fn, like=None):
  """``fn()`` run on process 0 only, its result given to every process.

  For what only process 0 may do (read and write the run's files). The result (a bool,
  number or pytree of arrays; other processes pass ``like`` of the same structure) is
  broadcast (``like=None``: nothing is sent, for a check); a
  :class:`~jaxmeta.errors.JaxmetaError` that ``fn`` raises is raised on every process, so
  that none is left waiting for the others.
  """
  if jax.process_count() == 1:
    return fn()
  from jax.experimental import multihost_utils
  from jaxmeta import errors
  result, error, text = like, None, ""
  if jax.process_index() == 0:
    try:
      result = fn()
    except errors.JaxmetaError as e:
      error = e
      kind = type(e).__name__ if type(e).__name__ in ("ConfigError", "CheckpointError") else "JaxmetaError"
      text = "\0".join((kind, getattr(e, "parameter", ""),
                        getattr(e, "message", str(e)) or type(e).__name__))
  text = _broadcast_text(text)
  if error is not None:
    raise error
  if text:
    kind, parameter, message = (text.split("\0") + ["", "", ""])[:3]
    if kind == "ConfigError":
      raise errors.ConfigError(parameter, message + " (found by process 0)")
    raise getattr(errors, kind, errors.JaxmetaError)(message + " (found by process 0)")
  if like is None:   # a check: nothing to send but its verdict
    return result
  if isinstance(result, bool):
    return bool(multihost_utils.broadcast_one_to_all(np.asarray(result)))
  return jax.tree.map(np.asarray, multihost_utils.broadcast_one_to_all(result))


# Options that may differ between the processes of one run: where each host keeps its data.
PER_PROCESS = ("data_dir", "cache_dir", "download")
_FIELDS = 512


def check_same_everywhere(values: dict, per_process: Sequence[str] = PER_PROCESS) -> None:
  """Refuses a multi-process run whose processes were given different values.

  Every process hashes each value (of ``values``, name -> JSON-able value, less
  ``per_process``); the hashes are gathered, and every process raises the same error
  when they differ, naming the first parameter that does.

  Raises:
    ConfigError: (the first parameter that differs) which processes disagree.
  """
  if jax.process_count() == 1:
    return
  import json
  import zlib
  from jax.experimental import multihost_utils
  names = [n for n in values if n not in per_process]
  hashes = np.zeros(_FIELDS + 1, np.uint32)
  hashes[0] = zlib.crc32(json.dumps(names).encode())   # the same option set (version)
  for i, name in enumerate(names[:_FIELDS]):
    hashes[i + 1] = zlib.crc32(json.dumps(values[name], sort_keys=True, default=str).encode())
  every = np.asarray(multihost_utils.process_allgather(hashes))   # [processes, fields]
  differ = np.flatnonzero((every != every[:1]).any(axis=0))
  if differ.size == 0:
    return
  if differ[0] == 0:
    raise ConfigError("num_processes", "the processes run different versions of jaxmeta "
                      "(their options differ); install the same version everywhere")
  name = names[differ[0] - 1]
  column = every[:, differ[0]]
  groups = [[int(p) for p in np.flatnonzero(column == h)] for h in dict.fromkeys(column.tolist())]
  mine = values[name]
  others = [g for g in groups if jax.process_index() not in g]
  raise ConfigError(name, f"differs between the processes of the run: process "
                    f"{jax.process_index()} has {mine!r}, processes {others} another value; "
                    "start every process with the same options")
