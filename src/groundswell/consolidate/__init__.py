"""Consolidation: turn several workers' judgments per tweet into one label with a confidence.

Pure numpy/scipy/pandas, crowd-kit style: one class per method, ``fit`` / ``fit_predict`` /
``fit_predict_proba``, learned attributes ending in ``_``. Which to use:

* :func:`consolidate` / :func:`make_aggregator` with ``"auto"``: what jobs use; picks the method whose labels
  agree best with withheld answers, majority vote unless another surely does better (:mod:`.selection`).
* :class:`MajorityVote`: Ground Truth's baseline; confidence = vote share.
* :class:`WeightedMajorityVote`: votes weighted by each worker's agreement with the crowd.
* :class:`DawidSkene`: a confusion matrix per worker; default smoothing is Ground Truth's modified
  Dawid–Skene (MDS).
* :class:`OneCoinDawidSkene`: one accuracy per worker; needs fewer judgments per worker.
* :class:`GLAD`: one ability per worker and one difficulty per task (Whitehill et al., 2009).
* :class:`MACE`: each worker either knows or spams from a distribution of their own (Hovy et al., 2013).
* :class:`PriorDawidSkene`: a confusion matrix per worker shrunk toward the crowd's, with a prior per task
  (the auto-label model's vote) whose temperature it fits: the posterior of jobs with a model in the loop.
* :mod:`.agreement`: Krippendorff's alpha, Fleiss' kappa, percent agreement, per label and per worker pair.
* :mod:`.calibration`: :func:`expected_calibration_error` and the evidence discount that makes
  Dawid–Skene confidences honest.
* :func:`simulate_crowd`: synthetic crowds with known truth.

Input everywhere is a long table with columns ``task, worker, label`` (see :func:`check_answers`).

Measured defaults (``bench/consolidation_bench.py``; full tables in ``bench/RESULTS.md``, section
"consolidation"). On the real CrowdFlower weather crowd (5 labels), consolidating 3 / 5 / 3–10 judgments
per task and scoring against the majority of 10 held-out judgments, means of 3 shuffles:

* Dawid–Skene smoothing: ``"modified"`` (Ground Truth's MDS) is the default. Accuracy .735 / .794 / .806
  against .744 / .797 / .811 for ``"crowd"`` and .683 / .772 / .799 unsmoothed; expected calibration error
  (ECE) after the default calibration .128 / .083 / .065 against .116 / .146 / .120 and .207 / .161 / .137.
  On synthetic crowds with 2 judgments per task and ≤ 4 per worker, ``"crowd"`` collapsed to .45–.54
  accuracy while MDS held .68–.71. ``"crowd"`` is 1–2 points more accurate once workers have ~60+
  judgments each, so ``auto`` uses it there.
* Calibration: ``"auto"`` (gold when ≥ 30 gold tasks, else held-out). Held-out calibration lowered
  one-coin DS's ECE on the weather crowd from .120 / .126 / .123 (raw) to .081 / .058 / .045 and its mean
  confidence with all 20 judgments from .98 to .88 (MDS: .985 → .889). It cannot see mistakes the whole
  crowd shares: on synthetic crowds with shared mistakes it changed ECE little (.082 → .082 at 3 per
  task), while 150 gold tasks brought it to .028 (weather, 100 gold: .036 / .039 / .029).
* Majority-vote confidence is the vote share, as in Ground Truth; it is not a calibrated probability
  (ECE .04–.12 on the weather crowd, underconfident when tasks have many judgments).
* Speed: 1,000,000 judgments fit in about 1.6 s (MDS), 1.3 s (one-coin), 0.5 s (majority vote) on 2 CPUs.
"""

from __future__ import annotations

from groundswell.consolidate._validation import AnswersLike, GoldLike, check_answers, check_gold, check_labels
from groundswell.consolidate.agreement import (
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_agreement,
    per_label_agreement,
    percent_agreement,
)
from groundswell.consolidate.auto import (
    AUTO_CANDIDATES,
    METHODS,
    AutoAggregator,
    Method,
    consolidate,
    labels_table,
    make_aggregator,
)
from groundswell.consolidate.base import BaseAggregator, RandomState
from groundswell.consolidate.calibration import expected_calibration_error, reliability_table
from groundswell.consolidate.dawid_skene import DawidSkene, OneCoinDawidSkene
from groundswell.consolidate.glad import GLAD
from groundswell.consolidate.io import parse_label_list, read_answers_csv, write_labels_csv
from groundswell.consolidate.mace import MACE
from groundswell.consolidate.majority_vote import MajorityVote, WeightedMajorityVote
from groundswell.consolidate.prior_dawid_skene import PriorDawidSkene, expected_confusion, vote_prior
from groundswell.consolidate.selection import Evidence, evidence_table, pick_by_evidence
from groundswell.consolidate.simulate import SimulatedCrowd, simulate_crowd

__all__ = [
    "AUTO_CANDIDATES",
    "GLAD",
    "MACE",
    "METHODS",
    "AnswersLike",
    "AutoAggregator",
    "BaseAggregator",
    "DawidSkene",
    "Evidence",
    "GoldLike",
    "MajorityVote",
    "Method",
    "OneCoinDawidSkene",
    "PriorDawidSkene",
    "RandomState",
    "SimulatedCrowd",
    "WeightedMajorityVote",
    "check_answers",
    "check_gold",
    "check_labels",
    "consolidate",
    "evidence_table",
    "expected_calibration_error",
    "expected_confusion",
    "fleiss_kappa",
    "krippendorff_alpha",
    "labels_table",
    "make_aggregator",
    "pairwise_agreement",
    "parse_label_list",
    "per_label_agreement",
    "percent_agreement",
    "pick_by_evidence",
    "read_answers_csv",
    "reliability_table",
    "simulate_crowd",
    "vote_prior",
    "write_labels_csv",
]
