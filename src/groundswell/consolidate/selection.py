"""Choosing an aggregator by evidence from the answers themselves: agreement with withheld answers.

No gold is needed and nothing is assumed about the crowd. Each task with two answers or more has its answers
dealt into ``folds`` folds (never all of a task's answers in one fold, so every task keeps one); each candidate
is fitted once per fold without that fold's answers, and scored by whether its label for a task agrees with
each withheld answer (ties split). A withheld answer is an independent, noisy look at the truth: when workers
are better than chance and err evenly, a method whose labels are right more often agrees with it more often.

Workers rarely err evenly: a crowd that over-answers one class rewards a method that over-predicts it (on
``trec``, one-coin Dawid–Skene agreed 2.8 points more than majority vote with the withheld answers and was 9
points less accurate). Counting each answered label with equal total weight has the opposite bias (it
rewards over-predicting the rare class). So a method must beat the floor, majority vote, under **both**
weightings, each by a one-sided test on the paired differences (standard error clustered by task, since a
task's withheld answers share its truth) at a 5 % false-win rate shared among the candidates (Bonferroni:
with five challengers, z > 2.33); among those that pass, the one that agrees most (the mean of the two
agreements). Where the answers carry no such evidence — few answers per worker, a crowd that mostly agrees,
a model locked onto a wrong labelling — majority vote stays. Why not the answer counts
the earlier rule used: on the eleven public crowd sets with gold (``bench/RESULTS.md``, section
``crowd-dev``) it fell 35 points below majority vote on one set and 5–9 points on three others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate.base import BaseAggregator, FloatArray, IntArray, winners

__all__ = ["Evidence", "answer_folds", "evidence_table", "heldout_agreement", "pick_by_evidence"]

#: Chance that the floor is left for a method no better than it, shared among the candidates (Bonferroni).
FALSE_WIN_RATE = 0.05


@dataclass(frozen=True)
class Evidence:
    """How a candidate did on the withheld answers, each answer counted once (``plain``) and each answer's
    label given equal total weight (``balanced``).

    Attributes:
        agreement: Mean agreement of its labels with the withheld answers (plain).
        balanced_agreement: The same with each answered label weighing equally.
        gain, balanced_gain: Mean paired gains over the floor (majority vote), plain and balanced.
        z, balanced_z: Those gains in standard errors (clustered by task); 0 when its labels never differ
            from the floor's on a withheld answer, ``±inf`` when they differ with no spread at all.
        needed: The z-score each gain must exceed (one-sided, :data:`FALSE_WIN_RATE` shared by the candidates).
    """

    agreement: float
    balanced_agreement: float
    gain: float
    balanced_gain: float
    z: float
    balanced_z: float
    needed: float

    @property
    def beats_floor(self) -> bool:
        """Whether both gains clear the bound."""
        return min(self.z, self.balanced_z) > self.needed


def answer_folds(enc: EncodedAnswers, folds: int, rng: np.random.Generator) -> IntArray:
    """The fold of each answer, ``-1`` for answers never withheld (tasks with one answer, gold tasks).

    A task's answers go to consecutive folds from a random start, in random order, so a task with ``n ≥ 2``
    answers loses at most ``ceil(n / folds) ≤ n − 1`` of them in any fold.
    """
    n = enc.n_answers
    per_task = np.bincount(enc.task, minlength=enc.n_tasks)
    order = np.lexsort((rng.random(n), enc.task))
    starts = np.cumsum(per_task) - per_task
    rank = np.empty(n, dtype=np.intp)
    rank[order] = np.arange(n) - np.repeat(starts, per_task)
    offset = rng.integers(folds, size=enc.n_tasks)
    fold = np.asarray((rank + offset[enc.task]) % folds, dtype=np.intp)
    fold[(per_task[enc.task] < 2) | enc.is_gold[enc.task]] = -1
    return fold


def heldout_agreement(
    enc: EncodedAnswers,
    candidates: Sequence[tuple[str, Callable[[], BaseAggregator]]],
    fold: IntArray,
    rng: np.random.Generator,
) -> dict[str, FloatArray]:
    """Per candidate, its agreement (0–1, ties split) with each withheld answer, in answer order."""
    held = np.flatnonzero(fold >= 0)
    hits = {name: np.zeros(len(held)) for name, _ in candidates}
    position = np.full(enc.n_answers, -1, dtype=np.intp)
    position[held] = np.arange(len(held))
    for f in np.unique(fold[held]):
        keep = fold != f
        out = np.flatnonzero(fold == f)
        part = replace(enc, task=enc.task[keep], worker=enc.worker[keep], label=enc.label[keep])
        for name, make in candidates:
            share = winners(make()._fit(part, rng))
            hits[name][position[out]] = share[enc.task[out], enc.label[out]]
    return hits


def pick_by_evidence(
    enc: EncodedAnswers,
    candidates: Sequence[tuple[str, Callable[[], BaseAggregator]]],
    *,
    floor: str = "mv",
    folds: int = 3,
    max_answers: int = 100_000,
    rng: np.random.Generator,
) -> tuple[str, str, dict[str, Evidence]]:
    """The candidate the withheld answers favour (module docstring), a one-line reason, and the evidence.

    Above ``max_answers`` judgments the comparison runs on the answers of a random sample of tasks of about
    that size: the ranking needs thousands of withheld answers, not millions, and each candidate is fitted
    ``folds`` times.
    """
    if enc.n_answers > max_answers:
        enc = _sample_tasks(enc, max_answers / enc.n_answers, rng)
    fold = answer_folds(enc, folds, rng)
    held = np.flatnonzero(fold >= 0)
    if len(held) == 0:
        return floor, "no task has two answers: nothing to compare methods on", {}
    hits = heldout_agreement(enc, candidates, fold, rng)
    tasks, answered = enc.task[held], enc.label[held]
    counts = np.bincount(answered, minlength=enc.n_labels).astype(np.float64)
    balanced = len(held) / (np.count_nonzero(counts) * counts[answered])
    needed = float(norm.ppf(1.0 - FALSE_WIN_RATE / max(1, len(candidates) - 1)))
    evidence: dict[str, Evidence] = {}
    for name, values in hits.items():
        gain, z = _paired(values - hits[floor], tasks, enc.n_tasks)
        balanced_gain, balanced_z = _paired((values - hits[floor]) * balanced, tasks, enc.n_tasks)
        agreement, balanced_agreement = float(values.mean()), float((values * balanced).mean())
        evidence[name] = Evidence(agreement, balanced_agreement, gain, balanced_gain, z, balanced_z, needed)
    passing = [name for name, e in evidence.items() if name != floor and e.beats_floor]
    summary = f"{len(held):,} withheld answers"
    if not passing:
        return floor, f"no method agreed with {summary} surely more than {floor}", evidence
    best = max(passing, key=lambda name: evidence[name].agreement + evidence[name].balanced_agreement)
    e = evidence[best]
    return (
        best,
        f"agreed with {summary} {e.gain * 100:+.1f} points more than {floor} "
        f"({e.balanced_gain * 100:+.1f} with each label weighing equally)",
        evidence,
    )


def _sample_tasks(enc: EncodedAnswers, share: float, rng: np.random.Generator) -> EncodedAnswers:
    """The answers of a random ``share`` of the tasks, the tasks re-coded so that none is left without one."""
    kept = rng.random(enc.n_tasks) < share
    code = np.cumsum(kept) - 1
    keep = kept[enc.task]
    return replace(
        enc,
        tasks=enc.tasks[kept],
        task=np.asarray(code[enc.task[keep]], dtype=np.intp),
        worker=enc.worker[keep],
        label=enc.label[keep],
        gold=enc.gold[kept],
    )


def _paired(diff: FloatArray, tasks: IntArray, n_tasks: int) -> tuple[float, float]:
    """Mean of paired differences and its z-score, the standard error clustered by task."""
    mean = float(diff.mean())
    centred = np.bincount(tasks, weights=diff - mean, minlength=n_tasks)
    se = float(np.sqrt((centred**2).sum())) / len(diff)
    if se == 0.0:
        return mean, 0.0 if mean == 0.0 else float(np.sign(mean) * np.inf)
    return mean, mean / se


def evidence_table(evidence: dict[str, Evidence]) -> pd.DataFrame:
    """The evidence as a table (method × figures), for reports."""
    return pd.DataFrame(
        {
            name: [e.agreement, e.balanced_agreement, e.gain, e.balanced_gain, e.z, e.balanced_z, e.needed]
            for name, e in evidence.items()
        },
        index=["agreement", "balanced_agreement", "gain", "balanced_gain", "z", "balanced_z", "needed"],
    ).T
