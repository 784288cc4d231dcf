"""The reproduction tables of benchmarks/RESULTS.md, declared once as data.

A :class:`Table` is one paper setting (the sinusoid, gradient-based Omniglot, ...); each
:class:`Row` is one method in one setting and names what produces its number: a jaxmeta
preset (``jaxmeta train --preset P``, settings in jaxmeta/presets.py, never flags typed
here) or, for the speed and memory tables, a benchmark script that writes a JSON.
``benchmarks/reproduce.py`` runs rows, writes ``results/<table>/<row>.json`` and renders
the tables and figures from those files; nothing in RESULTS.md's generated sections is
written by hand.

To add a row, append a ``Row(...)`` to its table: ``points`` are the keys of the numbers
shown (points of the evaluation curve, e.g. ``"3"`` for "after 3 adaptation steps"), the
``paper`` cell is the paper's number with ``paper_source`` saying where it is printed
(``"—"`` and why, when there is none), ``protocol`` says how the row differs from the
paper's protocol (beyond the table's shared ``Table.protocol``) and ``budget`` what it
trains for. ``quick`` flags are appended (after
the table's) in ``--quick`` mode only: they shrink a row to a smoke test.
"""
from __future__ import annotations

from typing import NamedTuple, Optional


class Row(NamedTuple):
  """One method in one setting: what produces its number and what to compare it with."""
  name: str                      # id: --rows NAME and results/<table>/NAME.json
  method: str                    # as shown in the table
  algo: Optional[str]            # the registered --algo it runs (None: not a method of ours)
  setting: str
  paper: str                     # the paper's number(s), "—" when there is none
  paper_source: str              # paper, table / section (or why there is no number)
  protocol: str                  # how this row differs from the paper's protocol
                                 # (beyond the table's shared protocol)
  budget: str                    # steps (and time) it trains for
  preset: Optional[str] = None   # jaxmeta train --preset NAME
  script: Optional[tuple] = None   # or: benchmark script and arguments; "{json}" is the output
  extract: tuple = ()            # script rows: (point, dotted path in the script's JSON), ...
  points: Optional[tuple] = None   # keys of the numbers shown; None: the table's
  quick: tuple = ()              # extra flags in --quick mode
  x: Optional[float] = None      # position on a plot's x axis (memory: inner steps k)


class Table(NamedTuple):
  """One paper setting: its rows, what "ours" means, and the figures drawn from it."""
  name: str                      # --table NAME; results/NAME/; RESULTS.md's markers
  title: str
  ours: str                      # one sentence: the number shown and its unit
  unit: str                      # printed after the numbers ("%", "x", " MiB", "")
  decimals: int                  # for numbers measured by reproduce.py
  points: tuple                  # default Row.points
  rows: tuple
  quick: tuple = ()              # flags appended to every row in --quick mode
  transform: str = "value"       # eval.json -> shown: value | percent | error_percent
  figures: tuple = ()            # accuracy | curves | sinusoid_fits | speed | memory
  lower_is_better: bool = False
  protocol: str = ""             # the protocol difference every row shares (printed once)


# ------------------------------------------------------------------------ protocol texts
# The Omniglot "small sets" (images_background_small1/2, 242 characters) replace the full
# background set on this machine; every Omniglot table says so once.
_SMALL = ("the Omniglot small sets (172 training characters + rotations, 50 unseen test "
          "characters) instead of the ~1200 characters of the full background set")
_GBML_CPU = ("5 training queries per class (paper: 1); mean inner loss and batch norm adapted "
             "in the inner loop (the authors' code: summed loss, offsets learned outside it)")
_SUPPORT_STATS = "evaluated with the support set's batch statistics (non-transductive)"
_KOREAN = ("one held-out alphabet (Korean, 40 characters) instead of Lake's 20 evaluation "
           "alphabets, trained on the other small-set alphabets; support-set statistics")

_OMNIGLOT_QUICK = ("--steps", "4", "--steps-per-call", "2", "--log-every", "2", "--eval-tasks", "8")


SINUSOID = Table(
    name="sinusoid",
    title="Sinusoid regression (Finn et al. 2017, sec. 5.1)",
    ours="query MSE of K = 5 test tasks (100 query points each) after 1 / 5 / 10 fine-tuning "
         "steps of SGD at the training step size; mean ± 95 % interval over the test tasks, "
         "lower is better",
    unit="", decimals=3, points=("1", "5", "10"), lower_is_better=True,
    quick=("--steps", "300", "--log-every", "50", "--eval-tasks", "200"),
    figures=("sinusoid_fits", "curves"),
    rows=(
        Row("maml", "MAML", "maml", "K = 10 training, K = 5 test, alpha 0.01",
            paper="0.67 / 0.38 / 0.35",
            paper_source="Finn et al. 2017, sec. 5.1, K = 5; the figures of "
                         "jaxmeta.experiment.PAPER_SINUSOID_K5",
            protocol="the paper's settings; 1000 test tasks x 100 query points (the reference "
                     "code: 600 x K); on some training seeds ~0.1 % of tasks diverge when "
                     "fine-tuned 5-10 steps (RESULTS.md, 'The heavy tail')",
            budget="70000 steps (paper: 70000)", preset="maml-sinusoid",
            # The preset also trains the pretrained baseline; the pretrained row has its own run.
            quick=("--baseline", "none")),
        Row("pretrained", "pretrained (joint training, fine-tuned at test)", "pretrained",
            "K = 10 training, K = 5 test, fine-tuned with SGD 0.01",
            paper="2.41 / 2.23 / 2.19",
            paper_source="Finn et al. 2017, sec. 5.1, K = 5; jaxmeta.experiment.PAPER_SINUSOID_K5",
            protocol="the paper's baseline; its step size is fixed at 0.01, the best of a "
                     "validation search after 70000 steps (RESULTS.md)",
            budget="70000 steps", preset="pretrained-sinusoid"),
        Row("fomaml", "FOMAML", "fomaml", "K = 10 training, K = 5 test, alpha 0.01",
            paper="—", paper_source="no paper row for the sinusoid",
            protocol="MAML's sinusoid settings, first order", budget="70000 steps",
            preset="fomaml-sinusoid"),
        Row("reptile", "Reptile", "reptile", "K = 10 training, 5 inner steps, K = 5 test",
            paper="—", paper_source="no paper row with these settings",
            protocol="MAML's sinusoid settings with 5 inner SGD steps", budget="70000 steps",
            preset="reptile-sinusoid"),
        Row("maml-reference", "MAML, alpha 0.001 (the reference code's default)", "maml",
            "K = 10 training, K = 5 test, alpha 0.001",
            paper="0.67 / 0.38 / 0.35",
            paper_source="Finn et al. 2017, sec. 5.1, K = 5; jaxmeta.experiment.PAPER_SINUSOID_K5",
            protocol="alpha 0.001, the reference code's --update_lr default, which its sinusoid "
                     "command keeps (the paper's text says 0.01; RESULTS.md)",
            budget="70000 steps", preset="maml-sinusoid-reference", quick=("--baseline", "none")),
    ))


OMNIGLOT_GRADIENT = Table(
    name="omniglot-gradient",
    title="Gradient-based and learned-optimizer meta-learning on Omniglot",
    ours="accuracy on 600 test tasks of the 50 unseen test characters (15 queries per class) "
         "after the test-time steps the setting names; mean ± 95 % interval, %",
    unit=" %", decimals=1, points=("3",), transform="percent", quick=_OMNIGLOT_QUICK,
    protocol=_SMALL,
    figures=("accuracy", "curves"),
    rows=(
        Row("maml-5w1s", "MAML", "maml", "5-way 1-shot, 3 steps at test",
            paper="98.7 ± 0.4", paper_source="Finn et al. 2017, Table 1",
            protocol=_GBML_CPU, budget="3000 of 60000 steps (2-core CPU)",
            preset="maml-omniglot-5w1s-cpu"),
        Row("fomaml-5w1s", "FOMAML", "fomaml", "5-way 1-shot, 3 steps at test",
            paper="98.3 ± 0.5", paper_source="Nichol et al. 2018, Table 2 ('1st-order MAML')",
            protocol=_GBML_CPU, budget="1500 of 60000 steps", preset="fomaml-omniglot-5w1s-cpu"),
        Row("anil-5w1s", "ANIL", "anil", "5-way 1-shot, 3 steps at test",
            paper="—", paper_source="Raghu et al. 2020 report Omniglot 20-way only",
            protocol=_GBML_CPU, budget="1500 steps", preset="anil-omniglot-5w1s-cpu"),
        Row("metasgd-5w1s", "Meta-SGD", "metasgd", "5-way 1-shot, 3 steps at test",
            paper="99.53 ± 0.26", paper_source="Li et al. 2017, Table 2",
            protocol=_GBML_CPU + "; rates start at alpha 0.4 (paper: drawn in [0.005, 0.1])",
            budget="1500 of 60000 steps", preset="metasgd-omniglot-5w1s-cpu"),
        Row("reptile-5w1s", "Reptile", "reptile", "5-way 1-shot, 50 steps at test",
            paper="95.39 ± 0.09 (97.68 ± 0.04 transductive)",
            paper_source="Nichol et al. 2018, Table 2",
            protocol="inner SGD (paper: Adam); meta-step 0.5, constant (paper: 1 "
                     "annealed to 0); transductive evaluation (batch statistics over 15 queries "
                     "per class)",
            budget="1000 of 100000 steps", preset="reptile-omniglot-5w1s-cpu", points=("50",)),
        Row("maml-5w5s", "MAML", "maml", "5-way 5-shot, 3 steps at test",
            paper="99.9 ± 0.1", paper_source="Finn et al. 2017, Table 1",
            protocol=_GBML_CPU, budget="600 of 60000 steps", preset="maml-omniglot-5w5s-cpu"),
        Row("fomaml-5w5s", "FOMAML", "fomaml", "5-way 5-shot, 3 steps at test",
            paper="99.2 ± 0.2", paper_source="Nichol et al. 2018, Table 2 ('1st-order MAML')",
            protocol=_GBML_CPU, budget="600 of 60000 steps", preset="fomaml-omniglot-5w5s-cpu"),
        Row("anil-5w5s", "ANIL", "anil", "5-way 5-shot, 3 steps at test",
            paper="—", paper_source="Raghu et al. 2020 report Omniglot 20-way only",
            protocol=_GBML_CPU, budget="600 steps", preset="anil-omniglot-5w5s-cpu"),
        Row("metasgd-5w5s", "Meta-SGD", "metasgd", "5-way 5-shot, 3 steps at test",
            paper="99.93 ± 0.09", paper_source="Li et al. 2017, Table 2",
            protocol=_GBML_CPU + "; rates start at alpha 0.4 (paper: drawn in [0.005, 0.1])",
            budget="600 of 60000 steps", preset="metasgd-omniglot-5w5s-cpu"),
        Row("reptile-5w5s", "Reptile", "reptile", "5-way 5-shot, 50 steps at test",
            paper="98.90 ± 0.10 (99.48 ± 0.06 transductive)",
            paper_source="Nichol et al. 2018, Table 2",
            protocol="inner SGD (paper: Adam); meta-step 0.5, constant; transductive "
                     "evaluation",
            budget="1000 of 100000 steps", preset="reptile-omniglot-5w5s-cpu", points=("50",)),
        Row("reptile-published-5w1s", "Reptile (published settings)", "reptile",
            "5-way 1-shot, 50 Adam steps at test, 1 query per class",
            paper="97.68 ± 0.04 transductive", paper_source="Nichol et al. 2018, Table 2",
            protocol="small sets; 36k of 100k meta-steps (the meta step anneals to 0 at "
                     "36k); inner Adam's moments carried from task to task, as the authors' "
                     "code; transductive evaluation (batch statistics over the 5 queries), as "
                     "the paper's headline number",
            budget="36000 of 100000 steps (~40 min on 2 cores)",
            preset="reptile-omniglot-5w1s-published-small", points=("50",)),
        Row("maml-20w1s", "MAML", "maml", "20-way 1-shot, 5 steps at test",
            paper="95.8 ± 0.3", paper_source="Finn et al. 2017, Table 1",
            protocol="none beyond the data",
            budget="60000 steps (the paper's; too long for a 2-core CPU)",
            preset="maml-omniglot-20w1s", points=("5",)),
        Row("anil-20w1s", "ANIL", "anil", "20-way 1-shot, 5 steps at test",
            paper="96.2 ± 0.5", paper_source="Raghu et al. 2020, Table 2",
            protocol="MAML's settings",
            budget="60000 steps (too long for a 2-core CPU)", preset="anil-omniglot-20w1s",
            points=("5",)),
        Row("meta-lstm-5w1s", "meta-LSTM", "meta-lstm", "5-way 1-shot, 12 learned updates",
            paper="—", paper_source="Ravi & Larochelle 2017 report mini-ImageNet only",
            protocol="none beyond the data", budget="4000 steps (~45 min on 2 cores)",
            preset="meta-lstm-omniglot-5w1s", points=("12",)),
        Row("meta-lstm-5w5s", "meta-LSTM", "meta-lstm", "5-way 5-shot, 8 learned updates",
            paper="—", paper_source="Ravi & Larochelle 2017 report mini-ImageNet only",
            protocol="none beyond the data", budget="4000 steps (~45 min on 2 cores)",
            preset="meta-lstm-omniglot-5w5s", points=("8",)),
        Row("finetune-5w1s", "Baseline-finetune (classifier, new head fine-tuned)",
            "finetune", "5-way 1-shot, 50 SGD steps at test",
            paper="—", paper_source="Ravi & Larochelle 2017 report mini-ImageNet only",
            protocol="SGD step 0.03 chosen on the validation characters",
            budget="4500 steps", preset="finetune-omniglot-5w1s", points=("50",)),
        Row("finetune-5w5s", "Baseline-finetune (classifier, new head fine-tuned)",
            "finetune", "5-way 5-shot, 50 SGD steps at test",
            paper="—", paper_source="Ravi & Larochelle 2017 report mini-ImageNet only",
            protocol="SGD step 0.03 chosen on the validation characters",
            budget="4500 steps", preset="finetune-omniglot-5w5s", points=("50",)),
    ))


OMNIGLOT_METRIC = Table(
    name="omniglot-metric",
    title="Metric-based meta-learning on Omniglot",
    ours="accuracy on 600 test tasks of the 50 unseen test characters (15 queries per class; "
         "Koch's 20-way row: 1); mean ± 95 % interval, %",
    unit=" %", decimals=1, points=("0",), transform="percent", quick=_OMNIGLOT_QUICK,
    protocol=_SMALL + "; " + _SUPPORT_STATS,
    figures=("accuracy", "curves"),
    rows=(
        Row("embedding-nn", "baseline: pretrained embedding, cosine nearest neighbour",
            "embedding-nn", "5-way 1-shot",
            paper="80.0", paper_source="Vinyals et al. 2016, Table 1 ('Baseline Classifier', "
                                       "cosine, no fine-tuning)",
            protocol="none beyond the data", budget="4500 steps (~11 min of the 2-core machine)",
            preset="embedding-nn-omniglot"),
        Row("protonet-1shot", "ProtoNets (60-way 1-shot training)", "protonet", "5-way 1-shot",
            paper="98.8", paper_source="Snell et al. 2017, Table 1",
            protocol="halved rate every 2000 episodes, as the authors' code",
            budget="5000 steps", preset="protonet-omniglot-1shot"),
        Row("protonet-5shot", "ProtoNets (60-way 5-shot training)", "protonet", "5-way 5-shot",
            paper="99.7", paper_source="Snell et al. 2017, Table 1",
            protocol="halved rate every 2000 episodes", budget="5000 steps",
            preset="protonet-omniglot-5shot"),
        Row("matching", "Matching Nets (f = g, the paper's cosine kernel)", "matching",
            "5-way 1-shot", paper="98.1", paper_source="Vinyals et al. 2016, Table 1",
            protocol="none beyond the data", budget="3000 steps", preset="matching-omniglot"),
        Row("matching-scaled", "Matching Nets (f = g, learned cosine scale)", "matching",
            "5-way 1-shot", paper="98.1", paper_source="Vinyals et al. 2016, Table 1 (s = 1)",
            protocol="a learned cosine temperature (paper: s = 1); 20-way training "
                     "episodes, 2 per step",
            budget="4400 steps (~11 min)", preset="matching-omniglot-scaled"),
        Row("matching-fce-scaled", "Matching Nets FCE (learned cosine scale)", "matching-fce",
            "5-way 1-shot", paper="—",
            paper_source="Vinyals et al. 2016 report FCE on miniImageNet only",
            protocol="a learned cosine temperature; 20-way training episodes",
            budget="4800 steps (~11 min)", preset="matching-fce-omniglot-scaled"),
        Row("relation", "Relation Nets", "relation", "5-way 1-shot",
            paper="99.6 ± 0.2", paper_source="Sung et al. 2018, Table 1",
            protocol="the authors' encoder, one global clip norm (theirs: per module)",
            budget="10000 steps", preset="relation-omniglot"),
        Row("siamese", "Siamese (Conv-4 twin, Koch's pooling)", "siamese", "5-way 1-shot",
            paper="96.7", paper_source="Vinyals et al. 2016, Table 1 ('Convolutional Siamese "
                                       "Net', no fine-tuning)",
            protocol="Koch's objective on a Conv-4 twin at 28x28 (Koch: 105x105 "
                     "network, distortions)",
            budget="2600 steps (~11 min)", preset="siamese-omniglot"),
        Row("siamese-koch", "Siamese (Koch et al.'s 105x105 network)", "siamese",
            "20-way 1-shot", paper="92.0", paper_source="Koch et al. 2015, Table 2",
            protocol="Adam (paper: per-layer SGD schedules found by Bayesian "
                     "optimisation, unpublished)",
            budget="20000 steps (slow on a CPU)", preset="siamese-koch-omniglot"),
    ))


MODEL_BASED = Table(
    name="model-based",
    title="Memory-augmented networks and Meta Networks on Omniglot",
    ours="MANN and LSTM: accuracy at the 2nd / 10th presentation of a class on 1000 test "
         "episodes; MetaNet: N-way 1-shot accuracy on 600 test episodes (15 queries per "
         "class); unseen test characters, mean ± 95 % interval, %",
    unit=" %", decimals=1, points=("2", "10"), transform="percent", quick=_OMNIGLOT_QUICK,
    protocol=_SMALL,
    figures=("accuracy", "curves"),
    rows=(
        Row("mann", "MANN (LRUA memory)", "mann", "5 classes, one-hot labels, 50-step episodes",
            paper="82.8 / 98.1", paper_source="Santoro et al. 2016, Table 1",
            protocol="Adam 1e-3 (paper: RMSProp 1e-4); each head writes a separate add vector "
                     "(paper's eq. 9: the key; ablation in RESULTS.md); images jittered by up "
                     "to 15 degrees and 10 % of their side (values not published)",
            budget="30000 batches of 16, ~35 min (paper: ~100000 episodes)",
            preset="mann-omniglot-5way"),
        Row("lstm", "LSTM baseline", "lstm", "5 classes, one-hot labels, 50-step episodes",
            paper="49.5 / 62.5", paper_source="Santoro et al. 2016, Table 1",
            protocol="Adam 1e-3 (paper: RMSProp 1e-4); images jittered as the MANN's",
            budget="30000 batches of 16", preset="lstm-omniglot-5way"),
        Row("metanet-5w1s", "MetaNet", "metanet", "5-way 1-shot",
            paper="98.95", paper_source="Munkhdalai & Yu 2017, Table 1",
            protocol="the authors' code's N-way cross-entropy as representation loss",
            budget="3000 steps (~55 min on 2 cores with the evaluation)",
            preset="metanet-omniglot-5w1s",
            points=("0",)),
        Row("metanet-20w1s", "MetaNet", "metanet", "20-way 1-shot",
            paper="97.00", paper_source="Munkhdalai & Yu 2017, Table 1",
            protocol="the authors' code's N-way cross-entropy as representation loss",
            budget="1150 steps (~54 min on 2 cores with the evaluation)",
            preset="metanet-omniglot-20w1s", points=("0",)),
    ))


LAKE = Table(
    name="lake",
    title="Lake-style within-alphabet one-shot classification",
    ours="percent error (lower is better) on within-alphabet 20-way 1-shot tasks: 600 tasks "
         "of held-out Korean (one query per class) for the trained methods, 20 pseudo-runs for "
         "MHD; mean ± 95 % interval. Lake's all_runs.zip is not available here",
    unit=" %", decimals=1, points=("0",), transform="error_percent", quick=_OMNIGLOT_QUICK,
    figures=("accuracy", "curves"), lower_is_better=True,
    rows=(
        Row("mhd", "Modified Hausdorff distance (no learning)", None,
            "20 within-alphabet 20-way pseudo-runs from images_background_small1",
            paper="38.8", paper_source="Lake et al. 2015 (MHD on the official runs)",
            protocol="pseudo-runs from the small set (a training and a test drawer per "
                     "character), not the official all_runs.zip",
            budget="no training", points=("error",),
            script=("benchmarks/lake_mhd_pseudo.py", "--data-dir", "{data_dir}", "--json", "{json}"),
            extract=(("error", "error_percent"),)),
        Row("protonet-korean", "ProtoNets", "protonet", "20-way 1-shot within Korean",
            paper="—", paper_source="no paper row (RESULTS.md quotes 22-24 % for a deep convnet "
                                   "trained on the small sets, on the real runs)",
            protocol=_KOREAN, budget="800 steps (~9 min of half the machine)",
            preset="protonet-omniglot-korean"),
        Row("matching-korean", "Matching Nets (learned scale)", "matching",
            "20-way 1-shot within Korean", paper="—", paper_source="no paper row",
            protocol=_KOREAN, budget="1500 steps", preset="matching-omniglot-korean"),
        Row("matching-fce-korean", "Matching Nets FCE (learned scale)", "matching-fce",
            "20-way 1-shot within Korean", paper="—", paper_source="no paper row",
            protocol=_KOREAN, budget="2000 steps", preset="matching-fce-omniglot-korean"),
        Row("relation-korean", "Relation Nets (7x7-map encoder)", "relation",
            "20-way 1-shot within Korean", paper="—", paper_source="no paper row",
            protocol=_KOREAN, budget="2400 steps", preset="relation-omniglot-korean"),
        Row("siamese-korean", "Siamese (Conv-4, Koch's pooling)", "siamese",
            "20-way 1-shot within Korean", paper="—", paper_source="no paper row",
            protocol=_KOREAN, budget="1000 steps", preset="siamese-omniglot-korean"),
    ))


def _speed_row(name, method, algo, setting, benchmark, ratio, target, rounds, x, extra=()):
  return Row(name, method, algo, setting, paper=target, paper_source="the issue's target",
             protocol="both sides in one process, alternating rounds; the baseline is the "
                      "fastest PyTorch configuration (conservative for jaxmeta)",
             budget=f"{rounds} rounds" + (f" ({' '.join(extra)})" if extra else ""),
             script=("benchmarks/speed.py", "--only", benchmark, "--rounds", str(rounds),
                     *extra, "--json", "{json}"),
             extract=(("best", f"benchmarks.{benchmark}.{ratio}"),
                      ("median", f"benchmarks.{benchmark}.{ratio}_median")),
             quick=("--steps", "100"), x=x)


SPEED = Table(
    name="speed",
    title="Speed against PyTorch peers",
    ours="jaxmeta's meta-steps (training episodes; for evaluation, tasks) per second over the "
         "fastest PyTorch implementation of the same step, on the best / median rounds; "
         "higher is better "
         "(needs torch; higher and learn2learn for the image rows)",
    unit="x", decimals=2, points=("best", "median"), quick=("--rounds", "1"),
    figures=("speed",),
    rows=(
        _speed_row("sinusoid-maml", "MAML (second order)", "maml",
                   "sinusoid, MLP 40-40, meta-batch 25, vs torch.func, higher and learn2learn",
                   "sinusoid_maml",
                   # 16000 steps: torch.func's rounds last ~4 s (200-step rounds swung 1.6x)
                   "ratio_scan_vs_torch", "≥ 20x (issue 14)", 5, 0, extra=("--steps", "16000")),
        _speed_row("omniglot-maml", "MAML (second order)", "maml",
                   "Omniglot 5-way 1-shot, Conv-4 64, meta-batch 32, vs torch.func, higher and "
                   "learn2learn",
                   "omniglot_maml", "ratio_vs_best_torch", "≥ 3x (issue 14)", 3, 1),
        _speed_row("omniglot-fomaml", "FOMAML", "fomaml",
                   "Omniglot 5-way 1-shot, Conv-4 64, meta-batch 32, vs learn2learn's "
                   "first-order MAML",
                   "omniglot_fomaml", "ratio_fomaml_vs_l2l", "≥ 3x (issue 14)", 3, 2),
        _speed_row("omniglot-anil", "ANIL", "anil",
                   "Omniglot 5-way 1-shot, Conv-4 64, meta-batch 32, vs learn2learn's ANIL",
                   "omniglot_anil", "ratio_anil_vs_l2l", "≥ 3x (issue 14)", 3, 3),
        _speed_row("miniimagenet-maml", "MAML (second order)", "maml",
                   "mini-ImageNet-shaped 84x84x3, Conv-4 32 max-pool, 5 inner steps, "
                   "meta-batch 4, vs torch.func, higher and learn2learn",
                   "miniimagenet_maml", "ratio_vs_best_torch", "≥ 2x (issue 14)", 3, 4),
        _speed_row("protonet-omniglot", "ProtoNets", "protonet",
                   "Omniglot 60-way 5-shot training episodes, Conv-4 64, vs plain PyTorch and "
                   "learn2learn's ProtoNet",
                   "protonet_omniglot", "ratio_vs_torch", "≥ 2x (issue 14)", 3, 5),
        _speed_row("omniglot-eval", "MAML evaluation", "maml",
                   "Omniglot 5-way 1-shot, 600 test tasks x 10 SGD steps, Conv-4 64, peer "
                   "seconds / jaxmeta seconds, vs torch.func, higher and learn2learn",
                   "omniglot_eval", "ratio_peer_vs_jaxmeta", "report (issue 14)", 2, 6),
        # The same rows on a GPU (issue 14: only where one is lent; recorded.py holds the
        # H200 figures): every peer on the same GPU, 1-second rounds, TF32 on both sides.
        *(_speed_row(f"{name}-gpu", method, algo, f"{setting}, on a GPU", benchmark, ratio,
                     target, 3, x, extra=("--round-seconds", "1", "--gpu-float32", "tf32"))
          for x, (name, method, algo, setting, benchmark, ratio, target) in enumerate((
              ("omniglot-maml", "MAML (second order)", "maml",
               "Omniglot 5-way 1-shot, Conv-4 64, meta-batch 32, vs torch.func, higher and "
               "learn2learn", "omniglot_maml", "ratio_vs_best_torch", "≥ 3x (issue 14)"),
              ("omniglot-fomaml", "FOMAML", "fomaml",
               "Omniglot 5-way 1-shot, Conv-4 64, meta-batch 32, vs learn2learn's first-order "
               "MAML", "omniglot_fomaml", "ratio_fomaml_vs_l2l", "≥ 3x (issue 14)"),
              ("omniglot-anil", "ANIL", "anil",
               "Omniglot 5-way 1-shot, Conv-4 64, meta-batch 32, vs learn2learn's ANIL",
               "omniglot_anil", "ratio_anil_vs_l2l", "≥ 3x (issue 14)"),
              ("miniimagenet-maml", "MAML (second order)", "maml",
               "mini-ImageNet-shaped 84x84x3, Conv-4 32 max-pool, 5 inner steps, meta-batch 4, "
               "vs torch.func, higher and learn2learn", "miniimagenet_maml",
               "ratio_vs_best_torch", "≥ 2x (issue 14)")), start=7)),
    ))


def _memory_row(k):
  return Row(f"k{k}", "MAML (second order)", "maml", f"k = {k} inner steps",
             paper="—", paper_source="target: k = 10 within 2x of k = 1 with --remat",
             protocol="XLA's compiled memory analysis: machine-independent, no interval",
             budget="compile only",
             script=("benchmarks/memory.py", "--steps", str(k), "--json", "{json}"),
             extract=(("no remat", f"peak_mib.{k}.no_remat"), ("remat", f"peak_mib.{k}.remat")),
             x=k)


MEMORY = Table(
    name="memory",
    title="Peak memory of second-order MAML vs inner steps",
    ours="compiled peak memory of the whole jitted meta-step (arguments + outputs + "
         "temporaries) without / with --remat, MiB; MAML 5-way 5-shot, 15 queries, meta-batch "
         "32 vmapped, Conv-4 64",
    unit=" MiB", decimals=0, points=("no remat", "remat"),
    quick=("--meta-batch-size", "2", "--filters", "8"), figures=("memory",),
    lower_is_better=True,
    rows=tuple(_memory_row(k) for k in (1, 5, 10, 20)))


TABLES: dict[str, Table] = {t.name: t for t in (SINUSOID, OMNIGLOT_GRADIENT, OMNIGLOT_METRIC,
                                                MODEL_BASED, LAKE, SPEED, MEMORY)}


def row_points(table: Table, row: Row) -> tuple:
  """The keys of the numbers a row shows."""
  return row.points if row.points is not None else table.points
