"""One process of the 2-process run of tests/test_devices.py (2 simulated CPU devices each).

``python process_worker.py COORDINATOR NUM_PROCESSES PROCESS_ID WORKDIR OUT.npz [steps]``
joins the run, trains the config below through :func:`jaxmeta.experiment.train` (as
``jaxmeta train`` does), evaluates, and saves its own parameters and evaluation to OUT.npz
(outside the workdir, which only process 0 writes). With ``NUM_PROCESSES`` 0 it trains in
one process on one device, the reference.
"""
import os
import sys

if __name__ == "__main__":   # not when pytest imports this file looking for doctests
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_force_host_platform_device_count=2").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxmeta import experiment, parallel  # noqa: E402
from jaxmeta.config import from_preset  # noqa: E402

CONFIG = dict(task="sinusoid", algo="maml", hidden=(16,), meta_batch_size=8, steps=4,
              steps_per_call=2, log_every=2, checkpoint_every=2, outer_lr=1e-2,
              eval_tasks=8, eval_batch=8, eval_steps=(1,))


def main(coordinator, num_processes, process_id, workdir, out, steps=None):
  num_processes, process_id = int(num_processes), int(process_id)
  config = from_preset(None, **CONFIG)
  if steps is not None:
    config = config.replace(steps=int(steps))
  if num_processes:
    parallel.initialize(coordinator, num_processes, process_id, timeout_s=60,
                        heartbeat_timeout_s=10)
    config = config.replace(devices="all")
  state = experiment.train(config, workdir, progress=False, log=lambda *a: None)
  result = experiment.evaluate_run(config, state.params)
  flat = {"/".join(map(str, path)): np.asarray(v)
          for path, v in jax.tree_util.tree_leaves_with_path(state.params)}
  np.savez(out, mse=result["by_steps"]["1"]["mean"], step=int(state.step),
           processes=jax.process_count(), devices=jax.device_count(), **flat)


if __name__ == "__main__":
  main(*sys.argv[1:])
