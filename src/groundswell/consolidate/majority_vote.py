"""Vote counting: plain majority vote and agreement-weighted majority vote.

Use :class:`MajorityVote` when workers give too few judgments each to estimate how good they are (Ground
Truth's own baseline, and what ``auto`` falls back to). Use :class:`WeightedMajorityVote` when workers
differ in quality and each has enough judgments to measure agreement, but you want something simpler and
more robust than Dawid–Skene.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from groundswell.consolidate._encoding import EncodedAnswers
from groundswell.consolidate.base import BaseAggregator, FloatArray, RandomState, agreement_skills, winners

__all__ = ["MajorityVote", "WeightedMajorityVote"]


def _shares(counts: FloatArray) -> FloatArray:
    return np.asarray(counts / counts.sum(axis=1, keepdims=True), dtype=np.float64)


class MajorityVote(BaseAggregator):
    """Each task gets its most frequent label; confidence is that label's share of the votes.

    This is Ground Truth's majority-vote baseline: ties are broken at random (seeded through
    ``random_state``) and two votes out of three give confidence 0.67. A single judgment gives confidence
    1.0, which says "everyone agreed", not "this is surely right": vote shares are not calibrated
    probabilities (see ``bench/RESULTS.md`` for how far off they are).

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        random_state: Seed for tie-breaking.

    Attributes:
        skills_: Per worker, the share of judgments that agree with the majority (or with gold on gold
            tasks); a tie for first place counts as ``1/m`` agreement for each of the ``m`` tied labels.

    Examples:
        >>> import pandas as pd
        >>> answers = pd.DataFrame({"task": [1, 1, 1, 2], "worker": ["a", "b", "c", "a"],
        ...                         "label": ["pos", "pos", "neg", "neg"]})
        >>> MajorityVote().fit(answers).labels_.to_dict()
        {1: 'pos', 2: 'neg'}
    """

    def __init__(self, labels: Sequence[Hashable] | None = None, random_state: RandomState = 0) -> None:
        self.labels = labels
        self.random_state = random_state

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        probas = _shares(enc.vote_counts())
        self.skills_ = self._skills_series(enc, agreement_skills(enc, winners(probas)))
        return probas


class WeightedMajorityVote(BaseAggregator):
    """Majority vote where each worker's vote counts as much as their agreement with the crowd.

    Like crowd-kit's Wawa ("worker agreement with aggregate"): a first majority vote gives reference
    labels, each worker's weight is the share of their judgments that match the reference (gold labels
    replace the reference on gold tasks, so gold items measure workers directly; a tie for first place
    counts ``1/m`` for each of the ``m`` tied labels, so weights do not depend on the seed), and a second,
    weighted vote decides. Confidence is the winning label's share of the weighted votes.

    Args:
        labels: The job's ordered labels; default: the sorted labels found.
        random_state: Seed for tie-breaking.

    Attributes:
        skills_: Per worker, the agreement weight used in the second vote.
    """

    def __init__(self, labels: Sequence[Hashable] | None = None, random_state: RandomState = 0) -> None:
        self.labels = labels
        self.random_state = random_state

    def _fit(self, enc: EncodedAnswers, rng: np.random.Generator) -> FloatArray:
        plain = _shares(enc.vote_counts())
        weights = agreement_skills(enc, winners(plain))
        weighted = enc.vote_counts(weights[enc.worker])
        total = weighted.sum(axis=1, keepdims=True)
        # A task whose every worker has weight 0 keeps the plain vote rather than dividing by zero.
        probas = np.where(total > 0, weighted / np.where(total > 0, total, 1.0), plain)
        self.skills_ = self._skills_series(enc, weights)
        return probas
