"""Train and evaluate a metric-based method on the Omniglot small-sets protocol, in a
wall-clock budget; writes ``params.msgpack``, ``metrics.jsonl`` and ``results.json``.

Usage (see benchmarks/RESULTS.md, "Metric-based meta-learning"):

  python benchmarks/metric_omniglot.py --algo protonet --train-ways 60 --shots 5 --query 5 \
      --budget-min 30 --workdir /tmp/runs/protonet

Evaluation: 600 test tasks per setting (5-way 1/5-shot with 15 queries per class, 20-way
1/5-shot with 5), mean and 95 % interval; ``--within-alphabet`` adds the 20-way 1-shot
within-alphabet setting (the Lake-style proxy, with ``--split holdout:ALPHABET``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import flax.serialization
import jax
import numpy as np
import optax

import jaxmeta
from jaxmeta import algorithms
from jaxmeta.checkpoint import atomic_write_bytes, atomic_write_json
from jaxmeta.data.omniglot import omniglot_splits
from jaxmeta.models.conv import Conv4
from jaxmeta.tasks.episodes import few_shot_task

EVAL_SETTINGS = {"5w1s": (5, 1, 15), "5w5s": (5, 5, 15), "20w1s": (20, 1, 5), "20w5s": (20, 5, 5)}


def build(algo: str, ways: int, args, num_train_classes: int = 0):
  pool = args.backbone in ("pool", "relation", "koch")
  emb = Conv4(args.filters, stride=1 if pool else 2, pool=pool, norm=args.norm,
              pool_layers={"relation": 2, "koch": 3}.get(args.backbone),
              readout="map" if algo == "relation" else "flatten")
  if algo == "protonet":
    return algorithms.protonet(emb, ways)
  if algo in ("matching", "matching-fce"):
    return algorithms.matching(emb, ways, fce=algo == "matching-fce", read_steps=args.read_steps,
                               cosine_scale=args.cosine_scale, learn_scale=args.learn_scale)
  if algo == "relation":
    return algorithms.relation(emb, ways)
  if algo == "siamese":
    return algorithms.siamese(emb, ways, distort=args.distort)
  if algo == "embedding-nn":
    return algorithms.embedding_nn(emb, num_train_classes, ways)
  raise SystemExit(f"unknown --algo {algo}")


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--algo", required=True)
  p.add_argument("--split", default="small-sets")
  p.add_argument("--data-dir", default="/work/shared/data/omniglot")
  p.add_argument("--train-ways", type=int, default=60)
  p.add_argument("--shots", type=int, default=5)
  p.add_argument("--query", type=int, default=5)
  p.add_argument("--meta-batch-size", type=int, default=1)
  p.add_argument("--lr", type=float, default=1e-3)
  p.add_argument("--budget-min", type=float, default=30.0)
  p.add_argument("--max-steps", type=int, default=1_000_000)
  p.add_argument("--chunk", type=int, default=25)
  p.add_argument("--backbone", default="pool", choices=("pool", "stride2", "relation", "koch"),
                 help="pool: Conv-4 with 4 max-pools (ProtoNets); stride2: MAML's; relation: "
                      "pools after the first 2 blocks only (Relation Nets, 7x7 maps); koch: "
                      "after the first 3 (Koch et al.'s layout, 3x3x64 features)")
  p.add_argument("--filters", type=int, default=64)
  p.add_argument("--norm", default="batch")
  p.add_argument("--read-steps", type=int, default=5)
  p.add_argument("--distort", action="store_true")
  p.add_argument("--cosine-scale", type=float, default=1.0, help="Matching Nets: softmax(s * cosine)")
  p.add_argument("--learn-scale", action="store_true", help="Matching Nets: learn s")
  p.add_argument("--eval", default="5w1s,5w5s,20w1s,20w5s")
  p.add_argument("--within-alphabet", action="store_true")
  p.add_argument("--eval-tasks", type=int, default=600)
  p.add_argument("--eval-batch", type=int, default=20, help="tasks per jitted evaluation call")
  p.add_argument("--params", type=Path, help="skip training: evaluate these saved params")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--workdir", type=Path, required=True)
  args = p.parse_args()
  args.workdir.mkdir(parents=True, exist_ok=True)

  splits = omniglot_splits(args.split, data_dir=args.data_dir)
  train = splits["train"]
  if args.algo == "embedding-nn":
    task = algorithms.classification_task(train.images, train.counts,
                                          batch_size=args.train_ways * (args.shots + args.query) // 2)
  else:
    task = few_shot_task(train, args.train_ways, args.shots, args.query)
  algo = build(args.algo, args.train_ways, args, train.num_classes)
  opt = optax.adam(args.lr)
  train_key, eval_key = jax.random.split(jax.random.key(args.seed))
  state = jaxmeta.init_state(jax.random.fold_in(train_key, 10**6), task, algo, opt)
  loop = jaxmeta.make_train_loop(task, algo, opt, args.meta_batch_size, args.chunk)
  start, log = time.time(), args.workdir / "metrics.jsonl"
  if args.params is not None:   # evaluation only
    state = state._replace(params=flax.serialization.from_bytes(state.params, args.params.read_bytes()))
    args.budget_min = 0.0
  else:
    log.write_text("")
  while int(state.step) < args.max_steps and time.time() - start < 60 * args.budget_min:
    state, m = loop(state, train_key)
    rec = {"step": int(state.step), "wall_s": round(time.time() - start, 1),
           **{k: float(np.mean(v)) for k, v in m.items()}}
    with log.open("a") as f:
      f.write(json.dumps(rec) + "\n")
  train_s = time.time() - start
  if args.params is None:
    atomic_write_bytes(args.workdir / "params.msgpack", flax.serialization.to_bytes(state.params))

  results = {"algo": args.algo, "split": args.split, "steps": int(state.step),
             "train_s": round(train_s, 1), "args": {k: str(v) for k, v in vars(args).items()},
             "eval": {}}
  settings = [(s, EVAL_SETTINGS[s], False) for s in args.eval.split(",") if s]
  if args.within_alphabet:
    settings.append(("20w1s-within-alphabet", (20, 1, 1), True))
  test = splits["test"]
  for name, (w, k, q), within in settings:
    t = few_shot_task(test, w, k, q, within_alphabet=within)
    a = build(args.algo, w, args, train.num_classes)
    acc = jaxmeta.evaluate(t, a, state.params, eval_key, args.eval_tasks, 0, batch_size=args.eval_batch)[:, 0]
    results["eval"][name] = jaxmeta.summarize(acc)
    print(name, results["eval"][name], flush=True)
  atomic_write_json(args.workdir / "results.json", results)
  print(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
