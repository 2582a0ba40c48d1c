"""Integer coding of judgments, so that every algorithm works on flat arrays and sparse matrices.

Tasks, workers and labels become ``0..n-1`` codes once; after that, no algorithm touches a Python object
per judgment. The sparse incidence matrix built here (and its transpose, a free view) carries all the
per-judgment work of EM as sparse × dense products, one pass over the judgments per label each way.
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
    Factorized,
    GoldLike,
    check_answers_coded,
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
        if self.n_answers > 1 and bool(np.all(self.task[1:] >= self.task[:-1])):
            # Judgments already grouped by task: the row pointers are a running count, no sorting needed.
            indptr = np.zeros(self.n_tasks + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.task, minlength=self.n_tasks), out=indptr[1:])
            return sp.csr_matrix((ones, self.worker_label, indptr), shape=shape)
        return sp.csr_matrix((ones, (self.task, self.worker_label)), shape=shape)

    @property
    def incidence_t(self) -> sp.csc_matrix:
        """Transpose of :attr:`incidence` (a free view, column-major).

        Its product with a vector reads the task posteriors in task order and adds them into the few
        (worker, label) rows, which stay in cache: faster than a row-major copy that gathers tasks at random.
        """
        return self.incidence.T

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


def _codes(values: pd.Series[Any], coded: Factorized | None) -> tuple[IntArray, pd.Index]:
    """Code ids ``0..n-1``, sorted when they can be compared (so outputs come in a predictable order).

    Same result as ``pd.factorize(values, sort=True)`` (unsorted when the ids do not compare), reached
    faster: from the unsorted codes validation already computed (only the distinct ids get sorted), or,
    for integer ids in a compact range, by marking the ids present in a table as long as that range.
    """
    if coded is not None:
        codes, distinct = coded
        try:
            rank, ordered = pd.factorize(distinct, sort=True)
        except TypeError:
            return codes, distinct
        return np.asarray(rank, dtype=np.intp)[codes], pd.Index(ordered)
    array = values.to_numpy()
    if array.dtype.kind in "iu" and len(array) > 0:
        low, high = int(array.min()), int(array.max())
        if high - low <= 4 * len(array) + 1024 and -(2**62) < low <= high < 2**62:
            offset = array.astype(np.intp, copy=False)
            offset = offset - low if low != 0 else offset
            present = np.zeros(high - low + 1, dtype=bool)
            present[offset] = True
            rank = np.cumsum(present, dtype=np.intp) - 1
            return rank[offset], pd.Index(np.flatnonzero(present).astype(array.dtype) + array.dtype.type(low))
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
    answers, coded = check_answers_coded(data, labels)
    gold_values: list[Hashable] = []
    if gold is not None:
        gold_values = list(gold.dropna()) if isinstance(gold, pd.Series) else list(gold.values())
    # Labels are few: code the column once and look up only its distinct values (millions of rows stay
    # integer; converting them to Python objects would dominate the whole fit).
    given, distinct = coded["label"] if "label" in coded else pd.factorize(answers["label"])
    found = np.concatenate([np.asarray(distinct, dtype=object), np.asarray(gold_values, dtype=object)])
    label_index = resolve_labels(found, labels)
    task, tasks = _codes(answers["task"], coded.get("task"))
    worker, workers = _codes(answers["worker"], coded.get("worker"))
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
