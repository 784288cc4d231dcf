"""Run by tests/test_devices.py in a subprocess with 8 simulated CPU devices (the flag must
be set before jax starts, and would change every other test's device count).

Prints one JSON object: the largest parameter difference between 1 and 8 devices for
each case, what the compiled 8-device step looks like, and the CLI's answers to bad input.
"""
import contextlib
import io
import json
import os
import sys

if __name__ == "__main__":   # not when pytest imports this file looking for doctests
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_force_host_platform_device_count=8").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxmeta  # noqa: E402
from jaxmeta import cli, parallel  # noqa: E402


def max_diff(a, b) -> float:
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def train(task, algo, opt, meta_batch, steps, mesh, task_axis="vmap"):
  state = jaxmeta.init_state(jax.random.key(0), task, algo, opt, mesh)
  loop = jaxmeta.make_train_loop(task, algo, opt, meta_batch, steps, task_axis=task_axis, mesh=mesh)
  state, metrics = loop(state, jax.random.key(1))
  return state, metrics, loop


def cli_error(argv):
  err = io.StringIO()
  with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    rc = cli.main(argv)
  return rc, err.getvalue().strip()


def main(omniglot_dir):
  out = {"devices": jax.device_count()}
  mesh8 = parallel.task_mesh(8)

  # MAML on the sinusoid: 16 tasks, 4 steps; 2 tasks per device.
  task = jaxmeta.tasks.sinusoid(shots=10, query=10)
  algo = jaxmeta.algorithms.maml(jaxmeta.models.MLP((40, 40), 1), task)
  opt = optax.adam(1e-2)
  s1, m1, _ = train(task, algo, opt, 16, 4, None)
  s8, m8, loop8 = train(task, algo, opt, 16, 4, mesh8)
  s1m, _, _ = train(task, algo, opt, 16, 4, parallel.task_mesh(1))
  out["sinusoid"] = {"diff_1_vs_8": max_diff(s1.params, s8.params),
                     "diff_none_vs_mesh1": max_diff(s1.params, s1m.params),
                     "loss_diff": max_diff(m1["loss"], m8["loss"]),
                     "moved": max_diff(s1.params, jaxmeta.init_state(
                         jax.random.key(0), task, algo, opt).params),
                     "params_sharding": str(s8.params["params"]["Dense_0"]["kernel"].sharding.spec)}
  hlo = loop8.lower(jaxmeta.init_state(jax.random.key(0), task, algo, opt),
                    jax.random.key(1)).compile().as_text()
  out["sinusoid"]["hlo"] = {"all_reduce": "all-reduce" in hlo,
                            "local_support": "f32[2,10,1]" in hlo,
                            "global_support": "f32[16,10,1]" in hlo}
  s8m, _, _ = train(task, algo, opt, 16, 4, mesh8, task_axis="map")
  out["sinusoid"]["diff_1_vs_8_map"] = max_diff(s1.params, s8m.params)

  # Evaluation over the mesh: the same per-task curves (12 tasks: batches padded to 8s).
  key = jax.random.key(5)
  e1 = jaxmeta.evaluate(task, algo, s1.params, key, num_tasks=12, num_steps=2, batch_size=5)
  e8 = jaxmeta.evaluate(task, algo, s1.params, key, num_tasks=12, num_steps=2, batch_size=5,
                        mesh=mesh8)
  out["evaluate_diff"] = float(np.max(np.abs(e1 - e8)))

  # ProtoNets on tiny real Omniglot (16x16, Conv-4 of 8 filters), 8 tasks, 3 steps.
  if omniglot_dir:
    from jaxmeta.data.omniglot import omniglot_splits
    from jaxmeta.tasks.episodes import few_shot_task
    splits = omniglot_splits("small-sets", data_dir=omniglot_dir,
                             cache_dir=os.path.join(os.environ["WORKER_TMP"], "cache"),
                             image_size=16)
    task = few_shot_task(splits["train"], 5, 1, 2)
    with parallel.placing_data_on(mesh8):   # the images replicated on the 8 devices
      task8 = few_shot_task(splits["train"], 5, 1, 2)
    model = jaxmeta.models.Conv4(filters=8, output_size=5, stride=1, pool=True, readout="flatten")
    algo = jaxmeta.algorithms.protonet(model, 5)
    # SGD: Adam would turn the round-off noise of gradients that are 0 in exact arithmetic
    # (conv biases before batch norm) into +-lr steps whose sign depends on the layout.
    opt = optax.sgd(0.1)
    p1, _, _ = train(task, algo, opt, 8, 3, None, "auto")
    p8, _, loop = train(task8, algo, opt, 8, 3, mesh8, "auto")
    hlo = loop.lower(jaxmeta.init_state(jax.random.key(0), task8, algo, opt, mesh8),
                     jax.random.key(1)).compile().as_text()
    out["protonet"] = {"diff_1_vs_8": max_diff(p1.params, p8.params),
                       "moved": max_diff(p1.params, jaxmeta.init_state(
                           jax.random.key(0), task, algo, opt).params),
                       # each device samples one task ([1 task, 5 ways, 1 shot, 16, 16, 1]),
                       # never the meta-batch's 8
                       "hlo": {"all_reduce": "all-reduce" in hlo,
                               "local_support": "f32[1,5,1,16,16,1]" in hlo,
                               "global_support": "f32[8,5,1,16,16,1]" in hlo
                               or "f32[8,5,16,16,1]" in hlo}}

  # Bad input through the command line (nothing is compiled before these errors).
  out["too_many_devices"] = cli_error(["train", "--devices", "9", "--steps", "1"])
  out["not_divisible"] = cli_error(["train", "--devices", "8", "--meta-batch-size", "25",
                                    "--steps", "1"])
  out["devices_word"] = cli_error(["train", "--devices", "many", "--steps", "1"])
  print(json.dumps(out))


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else "")
