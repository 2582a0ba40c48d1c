"""Integer coding of judgments, so that every algorithm works on flat arrays and sparse matrices.

Tasks, workers and labels become ``0..n-1`` codes once; after that, no algorithm touches a Python object
per judgment. The two sparse matrices built here carry all the per-judgment work of EM as a single
sparse × dense product each way.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from groundswell.consolidate._validation import (
    AnswersLike,
    GoldLike,
    check_answers,
    check_gold,
    check_no_repeats,
    resolve_labels,
)

__all__ = ["EncodedAnswers", "encode_answers"]

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class EncodedAnswers:
    """Judgments as parallel integer arrays plus the ids they stand for.

    Attributes:
        tasks: Task ids; position = task code.
        workers: Worker ids; position = worker code.
        labels: Labels; position = class index.
        task: Task code of each judgment.
        worker: Worker code of each judgment.
        label: Class index of each judgment.
        gold: Class index of each task's gold label, ``-1`` where the task is not gold.
    """

    tasks: pd.Index
    workers: pd.Index
    labels: pd.Index
    task: IntArray
    worker: IntArray
    label: IntArray
    gold: IntArray = field(repr=False)

    @property
    def n_tasks(self) -> int:
        """Number of distinct tasks (gold included)."""
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        """Number of distinct workers."""
        return len(self.workers)

    @property
    def n_labels(self) -> int:
        """Number of classes, including any the judgments never use."""
        return len(self.labels)

    @property
    def n_answers(self) -> int:
        """Number of judgments."""
        return len(self.task)

    @property
    def is_gold(self) -> npt.NDArray[np.bool_]:
        """Per task: whether its label is known."""
        return self.gold >= 0

    @cached_property
    def worker_label(self) -> IntArray:
        """Per judgment: ``worker * n_labels + label``, the row of a (worker, given label) pair."""
        return self.worker * self.n_labels + self.label

    @cached_property
    def incidence(self) -> sp.csr_matrix:
        """Sparse ``n_tasks × (n_workers·n_labels)`` matrix with a 1 for each judgment.

        ``incidence @ X`` sums, per task, the rows of ``X`` picked by its judgments' (worker, label) pairs;
        ``incidence.T @ P`` sums, per (worker, label), the rows of ``P`` of the tasks judged so.
        """
        ones = np.ones(self.n_answers, dtype=np.float64)
        shape = (self.n_tasks, self.n_workers * self.n_labels)
        return sp.csr_matrix((ones, (self.task, self.worker_label)), shape=shape)

    @cached_property
    def incidence_t(self) -> sp.csr_matrix:
        """Transpose of :attr:`incidence`, stored row-major for fast M-steps."""
        return self.incidence.T.tocsr()

    def vote_counts(self, weights: FloatArray | None = None) -> FloatArray:
        """Per task and label: the number (or weighted sum) of votes, shape ``(n_tasks, n_labels)``."""
        flat = np.bincount(
            self.task * self.n_labels + self.label, weights=weights, minlength=self.n_tasks * self.n_labels
        )
        return flat.astype(np.float64).reshape(self.n_tasks, self.n_labels)

    def answers_per_worker(self) -> FloatArray:
        """Number of judgments each worker gave."""
        return np.bincount(self.worker, minlength=self.n_workers).astype(np.float64)

    def answers_per_task(self) -> FloatArray:
        """Number of judgments each task received."""
        return np.bincount(self.task, minlength=self.n_tasks).astype(np.float64)


def _codes(values: pd.Series[Any]) -> tuple[IntArray, pd.Index]:
    """Factorise ids, sorted when they can be compared (so outputs come in a predictable order)."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.intp, copy=False), pd.Index(uniques)


def encode_answers(
    data: AnswersLike,
    labels: Sequence[Hashable] | None = None,
    gold: GoldLike | None = None,
) -> EncodedAnswers:
    """Validate judgments (and gold) and integer-code them.

    Args:
        data: Long table of judgments with ``task, worker, label``.
        labels: The job's ordered labels; else the sorted labels found in ``data`` and ``gold``.
        gold: Known labels for some tasks. Gold tasks that nobody judged are ignored.

    Returns:
        The coded judgments.
    """
    answers = check_answers(data, labels, check_duplicates=False)
    gold_values: list[Hashable] = []
    if gold is not None:
        gold_values = list(gold.dropna()) if isinstance(gold, pd.Series) else list(gold.values())
    # Labels are few: code the column once and look up only its distinct values (millions of rows stay
    # integer; converting them to Python objects would dominate the whole fit).
    given, distinct = pd.factorize(answers["label"])
    found = np.concatenate([np.asarray(distinct, dtype=object), np.asarray(gold_values, dtype=object)])
    label_index = resolve_labels(found, labels)
    task, tasks = _codes(answers["task"])
    worker, workers = _codes(answers["worker"])
    check_no_repeats(answers, task, worker, len(workers))
    label = np.asarray(label_index.get_indexer(pd.Index(distinct, dtype=object)), dtype=np.intp)[given]
    gold_codes = np.full(len(tasks), -1, dtype=np.intp)
    if gold is not None:
        known = check_gold(gold, label_index)
        where = tasks.get_indexer(known.index)
        hit = where >= 0
        gold_codes[where[hit]] = label_index.get_indexer(pd.Index(known.to_numpy()[hit]))
    return EncodedAnswers(
        tasks=tasks.rename("task"),
        workers=workers.rename("worker"),
        labels=label_index,
        task=task,
        worker=worker,
        label=label,
        gold=gold_codes,
    )
