"""Named presets: the settings of published paper rows, written as data.

A preset is a name for a set of option values (option name as in ``Config``, e.g.
``inner_lr`` for ``--inner-lr``) that reproduces one row of a paper's results table, or one
of our own variants of such a row. A run's values come from, in increasing priority: the
``Config`` defaults, the ``--preset`` (its ``values`` override the defaults), then flags given
explicitly (which override the preset).

To add a preset, append one ``Preset(...)`` entry to its group in ``_ENTRIES`` below:

- ``name``: unique, ``<algo>-<task>[-<setting>]`` like the others;
- ``values``: the options the paper row sets (anything not given keeps its ``Config``
  default); start from a group's shared protocol dict (``dict(_OMNIGLOT, ...)``) where one
  applies, and write tuples as tuples (``eval_steps=(0, 1, 3)``);
- ``description``: one line for ``jaxmeta presets``;
- ``paper`` and ``table``: the paper and the table, figure or section whose row the preset
  reproduces. A preset that reproduces no paper row (sized for a CPU, a baseline of ours)
  says so in ``table``, with where its numbers are (benchmarks/RESULTS.md).

Keep the reason for any value that is not the paper's in a comment next to the entry.

Papers: Finn, Abbeel & Levine 2017 (MAML, ICML); Li, Zhou, Chen & Li 2017 (Meta-SGD, arXiv
1707.09835); Raghu, Raghu, Bengio & Vinyals 2020 (ANIL, ICLR); Nichol, Achiam & Schulman 2018
(Reptile, arXiv 1803.02999); Snell, Swersky & Zemel 2017 (Prototypical Networks, NeurIPS);
Vinyals, Blundell, Lillicrap, Kavukcuoglu & Wierstra 2016 (Matching Networks, NeurIPS); Sung,
Yang, Zhang, Xiang, Torr & Hospedales 2018 (Relation Networks, CVPR); Koch, Zemel &
Salakhutdinov 2015 (Siamese networks, ICML deep learning workshop); Lake, Salakhutdinov &
Tenenbaum 2015 (Science 350:1332, one-shot classification benchmark).
"""
from __future__ import annotations

from typing import NamedTuple


class Preset(NamedTuple):
  """One named setting: the option values of one paper row (or of a variant of ours)."""
  name: str
  values: dict        # option name -> value; overrides the Config defaults
  description: str    # one line, shown by `jaxmeta presets`
  paper: str          # e.g. "Finn et al. 2017, MAML"
  table: str          # the table/figure/section row reproduced, or why there is none


# Metric-based methods on Omniglot (issue 6). Paper settings on the small-sets protocol,
# with step counts sized for a CPU (the papers ran far longer); then one `<algo>-lake-small`
# preset per method: all 242 characters of the two small sets, ready for `jaxmeta eval-lake`.
# Evaluation is non-transductive (eval_norm="support"), as in the authors' code: ProtoNets
# evaluates with model.eval(), Relation Nets embeds support and query in separate passes.
# Figures in benchmarks/RESULTS.md measured before this are transductive (--eval-norm episode).
_OMNIGLOT = dict(task="omniglot", split="small-sets", rotation="classes", steps_per_call=50,
                 log_every=100, eval_tasks=600, eval_steps=(0,), eval_query=15,
                 eval_norm="support")

# Relation Nets' code: gradients clipped to norm 0.5 (per module there; one global norm
# here), Adam 1e-3 halved every 100000 episodes (StepLR); conv4-relation is its encoder.
_RELATION_CODE = dict(outer_clip_norm=0.5, outer_schedule="halve", outer_halve_every=100000)

# The metric papers' mini-ImageNet settings (84x84, Ravi & Larochelle split, 600 test tasks
# with 15 queries per class). Snell et al.: Conv-4 64 with pools, 30-way 1-shot / 20-way
# 5-shot training with 15 queries. Vinyals et al.: the same Conv-4, trained 5-way. Sung et
# al.: the Relation encoder (19x19 maps at 84x84), 15 queries (1-shot) / 10 (5-shot).
_MINI = dict(task="mini-imagenet", image_size=84, rotation="none", steps_per_call=20,
             log_every=100, eval_tasks=600, eval_steps=(0,), eval_query=15, eval_ways=5,
             eval_batch=20, outer_lr=1e-3, eval_norm="support")

# Gradient-based meta-learning on images (issue 4). Finn et al. 2017 sec. 5.2 / app. A.1:
# Omniglot 5-way with the stride-2 Conv-4 (64 filters, batch statistics), alpha 0.4, one
# inner step, evaluated after 3 steps, meta-batch 32, query = K per class, Adam 1e-3, 60k
# steps; 20-way: alpha 0.1, 5 steps, meta-batch 16. mini-ImageNet: Conv-4 with 32 filters
# and 2x2 max-pools, alpha 0.01, 5 steps (10 at test), meta-batch 4 (1-shot) / 2 (5-shot),
# 15 queries. Evaluation: 600 test tasks with 15 queries per class. The mini-ImageNet entries
# override task, model, filters, rotation and image_size; `split` is Omniglot's and unused there.
# The MAML authors' inner loss is the per-example cross-entropy / K summed over the support
# set (their utils.xent), N times jaxmeta's mean: inner_loss_scale="ways" makes their alpha
# take their step (5x the mean's at 5-way, 20x at 20-way; MAML, FOMAML and ANIL read it).
# Their batch norm's offset is learned in the outer loop only: inner_params="weights"
# (MAML and FOMAML read it; their batch norm also has no scale, jaxmeta's learns one).
_GBML_OMNIGLOT = dict(task="omniglot", model="conv4", split="small-sets", rotation="classes",
                      filters=64, norm="batch", task_axis="auto", conv_impl="auto",
                      inner_loss_scale="ways", inner_params="weights",
                      outer_lr=1e-3, steps=60000, steps_per_call=50, log_every=500,
                      eval_tasks=600, eval_query=15)

_METASGD = dict(algo="metasgd", metasgd_init="uniform")

# The CPU-sized settings under which benchmarks/RESULTS.md measured the gradient-based
# methods on Omniglot (maml-omniglot-5w1s-cpu and its variants below): 5 queries per
# class, the mean inner loss and batch norm adapted in the inner loop (what the measured
# runs used, before issue 17's authors'-code defaults), evaluated after 0/1/3/10 steps.
_GBML_CPU = dict(_GBML_OMNIGLOT, ways=5, shots=1, query=5, inner_lr=0.4, inner_steps=1,
                 meta_batch_size=32, steps=3000, log_every=50, steps_per_call=25, eval_shots=1,
                 eval_steps=(0, 1, 3, 10), inner_loss_scale="mean", inner_params="all")

# Reptile as published (the `reptile-omniglot-*-published*` presets; sources and
# deviations in the comment above them, further down): its network (conv4-flatten:
# stride-2 Conv-4, the 2x2x64 maps flattened), inner Adam 0.001 (beta1 0) for 5 steps on
# batches of 10 of 10 training shots, meta-batch 5, meta step 1 annealed to 0 over 100k
# steps, evaluation by 50 Adam steps on batches of 5 with 1 query per class, 10000 tasks.
_REPTILE_PUBLISHED = dict(
    _GBML_OMNIGLOT, algo="reptile", split="reptile", rotation="classes", ways=5, shots=10,
    query=5, inner_optimizer="adam", inner_lr=0.001, inner_beta1=0.0, inner_beta2=0.999,
    inner_steps=5, inner_batch=10, meta_batch_size=5, optimizer="sgd", outer_lr=0.001,
    outer_schedule="linear", steps=100000, norm="batch", eval_query=1, eval_steps=(0, 50),
    eval_inner_batch=5, eval_tasks=10000, model="conv4-flatten",
    # supervised-reptile's one inner Adam: its moments carry over from task to task.
    inner_state="carried")

# Reptile as benchmarks/RESULTS.md measured it on a CPU: the inner loop trained on 10 shots
# per class (the Reptile code's --train-shots 10) with 5 SGD steps at 0.1, one query, SGD
# meta-step epsilon = 0.5 (outer SGD at 0.05 on (theta - W) / alpha), 1000 steps.
_REPTILE_CPU = dict(_GBML_OMNIGLOT, algo="reptile", ways=5, shots=10, query=1, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=5, optimizer="sgd", outer_lr=0.05,
                    steps=1000, steps_per_call=25, log_every=50, eval_steps=(0, 5, 50))

# The Lake-style proxy of benchmarks/RESULTS.md ("Metric-based meta-learning"): train on
# every small-set alphabet but Korean (with rotations), test 20-way 1-shot tasks of Korean's
# 40 characters, one query per class. The test split holds Korean alone, so every test
# task is within one alphabet without `within_alphabet` (which would also restrict the
# training episodes, unlike the measured runs). Constant Adam 1e-3, as measured.
_KOREAN = dict(_OMNIGLOT, split="holdout:Korean", eval_ways=20, eval_shots=1, eval_query=1,
               outer_lr=1e-3)

# The LSTM meta-learner (Ravi & Larochelle 2017 sec. 4, and the authors' code): the Conv-4
# learner with 32 filters, batch norm and 2x2 max-pools (conv4-pool), 5-way, 15 queries per
# class; T = 12 updates at 1-shot (batches of 5), 8 at 5-shot (batches of 25), i.e. the whole
# support set at every update; Adam 1e-3, gradients clipped to global norm 0.25, one task
# per meta-step (the authors' code). Evaluated after the same T updates on 600 tasks, with
# the support set's batch-norm statistics (the meta-LSTM always evaluates so; eval_norm says
# it in config.json and eval.json).
_META_LSTM = dict(algo="meta-lstm", model="conv4-pool", filters=32, norm="batch", ways=5,
                  query=15, meta_batch_size=1, optimizer="adam", outer_lr=1e-3, clip_norm=0.25,
                  eval_query=15, eval_tasks=600, eval_norm="support")

# Ravi & Larochelle's "Baseline-finetune": the meta-LSTM's learner pretrained as a classifier
# on all training characters (batches of 32 x 4 = 128 images), then a new 5-way output layer
# fine-tuned with SGD on the support set at test; the step size was chosen on the validation
# characters (`jaxmeta eval --split val --inner-lr ...`, 200 tasks, 50 steps: 0.03 93.2 %,
# 0.1 83.3 %, 0.3 75.7 %; benchmarks/RESULTS.md).
_FINETUNE = dict(task="omniglot", split="small-sets", rotation="classes", algo="finetune",
                 model="conv4-pool", filters=32, norm="batch", ways=32, shots=1, query=3,
                 meta_batch_size=1, optimizer="adam", outer_lr=1e-3, steps=4500, eval_ways=5,
                 eval_query=15, inner_lr=0.03, eval_steps=(0, 1, 5, 10, 25, 50), eval_tasks=600,
                 steps_per_call=50, log_every=500)

# Santoro et al. 2016's Omniglot sequence episodes (see the MANN entries at the end).
_MANN = dict(task="omniglot", split="small-sets", rotation="per-task", image_size=20, ways=5,
             episode_length=50, label_encoding="one-hot", meta_batch_size=16, optimizer="adam",
             outer_lr=1e-3, steps=20000, steps_per_call=100, log_every=500, eval_tasks=1000,
             eval_steps=(1, 2, 3, 4, 5, 10), eval_batch=100, jitter_degrees=15.0,
             jitter_shift=0.1)

# Meta Networks (Munkhdalai & Yu 2017, sec. 4.1 and the authors' Omniglot code): both
# networks 5 x [conv 64, ReLU, pool] + 64 -> 64 -> N without biases or batch norm, 28x28
# images, a random rotation per class, 10 queries per class in training, T = 5 support
# mini-batches for F, the code's N-way cross-entropy as representation loss, one episode
# per update, Adam 1e-3, gradient norm clipped at 10. Evaluated on 600 episodes of unseen
# characters (small-sets protocol) with 15 queries per class. The step counts are sized
# for a 2-core CPU (benchmarks/RESULTS.md), not the paper's.
_METANET = dict(task="omniglot", split="small-sets", rotation="per-task", algo="metanet",
                shots=1, query=10, meta_batch_size=1, optimizer="adam", outer_lr=1e-3,
                metanet_clip=10.0, metanet_loss="ce", metanet_minibatches=5, filters=64,
                image_size=28, task_axis="map", steps_per_call=10, log_every=100,
                eval_tasks=600, eval_shots=1, eval_query=15, eval_steps=(0,))

_ENTRIES = (
    # ---- Sinusoid regression (Finn et al. 2017 sec. 5.1) ----
    Preset(
        name="maml-sinusoid",
        paper="Finn et al. 2017, MAML",
        table="sec. 5.1 (sinusoid regression), Figs. 2-3",
        description="Finn et al. 2017 sec. 5.1: MLP 40-40, alpha 0.01, 1 step, K=10, batch 25, "
                    "Adam 1e-3, 70k steps",
        values=dict(task="sinusoid", algo="maml", shots=10, query=10, inner_lr=0.01, inner_steps=1,
                    meta_batch_size=25, outer_lr=1e-3, steps=70000, baseline="pretrained")),
    Preset(
        name="fomaml-sinusoid",
        paper="Finn et al. 2017, MAML",
        table="no paper row: first-order MAML with the sec. 5.1 sinusoid settings",
        description="first-order MAML with the maml-sinusoid settings",
        values=dict(task="sinusoid", algo="fomaml", shots=10, query=10, inner_lr=0.01,
                    inner_steps=1, meta_batch_size=25, outer_lr=1e-3, steps=70000)),
    Preset(
        name="reptile-sinusoid",
        paper="Nichol et al. 2018, Reptile",
        table="no paper row: Reptile (5 inner steps) with Finn et al. 2017's sec. 5.1 sinusoid settings",
        description="Reptile, 5 inner SGD steps, otherwise the maml-sinusoid settings",
        values=dict(task="sinusoid", algo="reptile", shots=10, query=10, inner_lr=0.01,
                    inner_steps=5, meta_batch_size=25, outer_lr=1e-3, steps=70000)),
    # The Reptile blog post's sinusoid demo (J. Schulman's gist reptile-sinewaves-demo.py):
    # MLP 1-64-64-1 tanh, one task per meta-step, one pass of SGD at 0.02 over the task's 50
    # points in mini-batches of 10 (5 steps), W - theta scaled by an outer step 0.1 annealed
    # linearly to 0 over 30000 steps: outer SGD at 0.1 * 0.02 = 0.002 on (theta - W) / alpha.
    # Evaluated on 10 points, curves to 32 steps (the gist plots every 8). Deviations: the
    # gist's 50 inputs are a fixed grid on [-5, 5] and its phase is uniform on [0, 2 pi); the
    # task here draws 50 uniform inputs and the MAML paper's phase range [0, pi].
    Preset(
        name="reptile-sinusoid-gist",
        paper="Nichol, Achiam & Schulman 2018, On First-Order Meta-Learning Algorithms",
        table="no paper row: the sinusoid demo of the Reptile blog post (reptile-sinewaves-demo.py)",
        description="Reptile sinusoid demo: MLP 64-64 tanh, SGD 0.02 on batches of 10 of 50 points, "
                    "outer step 0.1 -> 0, 30k steps",
        values=dict(task="sinusoid", algo="reptile", model="mlp", hidden=(64, 64),
                    activation="tanh", shots=50, query=10, inner_optimizer="sgd", inner_lr=0.02,
                    inner_steps=5, inner_batch=10, meta_batch_size=1, optimizer="sgd",
                    outer_lr=0.002, outer_schedule="linear", steps=30000, eval_shots=10,
                    eval_steps=(0, 1, 8, 32))),
    Preset(
        name="pretrained-sinusoid",
        paper="Finn et al. 2017, MAML",
        table="sec. 5.1, Figs. 2-3 (the 'pretrained' joint-training baseline)",
        description="the MAML paper's joint-training baseline on sinusoids",
        values=dict(task="sinusoid", algo="pretrained", shots=10, query=10, inner_lr=0.01,
                    meta_batch_size=25, outer_lr=1e-3, steps=70000)),
    # The MAML reference code's sinusoid run: its --update_lr defaults to 0.001 and the
    # README's sinusoid command keeps it (see benchmarks/RESULTS.md, "Sinusoid regression").
    Preset(
        name="maml-sinusoid-reference",
        paper="Finn et al. 2017, MAML",
        table="sec. 5.1 (sinusoid regression) as the reference code runs it (--update_lr 0.001; "
              "benchmarks/RESULTS.md, 'Sinusoid regression')",
        description="maml-sinusoid with alpha 0.001, as the MAML reference code ran it "
                    "(no fine-tuning blow-ups)",
        values=dict(task="sinusoid", algo="maml", shots=10, query=10, inner_lr=0.001,
                    inner_steps=1, meta_batch_size=25, outer_lr=1e-3, steps=70000,
                    baseline="pretrained")),

    # ---- Metric-based methods on Omniglot (small-sets protocol) ----
    # Snell et al. 2017: Conv-4 (64 filters, 2x2 pools), 60-way training, 5 queries, Adam 1e-3.
    Preset(
        name="protonet-omniglot-1shot",
        paper="Snell et al. 2017, Prototypical Networks",
        table="Table 1 (Omniglot 5-way 1-shot; trained 60-way), CPU-sized step count",
        description="Snell et al. 2017: ProtoNet, Conv-4 pool, 60-way 1-shot 5-query training, 5-way test",
        values=dict(_OMNIGLOT, algo="protonet", model="conv4-pool", ways=60, shots=1, query=5,
                    outer_schedule="halve", meta_batch_size=1, outer_lr=1e-3, steps=5000, eval_ways=5, eval_shots=1)),
    Preset(
        name="protonet-omniglot-5shot",
        paper="Snell et al. 2017, Prototypical Networks",
        table="Table 1 (Omniglot 5-way 5-shot; trained 60-way), CPU-sized step count",
        description="Snell et al. 2017: ProtoNet, Conv-4 pool, 60-way 5-shot 5-query training, 5-way test",
        values=dict(_OMNIGLOT, algo="protonet", model="conv4-pool", ways=60, shots=5, query=5,
                    outer_schedule="halve", meta_batch_size=1, outer_lr=1e-3, steps=5000, eval_ways=5, eval_shots=5)),
    # Vinyals et al. 2016: same Conv-4, trained on the test setting (5-way 1-shot), batch 32.
    Preset(
        name="matching-omniglot",
        paper="Vinyals et al. 2016, Matching Networks",
        table="Table 1 (Omniglot 5-way 1-shot, 'Matching Nets'), CPU-sized step count",
        description="Vinyals et al. 2016: Matching Nets (f = g), Conv-4 pool, 5-way 1-shot, batch 32",
        values=dict(_OMNIGLOT, algo="matching", model="conv4-pool", ways=5, shots=1, query=15,
                    meta_batch_size=32, outer_lr=1e-3, steps=3000, eval_shots=1)),
    Preset(
        name="matching-fce-omniglot",
        paper="Vinyals et al. 2016, Matching Networks",
        table="Table 1 (Omniglot 5-way 1-shot, 'Matching Nets'; the paper's FCE rows are "
              "mini-ImageNet's, Table 2), CPU-sized step count",
        description="Vinyals et al. 2016: Matching Nets with Full Context Embeddings, 5 reads",
        values=dict(_OMNIGLOT, algo="matching-fce", model="conv4-pool", ways=5, shots=1, query=15,
                    meta_batch_size=32, outer_lr=1e-3, steps=3000, read_steps=5, eval_shots=1)),
    # What benchmarks/RESULTS.md measured: a learned temperature on the cosine (from 10), and
    # 20-way training episodes, 2 per step; ~22 min at half of a 2-core CPU.
    Preset(
        name="matching-omniglot-scaled",
        paper="Vinyals et al. 2016, Matching Networks",
        table="no paper row: Table 1's Omniglot 5-way 1-shot with a learned cosine scale and 20-way "
              "training, sized for a 2-core CPU (benchmarks/RESULTS.md)",
        description="Matching Nets (f = g) with a learned cosine temperature, 20-way 1-shot, batch 2 "
                    "(RESULTS.md)",
        values=dict(_OMNIGLOT, algo="matching", model="conv4-pool", ways=20, shots=1, query=5,
                    meta_batch_size=2, outer_lr=1e-3, steps=4400, cosine_scale=10.0,
                    learn_scale=True, eval_ways=5, eval_shots=1)),
    Preset(
        name="matching-fce-omniglot-scaled",
        paper="Vinyals et al. 2016, Matching Networks",
        table="no paper row: FCE on Omniglot 5-way 1-shot with a learned cosine scale and 20-way "
              "training, sized for a 2-core CPU (benchmarks/RESULTS.md)",
        description="Matching Nets FCE with a learned cosine temperature, 20-way 1-shot, batch 2 "
                    "(RESULTS.md)",
        values=dict(_OMNIGLOT, algo="matching-fce", model="conv4-pool", ways=20, shots=1, query=5,
                    meta_batch_size=2, outer_lr=1e-3, steps=4800, read_steps=5, cosine_scale=10.0,
                    learn_scale=True, eval_ways=5, eval_shots=1)),
    # Sung et al. 2018: 5-way 1-shot with 19 queries, Adam 1e-3, one episode per step; the
    # authors' encoder (no padding in blocks 1-2, pools after them only: 5x5x64 maps).
    # Its evaluation compares every query with every class map: 10 tasks per compiled call
    # keeps 20-way evaluation within a few GB.
    Preset(
        name="relation-omniglot",
        paper="Sung et al. 2018, Relation Networks",
        table="Table 1 (Omniglot 5-way 1-shot), CPU-sized step count",
        description="Sung et al. 2018: Relation Net, its Conv-4 encoder (5x5 maps), 5-way 1-shot 19-query",
        values=dict(_OMNIGLOT, algo="relation", model="conv4-relation", ways=5, shots=1, query=19,
                    meta_batch_size=1, outer_lr=1e-3, steps=10000, eval_shots=1, eval_batch=10,
                    **_RELATION_CODE)),
    # Koch et al. 2015: the paper's 105x105 network, verification pairs, affine distortions
    # (heavy on a CPU); and the Conv-4 variant at 28x28.
    Preset(
        name="siamese-koch-omniglot",
        paper="Koch et al. 2015, Siamese Networks",
        table="Table 2 (Omniglot 20-way one-shot, 'Convolutional Siamese Net')",
        description="Koch et al. 2015: the 105x105 Siamese network, affine distortions (slow on CPU)",
        values=dict(_OMNIGLOT, algo="siamese", model="koch", image_size=105, distort=True, ways=20,
                    shots=1, query=1, meta_batch_size=8, outer_lr=6e-5, steps=20000, eval_shots=1,
                    eval_query=1)),
    Preset(
        name="siamese-omniglot",
        paper="Koch et al. 2015, Siamese Networks",
        table="no paper row: Koch's objective on a Conv-4 twin at 28x28, 5-way test, sized for a "
              "2-core CPU (benchmarks/RESULTS.md)",
        description="Koch et al. 2015 objective, Conv-4 twin with Koch's pooling (3x3x64 features), "
                    "all pairs of 20-way episodes",
        values=dict(_OMNIGLOT, algo="siamese", model="conv4-koch", ways=20, shots=1, query=5,
                    meta_batch_size=2, outer_lr=1e-3, steps=2600, eval_ways=5, eval_shots=1)),
    # The metric papers' baseline: a classifier on all training classes, cosine NN on its
    # features; batches of ways * (shots + query) = 128 images.
    Preset(
        name="embedding-nn-omniglot",
        paper="Vinyals et al. 2016, Matching Networks",
        table="Table 1 (Omniglot 5-way 1-shot, 'Baseline Classifier', cosine, no fine-tuning), "
              "CPU-sized step count",
        description="baseline: classifier on the training characters, cosine nearest neighbour",
        values=dict(_OMNIGLOT, algo="embedding-nn", model="conv4-pool", ways=32, shots=1, query=3,
                    meta_batch_size=1, outer_lr=1e-3, steps=4500, eval_ways=5, eval_shots=1)),

    # ---- `<algo>-lake-small` ----
    # The configurations of benchmarks/RESULTS.md trained on all 242 characters of both small
    # sets (split lake-small) for 30-45 min on 2 CPU cores (measured alone on the machine with
    # benchmarks/preset_durations.py; their step counts were sized for "about 25 min" from
    # rates assumed 1.7x those measured on half of the machine); evaluated 20-way 1-shot; score with
    # `jaxmeta eval-lake --workdir DIR --runs all_runs.zip`. Each entry is its base preset
    # above with split, steps, eval_ways and eval_shots changed.
    Preset(
        name="protonet-lake-small",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="Fig. 6A (20 within-alphabet 20-way one-shot runs); no paper row: protonet-omniglot-5shot "
              "on both small background sets, ~35 min on 2 CPU cores (benchmarks/RESULTS.md)",
        description="protonet-omniglot-5shot on all 242 small-set characters (+rotations), 3200 steps, "
                    "for jaxmeta eval-lake",
        values=dict(_OMNIGLOT, split="lake-small", algo="protonet", model="conv4-pool", ways=60,
                    shots=5, query=5, meta_batch_size=1, outer_lr=1e-3, steps=3200, eval_ways=20,
                    eval_shots=1)),
    Preset(
        name="matching-lake-small",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="Fig. 6A (20 within-alphabet 20-way one-shot runs); no paper row: matching-omniglot-scaled "
              "on both small background sets, ~35 min on 2 CPU cores (benchmarks/RESULTS.md)",
        description="matching-omniglot-scaled on all 242 small-set characters (+rotations), 8000 steps, "
                    "for jaxmeta eval-lake",
        values=dict(_OMNIGLOT, split="lake-small", algo="matching", model="conv4-pool", ways=20,
                    shots=1, query=5, meta_batch_size=2, outer_lr=1e-3, steps=8000, cosine_scale=10.0,
                    learn_scale=True, eval_ways=20, eval_shots=1)),
    Preset(
        name="matching-fce-lake-small",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="Fig. 6A (20 within-alphabet 20-way one-shot runs); no paper row: "
              "matching-fce-omniglot-scaled on both small background sets, ~30 min on 2 CPU cores "
              "(benchmarks/RESULTS.md)",
        description="matching-fce-omniglot-scaled on all 242 small-set characters (+rotations), "
                    "8000 steps, for jaxmeta eval-lake",
        values=dict(_OMNIGLOT, split="lake-small", algo="matching-fce", model="conv4-pool", ways=20,
                    shots=1, query=5, meta_batch_size=2, outer_lr=1e-3, steps=8000, read_steps=5,
                    cosine_scale=10.0, learn_scale=True, eval_ways=20, eval_shots=1)),
    Preset(
        name="relation-lake-small",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="Fig. 6A (20 within-alphabet 20-way one-shot runs); no paper row: relation-omniglot "
              "on both small background sets, ~45 min on 2 CPU cores (benchmarks/RESULTS.md)",
        description="relation-omniglot on all 242 small-set characters (+rotations), 10000 steps, "
                    "for jaxmeta eval-lake",
        values=dict(_OMNIGLOT, split="lake-small", algo="relation", model="conv4-relation-same",
                    ways=5, shots=1, query=19, meta_batch_size=1, outer_lr=1e-3, steps=10000,
                    eval_shots=1, eval_batch=10, eval_ways=20)),   # as RESULTS.md measured it
    Preset(
        name="siamese-lake-small",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="Fig. 6A (20 within-alphabet 20-way one-shot runs); no paper row: siamese-omniglot "
              "on both small background sets, ~30 min on 2 CPU cores (benchmarks/RESULTS.md)",
        description="siamese-omniglot on all 242 small-set characters (+rotations), 4500 steps, "
                    "for jaxmeta eval-lake",
        values=dict(_OMNIGLOT, split="lake-small", algo="siamese", model="conv4-koch", ways=20,
                    shots=1, query=5, meta_batch_size=2, outer_lr=1e-3, steps=4500, eval_ways=20,
                    eval_shots=1)),
    Preset(
        name="embedding-nn-lake-small",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="Fig. 6A (20 within-alphabet 20-way one-shot runs); no paper row: embedding-nn-omniglot "
              "on both small background sets, ~35 min on 2 CPU cores (benchmarks/RESULTS.md)",
        description="embedding-nn-omniglot on all 242 small-set characters (+rotations), 7500 steps, "
                    "for jaxmeta eval-lake",
        values=dict(_OMNIGLOT, split="lake-small", algo="embedding-nn", model="conv4-pool", ways=32,
                    shots=1, query=3, meta_batch_size=1, outer_lr=1e-3, steps=7500, eval_ways=20,
                    eval_shots=1)),

    # ---- `<algo>-omniglot-korean`: the Lake-style proxy (settings: see _KOREAN) ----
    # The training episodes of the metric presets above, with the step counts of the
    # measured runs (about 9 min of half the 2-core machine each).
    Preset(
        name="protonet-omniglot-korean",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="no paper row: a within-alphabet 20-way 1-shot proxy, Korean held out "
              "(benchmarks/RESULTS.md)",
        description="ProtoNet (60-way 5-shot training) tested 20-way 1-shot within held-out Korean, "
                    "800 steps",
        values=dict(_KOREAN, algo="protonet", model="conv4-pool", ways=60, shots=5, query=5,
                    meta_batch_size=1, steps=800)),
    Preset(
        name="matching-omniglot-korean",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="no paper row: a within-alphabet 20-way 1-shot proxy, Korean held out "
              "(benchmarks/RESULTS.md)",
        description="Matching Nets, learned cosine scale, tested 20-way 1-shot within held-out "
                    "Korean, 1500 steps",
        values=dict(_KOREAN, algo="matching", model="conv4-pool", ways=20, shots=1, query=5,
                    meta_batch_size=2, steps=1500, cosine_scale=10.0, learn_scale=True)),
    Preset(
        name="matching-fce-omniglot-korean",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="no paper row: a within-alphabet 20-way 1-shot proxy, Korean held out "
              "(benchmarks/RESULTS.md)",
        description="Matching Nets FCE, learned cosine scale, tested 20-way 1-shot within held-out "
                    "Korean, 2000 steps",
        values=dict(_KOREAN, algo="matching-fce", model="conv4-pool", ways=20, shots=1, query=5,
                    meta_batch_size=2, steps=2000, read_steps=5, cosine_scale=10.0,
                    learn_scale=True)),
    Preset(
        name="relation-omniglot-korean",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="no paper row: a within-alphabet 20-way 1-shot proxy, Korean held out "
              "(benchmarks/RESULTS.md)",
        description="Relation Nets (7x7-map encoder, as measured) tested 20-way 1-shot within "
                    "held-out Korean, 2400 steps",
        values=dict(_KOREAN, algo="relation", model="conv4-relation-same", ways=5, shots=1,
                    query=19, meta_batch_size=1, steps=2400, eval_batch=10)),
    Preset(
        name="siamese-omniglot-korean",
        paper="Lake et al. 2015, Science (one-shot classification)",
        table="no paper row: a within-alphabet 20-way 1-shot proxy, Korean held out "
              "(benchmarks/RESULTS.md)",
        description="Siamese (Conv-4 twin, Koch's pooling) tested 20-way 1-shot within held-out "
                    "Korean, 1000 steps",
        values=dict(_KOREAN, algo="siamese", model="conv4-koch", ways=20, shots=1, query=5,
                    meta_batch_size=2, steps=1000)),

    # ---- Metric-based methods on mini-ImageNet (settings: see _MINI) ----
    Preset(
        name="protonet-miniimagenet-1shot",
        paper="Snell et al. 2017, Prototypical Networks",
        table="Table 2 (mini-ImageNet 5-way 1-shot; trained 30-way)",
        description="protonet on mini-ImageNet 1-shot, the paper's training episodes "
                    "(30-way 1-shot 15-query)",
        values=dict(_MINI, algo="protonet", model="conv4-pool", ways=30, shots=1, query=15,
                    meta_batch_size=1, steps=30000, eval_shots=1)),
    Preset(
        name="matching-miniimagenet-1shot",
        paper="Vinyals et al. 2016, Matching Networks",
        table="Table 2 (miniImageNet 5-way 1-shot, 'Matching Nets')",
        description="matching on mini-ImageNet 1-shot, the paper's training episodes "
                    "(5-way 1-shot 15-query)",
        values=dict(_MINI, algo="matching", model="conv4-pool", ways=5, shots=1, query=15,
                    meta_batch_size=4, steps=30000, eval_shots=1)),
    Preset(
        name="matching-fce-miniimagenet-1shot",
        paper="Vinyals et al. 2016, Matching Networks",
        table="Table 2 (miniImageNet 5-way 1-shot, 'Matching Nets FCE')",
        description="matching-fce on mini-ImageNet 1-shot, the paper's training episodes "
                    "(5-way 1-shot 15-query)",
        values=dict(_MINI, algo="matching-fce", model="conv4-pool", ways=5, shots=1, query=15,
                    meta_batch_size=4, steps=30000, read_steps=5, eval_shots=1)),
    Preset(
        name="relation-miniimagenet-1shot",
        paper="Sung et al. 2018, Relation Networks",
        table="Table 2 (miniImageNet 5-way 1-shot)",
        description="relation on mini-ImageNet 1-shot, the paper's training episodes "
                    "(5-way 1-shot 15-query)",
        values=dict(_MINI, algo="relation", model="conv4-relation", ways=5, shots=1, query=15,
                    meta_batch_size=1, steps=100000, eval_shots=1, **_RELATION_CODE,
                    relation_padding="valid",
                    eval_batch=2)),   # 19x19 maps: ~1 GB a task
    Preset(
        name="protonet-miniimagenet-5shot",
        paper="Snell et al. 2017, Prototypical Networks",
        table="Table 2 (mini-ImageNet 5-way 5-shot; trained 20-way)",
        description="protonet on mini-ImageNet 5-shot, the paper's training episodes "
                    "(20-way 5-shot 15-query)",
        values=dict(_MINI, algo="protonet", model="conv4-pool", ways=20, shots=5, query=15,
                    meta_batch_size=1, steps=30000, eval_shots=5)),
    Preset(
        name="matching-miniimagenet-5shot",
        paper="Vinyals et al. 2016, Matching Networks",
        table="Table 2 (miniImageNet 5-way 5-shot, 'Matching Nets')",
        description="matching on mini-ImageNet 5-shot, the paper's training episodes "
                    "(5-way 5-shot 15-query)",
        values=dict(_MINI, algo="matching", model="conv4-pool", ways=5, shots=5, query=15,
                    meta_batch_size=4, steps=30000, eval_shots=5)),
    Preset(
        name="matching-fce-miniimagenet-5shot",
        paper="Vinyals et al. 2016, Matching Networks",
        table="Table 2 (miniImageNet 5-way 5-shot, 'Matching Nets FCE')",
        description="matching-fce on mini-ImageNet 5-shot, the paper's training episodes "
                    "(5-way 5-shot 15-query)",
        values=dict(_MINI, algo="matching-fce", model="conv4-pool", ways=5, shots=5, query=15,
                    meta_batch_size=4, steps=30000, read_steps=5, eval_shots=5)),
    Preset(
        name="relation-miniimagenet-5shot",
        paper="Sung et al. 2018, Relation Networks",
        table="Table 2 (miniImageNet 5-way 5-shot)",
        description="relation on mini-ImageNet 5-shot, the paper's training episodes "
                    "(5-way 5-shot 10-query)",
        values=dict(_MINI, algo="relation", model="conv4-relation", ways=5, shots=5, query=10,
                    meta_batch_size=1, steps=100000, eval_shots=5, **_RELATION_CODE,
                    relation_padding="valid",
                    eval_batch=2)),   # 19x19 maps: ~1 GB a task

    # ---- Gradient-based meta-learning on images (settings: see _GBML_OMNIGLOT) ----
    Preset(
        name="maml-omniglot-5w1s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (Omniglot 5-way 1-shot)",
        description="Finn et al. 2017: stride-2 Conv-4 64, batch stats, alpha 0.4, 1 step (3 at test), "
                    "batch 32, 60k steps",
        values=dict(_GBML_OMNIGLOT, algo="maml", ways=5, shots=1, query=1, inner_lr=0.4, inner_steps=1,
                    meta_batch_size=32, eval_shots=1, eval_steps=(0, 1, 3))),
    Preset(
        name="maml-omniglot-5w5s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (Omniglot 5-way 5-shot)",
        description="as maml-omniglot-5w1s with K=5",
        values=dict(_GBML_OMNIGLOT, algo="maml", ways=5, shots=5, query=5, inner_lr=0.4, inner_steps=1,
                    meta_batch_size=32, eval_shots=5, eval_steps=(0, 1, 3))),
    Preset(
        name="maml-omniglot-20w1s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (Omniglot 20-way 1-shot)",
        description="Finn et al. 2017: 20-way 1-shot, alpha 0.1, 5 steps, batch 16",
        values=dict(_GBML_OMNIGLOT, algo="maml", ways=20, shots=1, query=1, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=1, eval_steps=(0, 5))),
    Preset(
        name="maml-omniglot-20w5s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (Omniglot 20-way 5-shot)",
        description="Finn et al. 2017: 20-way 5-shot, alpha 0.1, 5 steps, batch 16",
        values=dict(_GBML_OMNIGLOT, algo="maml", ways=20, shots=5, query=5, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=5, eval_steps=(0, 5))),
    # The MAML paper's non-convolutional rows: an MLP 256-128-64-64 (here without batch norm).
    Preset(
        name="maml-omniglot-mlp-5w1s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (Omniglot 5-way 1-shot, 'MAML, no conv'; here without batch norm)",
        description="Finn et al. 2017's non-convolutional row: MLP 256-128-64-64 (no batch norm here)",
        values=dict(_GBML_OMNIGLOT, algo="maml", model="mlp", hidden=(256, 128, 64, 64), ways=5,
                    shots=1, query=1, inner_lr=0.4, inner_steps=1, meta_batch_size=32, eval_shots=1,
                    eval_steps=(0, 1, 3))),
    # What fits a shared 2-core CPU in about an hour (benchmarks/RESULTS.md): 5 queries per
    # class instead of 1 (less noisy meta-gradients), 3000 steps. Its RESULTS.md figures
    # were measured with the mean inner loss (alpha 0.4 on the mean, a 5x smaller step than
    # the authors') and batch norm adapted in the inner loop, which it keeps so that they
    # reproduce.
    Preset(
        name="maml-omniglot-5w1s-cpu",
        paper="Finn et al. 2017, MAML",
        table="no paper row: Table 1's Omniglot 5-way 1-shot sized for a 2-core CPU "
              "(benchmarks/RESULTS.md)",
        description="maml-omniglot-5w1s sized for a 2-core CPU (~15 min alone on it): 5 "
                    "queries/class, 3000 steps",
        values=dict(_GBML_CPU, algo="maml")),
    # The other methods as benchmarks/RESULTS.md measured them beside it: 1500 steps at
    # 1-shot; 5-shot models trained 600 steps. Meta-SGD's rates start at alpha (the measured
    # runs predate --metasgd-init uniform, the paper's draw).
    Preset(
        name="fomaml-omniglot-5w1s-cpu",
        paper="Nichol et al. 2018, Reptile",
        table="no paper row: Table 2's '1st-order MAML' Omniglot 5-way 1-shot sized for a 2-core "
              "CPU (benchmarks/RESULTS.md)",
        description="first-order MAML with the maml-omniglot-5w1s-cpu settings, 1500 steps",
        values=dict(_GBML_CPU, algo="fomaml", steps=1500)),
    Preset(
        name="anil-omniglot-5w1s-cpu",
        paper="Raghu et al. 2020, ANIL",
        table="no paper row: ANIL with the maml-omniglot-5w1s-cpu settings (benchmarks/RESULTS.md)",
        description="ANIL (only the head adapted) with the maml-omniglot-5w1s-cpu settings, 1500 steps",
        values=dict(_GBML_CPU, algo="anil", steps=1500)),
    Preset(
        name="metasgd-omniglot-5w1s-cpu",
        paper="Li et al. 2017, Meta-SGD",
        table="no paper row: Table 2's Omniglot 5-way 1-shot sized for a 2-core CPU "
              "(benchmarks/RESULTS.md)",
        description="Meta-SGD with the maml-omniglot-5w1s-cpu settings, rates started at 0.4, "
                    "1500 steps",
        values=dict(_GBML_CPU, algo="metasgd", metasgd_init="constant", steps=1500)),
    Preset(
        name="maml-omniglot-5w5s-cpu",
        paper="Finn et al. 2017, MAML",
        table="no paper row: Table 1's Omniglot 5-way 5-shot sized for a 2-core CPU "
              "(benchmarks/RESULTS.md)",
        description="maml-omniglot-5w1s-cpu with K=5 (train and test), 600 steps",
        values=dict(_GBML_CPU, algo="maml", shots=5, eval_shots=5, steps=600)),
    Preset(
        name="fomaml-omniglot-5w5s-cpu",
        paper="Nichol et al. 2018, Reptile",
        table="no paper row: Table 2's '1st-order MAML' Omniglot 5-way 5-shot sized for a 2-core "
              "CPU (benchmarks/RESULTS.md)",
        description="first-order MAML with the maml-omniglot-5w5s-cpu settings",
        values=dict(_GBML_CPU, algo="fomaml", shots=5, eval_shots=5, steps=600)),
    Preset(
        name="anil-omniglot-5w5s-cpu",
        paper="Raghu et al. 2020, ANIL",
        table="no paper row: ANIL with the maml-omniglot-5w5s-cpu settings (benchmarks/RESULTS.md)",
        description="ANIL (only the head adapted) with the maml-omniglot-5w5s-cpu settings",
        values=dict(_GBML_CPU, algo="anil", shots=5, eval_shots=5, steps=600)),
    Preset(
        name="metasgd-omniglot-5w5s-cpu",
        paper="Li et al. 2017, Meta-SGD",
        table="no paper row: Table 2's Omniglot 5-way 5-shot sized for a 2-core CPU "
              "(benchmarks/RESULTS.md)",
        description="Meta-SGD with the maml-omniglot-5w5s-cpu settings, rates started at 0.4",
        values=dict(_GBML_CPU, algo="metasgd", metasgd_init="constant", shots=5, eval_shots=5,
                    steps=600)),
    Preset(
        name="maml-miniimagenet-5w1s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (MiniImagenet 5-way 1-shot)",
        description="Finn et al. 2017: Conv-4 32 + max-pool, alpha 0.01, 5 steps (10 at test), batch 4",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, algo="maml",
                    ways=5, shots=1, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=4,
                    image_size=84, rotation="none", eval_shots=1, eval_steps=(0, 10))),
    Preset(
        name="maml-miniimagenet-5w5s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (MiniImagenet 5-way 5-shot)",
        description="Finn et al. 2017: mini-ImageNet 5-way 5-shot, batch 2",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, algo="maml",
                    ways=5, shots=5, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=2,
                    image_size=84, rotation="none", eval_shots=5, eval_steps=(0, 10))),

    # First-order MAML (Finn et al. 2017 sec. 5.2): the same settings, no second derivatives.
    # Meta-SGD (Li et al. 2017): MAML's settings, per-parameter rates drawn in [0.005, 0.1]
    # as in the paper (sec. 4; --metasgd-init constant starts them all at alpha instead).
    # ANIL (Raghu et al. 2020): MAML's settings, only the head adapted.
    # Each entry below is the maml-<suffix> entry above with only `algo` changed.
    Preset(
        name="fomaml-omniglot-5w1s",
        paper="Nichol et al. 2018, Reptile",
        table="Table 2 (Omniglot 5-way 1-shot, '1st-order MAML'; Finn et al. 2017 report first order "
              "on mini-ImageNet only)",
        description="first-order MAML with the maml-omniglot-5w1s settings",
        values=dict(_GBML_OMNIGLOT, algo="fomaml", ways=5, shots=1, query=1, inner_lr=0.4,
                    inner_steps=1, meta_batch_size=32, eval_shots=1, eval_steps=(0, 1, 3))),
    Preset(
        name="metasgd-omniglot-5w1s",
        paper="Li et al. 2017, Meta-SGD",
        table="Table 2 (Omniglot 5-way 1-shot), run with MAML's settings",
        description="Meta-SGD, learned per-parameter alpha, maml-omniglot-5w1s settings",
        values=dict(_GBML_OMNIGLOT, **_METASGD, ways=5, shots=1, query=1, inner_lr=0.4,
                    inner_steps=1, meta_batch_size=32, eval_shots=1, eval_steps=(0, 1, 3))),
    Preset(
        name="anil-omniglot-5w1s",
        paper="Raghu et al. 2020, ANIL",
        table="no paper row: Table 2 reports Omniglot 20-way only; MAML's 5-way 1-shot settings",
        description="ANIL (only the head adapted) with the maml-omniglot-5w1s settings",
        values=dict(_GBML_OMNIGLOT, algo="anil", ways=5, shots=1, query=1, inner_lr=0.4,
                    inner_steps=1, meta_batch_size=32, eval_shots=1, eval_steps=(0, 1, 3))),
    Preset(
        name="fomaml-omniglot-5w5s",
        paper="Nichol et al. 2018, Reptile",
        table="Table 2 (Omniglot 5-way 5-shot, '1st-order MAML'; Finn et al. 2017 report first order "
              "on mini-ImageNet only)",
        description="first-order MAML with the maml-omniglot-5w5s settings",
        values=dict(_GBML_OMNIGLOT, algo="fomaml", ways=5, shots=5, query=5, inner_lr=0.4,
                    inner_steps=1, meta_batch_size=32, eval_shots=5, eval_steps=(0, 1, 3))),
    Preset(
        name="metasgd-omniglot-5w5s",
        paper="Li et al. 2017, Meta-SGD",
        table="Table 2 (Omniglot 5-way 5-shot), run with MAML's settings",
        description="Meta-SGD, learned per-parameter alpha, maml-omniglot-5w5s settings",
        values=dict(_GBML_OMNIGLOT, **_METASGD, ways=5, shots=5, query=5, inner_lr=0.4,
                    inner_steps=1, meta_batch_size=32, eval_shots=5, eval_steps=(0, 1, 3))),
    Preset(
        name="anil-omniglot-5w5s",
        paper="Raghu et al. 2020, ANIL",
        table="no paper row: Table 2 reports Omniglot 20-way only; MAML's 5-way 5-shot settings",
        description="ANIL (only the head adapted) with the maml-omniglot-5w5s settings",
        values=dict(_GBML_OMNIGLOT, algo="anil", ways=5, shots=5, query=5, inner_lr=0.4,
                    inner_steps=1, meta_batch_size=32, eval_shots=5, eval_steps=(0, 1, 3))),
    Preset(
        name="fomaml-omniglot-20w1s",
        paper="Nichol et al. 2018, Reptile",
        table="Table 2 (Omniglot 20-way 1-shot, '1st-order MAML'; Finn et al. 2017 report first order "
              "on mini-ImageNet only)",
        description="first-order MAML with the maml-omniglot-20w1s settings",
        values=dict(_GBML_OMNIGLOT, algo="fomaml", ways=20, shots=1, query=1, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=1, eval_steps=(0, 5))),
    Preset(
        name="metasgd-omniglot-20w1s",
        paper="Li et al. 2017, Meta-SGD",
        table="Table 2 (Omniglot 20-way 1-shot), run with MAML's settings",
        description="Meta-SGD, learned per-parameter alpha, maml-omniglot-20w1s settings",
        values=dict(_GBML_OMNIGLOT, **_METASGD, ways=20, shots=1, query=1, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=1, eval_steps=(0, 5))),
    Preset(
        name="anil-omniglot-20w1s",
        paper="Raghu et al. 2020, ANIL",
        table="Table 2 (Omniglot 20-way 1-shot, ANIL vs MAML)",
        description="ANIL (only the head adapted) with the maml-omniglot-20w1s settings",
        values=dict(_GBML_OMNIGLOT, algo="anil", ways=20, shots=1, query=1, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=1, eval_steps=(0, 5))),
    Preset(
        name="fomaml-omniglot-20w5s",
        paper="Nichol et al. 2018, Reptile",
        table="Table 2 (Omniglot 20-way 5-shot, '1st-order MAML'; Finn et al. 2017 report first order "
              "on mini-ImageNet only)",
        description="first-order MAML with the maml-omniglot-20w5s settings",
        values=dict(_GBML_OMNIGLOT, algo="fomaml", ways=20, shots=5, query=5, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=5, eval_steps=(0, 5))),
    Preset(
        name="metasgd-omniglot-20w5s",
        paper="Li et al. 2017, Meta-SGD",
        table="Table 2 (Omniglot 20-way 5-shot), run with MAML's settings",
        description="Meta-SGD, learned per-parameter alpha, maml-omniglot-20w5s settings",
        values=dict(_GBML_OMNIGLOT, **_METASGD, ways=20, shots=5, query=5, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=5, eval_steps=(0, 5))),
    Preset(
        name="anil-omniglot-20w5s",
        paper="Raghu et al. 2020, ANIL",
        table="Table 2 (Omniglot 20-way 5-shot, ANIL vs MAML)",
        description="ANIL (only the head adapted) with the maml-omniglot-20w5s settings",
        values=dict(_GBML_OMNIGLOT, algo="anil", ways=20, shots=5, query=5, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=16, eval_shots=5, eval_steps=(0, 5))),
    Preset(
        name="fomaml-miniimagenet-5w1s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (MiniImagenet 5-way 1-shot, 'MAML, first order approx.')",
        description="first-order MAML with the maml-miniimagenet-5w1s settings",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, algo="fomaml",
                    ways=5, shots=1, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=4,
                    image_size=84, rotation="none", eval_shots=1, eval_steps=(0, 10))),
    Preset(
        name="metasgd-miniimagenet-5w1s",
        paper="Li et al. 2017, Meta-SGD",
        table="Table 3 (MiniImagenet 5-way 1-shot), run with MAML's settings",
        description="Meta-SGD, learned per-parameter alpha, maml-miniimagenet-5w1s settings",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, **_METASGD,
                    ways=5, shots=1, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=4,
                    image_size=84, rotation="none", eval_shots=1, eval_steps=(0, 10))),
    Preset(
        name="anil-miniimagenet-5w1s",
        paper="Raghu et al. 2020, ANIL",
        table="Table 2 (MiniImageNet 5-way 1-shot, ANIL vs MAML)",
        description="ANIL (only the head adapted) with the maml-miniimagenet-5w1s settings",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, algo="anil",
                    ways=5, shots=1, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=4,
                    image_size=84, rotation="none", eval_shots=1, eval_steps=(0, 10))),
    Preset(
        name="fomaml-miniimagenet-5w5s",
        paper="Finn et al. 2017, MAML",
        table="Table 1 (MiniImagenet 5-way 5-shot, 'MAML, first order approx.')",
        description="first-order MAML with the maml-miniimagenet-5w5s settings",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, algo="fomaml",
                    ways=5, shots=5, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=2,
                    image_size=84, rotation="none", eval_shots=5, eval_steps=(0, 10))),
    Preset(
        name="metasgd-miniimagenet-5w5s",
        paper="Li et al. 2017, Meta-SGD",
        table="Table 3 (MiniImagenet 5-way 5-shot), run with MAML's settings",
        description="Meta-SGD, learned per-parameter alpha, maml-miniimagenet-5w5s settings",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, **_METASGD,
                    ways=5, shots=5, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=2,
                    image_size=84, rotation="none", eval_shots=5, eval_steps=(0, 10))),
    Preset(
        name="anil-miniimagenet-5w5s",
        paper="Raghu et al. 2020, ANIL",
        table="Table 2 (MiniImageNet 5-way 5-shot, ANIL vs MAML)",
        description="ANIL (only the head adapted) with the maml-miniimagenet-5w5s settings",
        values=dict(_GBML_OMNIGLOT, task="mini-imagenet", model="conv4-pool", filters=32, algo="anil",
                    ways=5, shots=5, query=15, inner_lr=0.01, inner_steps=5, meta_batch_size=2,
                    image_size=84, rotation="none", eval_shots=5, eval_steps=(0, 10))),

    # Reptile (Nichol et al. 2018, Omniglot): 5 inner steps on the support set, meta-batch 5,
    # 50 steps at test; our inner loop is SGD (the paper's is Adam), so alpha is an SGD rate.
    Preset(
        name="reptile-omniglot-5w1s",
        paper="Nichol et al. 2018, Reptile",
        table="Table 2 (Omniglot 5-way 1-shot, 'Reptile'; inner loop SGD here, Adam in the paper)",
        description="Nichol et al. 2018: 5-way 1-shot, 5 inner SGD steps (alpha 0.1), batch 5, "
                    "50 steps at test",
        values=dict(_GBML_OMNIGLOT, algo="reptile", ways=5, shots=1, query=1, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=5, steps=100000, eval_shots=1,
                    eval_steps=(0, 5, 50))),
    Preset(
        name="reptile-omniglot-5w5s",
        paper="Nichol et al. 2018, Reptile",
        table="Table 2 (Omniglot 5-way 5-shot, 'Reptile'; inner loop SGD here, Adam in the paper)",
        description="Nichol et al. 2018: 5-way 5-shot, 5 inner SGD steps (alpha 0.1), batch 5, "
                    "50 steps at test",
        values=dict(_GBML_OMNIGLOT, algo="reptile", ways=5, shots=5, query=5, inner_lr=0.1,
                    inner_steps=5, meta_batch_size=5, steps=100000, eval_shots=5,
                    eval_steps=(0, 5, 50))),
    # Reptile as published (Nichol et al. 2018 app. A; the supervised-reptile README's
    # commands): the 1200-character split with rotated training classes, 10 training shots
    # per class (--train-shots 10) whatever the test K, inner Adam (lr 0.001, beta1 0) for 5
    # steps on mini-batches of 10 of the 50 support examples (one pass), meta-batch 5, meta
    # step epsilon 1 annealed linearly to 0 over 100k steps: outer SGD at epsilon * alpha =
    # 0.001 on the pseudo-gradient (theta - W) / alpha (jaxmeta/algorithms/reptile.py).
    # Evaluation: 50 Adam steps on batches of 5 support examples, 1 query per class
    # (transductive: batch norm over the 5 queries, as --transductive), 10000 tasks.
    # Deviations: the inner Adam's moments start fresh for every task, in training and at
    # test (supervised-reptile resets only the model weights, so its Adam moments carry
    # over from task to task during training); the -nontransductive variants normalise with
    # the support set's statistics alone (the reference code's batch is the support set
    # plus the one query example).
    Preset(
        name="reptile-omniglot-5w1s-published",
        paper="Nichol, Achiam & Schulman 2018, On First-Order Meta-Learning Algorithms",
        table="Table 2 / supervised-reptile README (Omniglot 5-way 1-shot 97.68 % transductive / "
              "5-shot 99.48 %)",
        description="Reptile as published: 5-way 1-shot, inner Adam 0.001 beta1 0, 5 steps on "
                    "batches of 10 of 10 shots, meta step 1 -> 0, 100k steps, transductive",
        values=dict(_REPTILE_PUBLISHED, eval_shots=1)),
    Preset(
        name="reptile-omniglot-5w5s-published",
        paper="Nichol, Achiam & Schulman 2018, On First-Order Meta-Learning Algorithms",
        table="Table 2 / supervised-reptile README (Omniglot 5-way 1-shot 97.68 % transductive / "
              "5-shot 99.48 %)",
        description="Reptile as published: 5-way 5-shot, inner Adam 0.001 beta1 0, 5 steps on "
                    "batches of 10 of 10 shots, meta step 1 -> 0, 100k steps, transductive",
        values=dict(_REPTILE_PUBLISHED, eval_shots=5)),
    # The published settings on the small sets, 36k of the 100k meta-steps (the meta step
    # still anneals to 0 at the last step): 41 min 50 s with the evaluation on the 2-core CPU
    # (15-17 meta-steps/s alone), 97.3 ± 0.6 % (benchmarks/RESULTS.md). MAML's Omniglot
    # network (features averaged, not flattened), with which its earlier figures were
    # measured; at 5000 steps with the moments reset per task the two readouts gave 82.9 ±
    # 1.5 % (averaged) and 81.5 ± 1.5 % (flattened).
    Preset(
        name="reptile-omniglot-5w1s-published-small",
        paper="Nichol, Achiam & Schulman 2018, On First-Order Meta-Learning Algorithms",
        table="Table 2 (Omniglot 5-way 1-shot 97.68 % transductive), small sets, 36k steps",
        description="reptile-omniglot-5w1s-published on the small sets with MAML's Conv-4 "
                    "(averaged features), 36k steps (~40 min on 2 CPU cores), 600 test tasks",
        values=dict(_REPTILE_PUBLISHED, split="small-sets", steps=36000, eval_shots=1,
                    eval_tasks=600, model="conv4")),
    Preset(
        name="reptile-omniglot-5w1s-published-nontransductive",
        paper="Nichol, Achiam & Schulman 2018, On First-Order Meta-Learning Algorithms",
        table="Table 2, 'Reptile' row (Omniglot 5-way 1-shot 95.39 %, non-transductive)",
        description="reptile-omniglot-5w1s-published evaluated with support-set batch-norm "
                    "statistics (non-transductive)",
        values=dict(_REPTILE_PUBLISHED, norm="support", eval_shots=1)),
    Preset(
        name="reptile-omniglot-5w5s-published-nontransductive",
        paper="Nichol, Achiam & Schulman 2018, On First-Order Meta-Learning Algorithms",
        table="Table 2, 'Reptile' row (Omniglot 5-way 5-shot 98.90 %, non-transductive)",
        description="reptile-omniglot-5w5s-published evaluated with support-set batch-norm "
                    "statistics (non-transductive)",
        values=dict(_REPTILE_PUBLISHED, norm="support", eval_shots=5)),
    # What benchmarks/RESULTS.md measured on a 2-core CPU (settings in _REPTILE_CPU).
    Preset(
        name="reptile-omniglot-5w1s-cpu",
        paper="Nichol et al. 2018, Reptile",
        table="no paper row: Table 2's Omniglot 5-way 1-shot sized for a 2-core CPU, SGD inner "
              "loop (benchmarks/RESULTS.md)",
        description="Reptile, 10 training shots, 5 inner SGD steps (alpha 0.1), SGD meta-step "
                    "0.5, 1000 steps; 5-way 1-shot test",
        values=dict(_REPTILE_CPU, eval_shots=1)),
    Preset(
        name="reptile-omniglot-5w5s-cpu",
        paper="Nichol et al. 2018, Reptile",
        table="no paper row: Table 2's Omniglot 5-way 5-shot sized for a 2-core CPU, SGD inner "
              "loop (benchmarks/RESULTS.md)",
        description="reptile-omniglot-5w1s-cpu evaluated 5-way 5-shot",
        values=dict(_REPTILE_CPU, eval_shots=5)),

    # ---- The LSTM meta-learner (Ravi & Larochelle 2017) ----
    # Omniglot: no paper row; small-sets protocol, steps sized for ~45 min on a 2-core CPU:
    # measured after compilation (steps 30-60 of 60-step runs, load average 2-4 on 2 shared
    # cores) 1.6-1.75 meta-steps/s at 5w1s and 1.5-2.1 at 5w5s, so 4000 steps each.
    Preset(
        name="meta-lstm-omniglot-5w1s",
        paper="Ravi & Larochelle 2017, Optimization as a Model for Few-Shot Learning",
        table="no paper row for Omniglot: sized for the small-sets protocol and a 2-core CPU",
        description="LSTM meta-learner, Omniglot 5-way 1-shot: 12 updates on the support set, "
                    "Adam 1e-3, clip 0.25, one task per step",
        values=dict(_META_LSTM, task="omniglot", split="small-sets", rotation="classes", shots=1,
                    meta_lstm_updates=12, eval_shots=1, eval_steps=(0, 12), steps=4000,
                    steps_per_call=10, log_every=100)),
    Preset(
        name="meta-lstm-omniglot-5w5s",
        paper="Ravi & Larochelle 2017, Optimization as a Model for Few-Shot Learning",
        table="no paper row for Omniglot: sized for the small-sets protocol and a 2-core CPU",
        description="LSTM meta-learner, Omniglot 5-way 5-shot: 8 updates on the support set, "
                    "Adam 1e-3, clip 0.25, one task per step",
        values=dict(_META_LSTM, task="omniglot", split="small-sets", rotation="classes", shots=5,
                    meta_lstm_updates=8, eval_shots=5, eval_steps=(0, 8), steps=4000,
                    steps_per_call=10, log_every=100)),
    # The paper's "Baseline-finetune" beside it (sec. 5; settings in _FINETUNE).
    Preset(
        name="finetune-omniglot-5w1s",
        paper="Ravi & Larochelle 2017, Optimization as a Model for Few-Shot Learning",
        table="no paper row for Omniglot: the paper's Baseline-finetune, sized like meta-lstm-omniglot-5w1s",
        description="fine-tuning baseline: classifier on the training characters (Conv-4 32, "
                    "batch norm), new head fine-tuned with SGD on the support set",
        values=dict(_FINETUNE, eval_shots=1)),
    Preset(
        name="finetune-omniglot-5w5s",
        paper="Ravi & Larochelle 2017, Optimization as a Model for Few-Shot Learning",
        table="no paper row for Omniglot: the paper's Baseline-finetune, sized like meta-lstm-omniglot-5w5s",
        description="finetune-omniglot-5w1s evaluated 5-way 5-shot",
        values=dict(_FINETUNE, eval_shots=5)),
    # mini-ImageNet: the paper's settings, 84x84, 75000 episodes (nEpisode of the authors'
    # mini-ImageNet configs).
    Preset(
        name="meta-lstm-miniimagenet-5w1s",
        paper="Ravi & Larochelle 2017, Optimization as a Model for Few-Shot Learning",
        table="Table 1 (mini-ImageNet 5-way 1-shot 43.44 %, 5-shot 60.60 %)",
        description="LSTM meta-learner, mini-ImageNet 5-way 1-shot: 12 updates, Adam 1e-3, "
                    "clip 0.25, 75k episodes",
        values=dict(_META_LSTM, task="mini-imagenet", image_size=84, rotation="none", shots=1,
                    meta_lstm_updates=12, eval_shots=1, eval_steps=(0, 12), steps=75000,
                    steps_per_call=10, log_every=100)),
    Preset(
        name="meta-lstm-miniimagenet-5w5s",
        paper="Ravi & Larochelle 2017, Optimization as a Model for Few-Shot Learning",
        table="Table 1 (mini-ImageNet 5-way 1-shot 43.44 %, 5-shot 60.60 %)",
        description="LSTM meta-learner, mini-ImageNet 5-way 5-shot: 8 updates, Adam 1e-3, "
                    "clip 0.25, 75k episodes",
        values=dict(_META_LSTM, task="mini-imagenet", image_size=84, rotation="none", shots=5,
                    meta_lstm_updates=8, eval_shots=5, eval_steps=(0, 8), steps=75000,
                    steps_per_call=10, log_every=100)),
    # Memory-augmented networks (issue 11): Santoro et al. 2016 sec. 4.1, Omniglot episodes
    # of 50 steps (5 classes x 10 instances, 20x20 images, one random rotation per class),
    # meta-batch 16, scored by accuracy at the 1st..10th instance of a class on characters
    # unseen in training. Deviations, for a 2-core CPU: the small-sets split (172 training
    # characters, not the paper's 1200), Adam 1e-3 (the paper: RMSProp 1e-4, decay 0.95,
    # momentum 0.9), 30000 batches (the paper: 100 000 episodes). Each training image is
    # rotated by up to 15 degrees and shifted by up to 10 % of its side (the paper's random
    # translations and rotations against overfitting; values not published). The MANN
    # presets write a separate add vector (--write-vector add, as the NTM and the public
    # reimplementations do): with eq. 9's key as the written vector the MANN sits on the
    # chance plateau for ~5000 batches and stays below the LSTM (RESULTS.md: the ablation).
    Preset(
        name="mann-omniglot-5way",
        paper="Santoro et al. 2016, Meta-Learning with Memory-Augmented Neural Networks",
        table="Table 1 (Omniglot, 5 classes one-hot: MANN 36.4/82.8/91.0/92.6/94.9/98.1 %)",
        description="MANN (LSTM 200, LRUA memory 128x40, 4 heads, add vectors), 5-class one-hot "
                    "50-step episodes, 20x20, 30000 batches of 16 (~35 min)",
        values=dict(_MANN, algo="mann", write_vector="add", steps=30000)),
    Preset(
        name="mann-omniglot-5way-key-write",
        paper="Santoro et al. 2016, Meta-Learning with Memory-Augmented Neural Networks",
        table="Table 1 (Omniglot, 5 classes one-hot: MANN 36.4/82.8/91.0/92.6/94.9/98.1 %)",
        description="mann-omniglot-5way writing the read key as eq. 9 states (no add vector)",
        values=dict(_MANN, algo="mann", write_vector="key", steps=30000)),
    Preset(
        name="lstm-omniglot-5way",
        paper="Santoro et al. 2016, Meta-Learning with Memory-Augmented Neural Networks",
        table="Table 1 (Omniglot, 5 classes one-hot: LSTM 24.4/49.5/55.3/61.0/63.6/62.5 %)",
        description="the paper's LSTM baseline (200 cells, no memory), trained as mann-omniglot-5way",
        values=dict(_MANN, algo="lstm", steps=30000)),
    Preset(
        name="mann-omniglot-15way-string",
        paper="Santoro et al. 2016, Meta-Learning with Memory-Augmented Neural Networks",
        table="Table 1 (Omniglot, 15 classes, five-character string labels)",
        description="MANN, 15 classes x 10 instances (150 steps), labels as 5-character strings "
                    "over 5 letters",
        values=dict(_MANN, algo="mann", ways=15, episode_length=150, label_encoding="string",
                    string_length=5, write_vector="add")),
    Preset(
        name="lstm-omniglot-15way-string",
        paper="Santoro et al. 2016, Meta-Learning with Memory-Augmented Neural Networks",
        table="Table 1 (Omniglot, 15 classes, five-character string labels)",
        description="the LSTM baseline on mann-omniglot-15way-string's episodes",
        values=dict(_MANN, algo="lstm", ways=15, episode_length=150, label_encoding="string",
                    string_length=5)),

    # ---- Meta Networks on Omniglot (issue 11) ----
    # 3000 steps: 55 min on the 2-core CPU with compilation and the 600-task evaluation
    # (~1.0 episodes/s alone), 95.7 ± 0.4 % (benchmarks/RESULTS.md). 20-way: 1150 steps,
    # 53 min (~0.45 episodes/s), 90.9 ± 0.3 %.
    Preset(
        name="metanet-omniglot-5w1s",
        paper="Munkhdalai & Yu 2017, Meta Networks",
        table="Table 1 (Omniglot 5-way 1-shot, MetaNet 98.95 %), small-sets protocol, CPU-sized "
              "step count (benchmarks/RESULTS.md)",
        description="MetaNet, Omniglot 5-way 1-shot, 10 queries/class, Adam 1e-3, clip 10, "
                    "one episode per step, 3000 steps (~55 min on 2 CPU cores)",
        values=dict(_METANET, ways=5, metanet_head=5, steps=3000, eval_batch=10)),
    Preset(
        name="metanet-omniglot-20w1s",
        paper="Munkhdalai & Yu 2017, Meta Networks",
        table="Table 1 (Omniglot 20-way 1-shot, MetaNet 97.00 %), small-sets protocol, CPU-sized "
              "step count (benchmarks/RESULTS.md)",
        description="MetaNet, Omniglot 20-way 1-shot, 10 queries/class, Adam 1e-3, clip 10, "
                    "one episode per step, 1150 steps (~54 min on 2 CPU cores)",
        values=dict(_METANET, ways=20, metanet_head=20, steps=1150, eval_batch=4)),
)

# Name -> preset, in the order above (sinusoid, metric Omniglot, lake-small, metric
# mini-ImageNet, gradient-based).
PRESETS: dict[str, Preset] = {p.name: p for p in _ENTRIES}
if len(PRESETS) != len(_ENTRIES):
  raise ValueError("jaxmeta.presets: two entries share a name")
