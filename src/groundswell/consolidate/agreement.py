"""Inter-annotator agreement for nominal labels: how much workers agree, before any consolidation.

Which to use:

* :func:`krippendorff_alpha`: the reliability figure to report. Handles any number of workers per task
  and missing judgments, and corrects for the agreement expected by chance.
* :func:`fleiss_kappa`: the classic chance-corrected figure when every task has the same number of
  workers (computed here with the usual generalisation when they differ).
* :func:`percent_agreement`: the share of agreeing worker pairs; easy to explain, not chance-corrected.
* :func:`per_label_agreement`: the same ideas per label, to find the label the guidelines leave unclear.
* :func:`pairwise_agreement`: per pair of workers, how often they agree on the tasks they share.

Tasks with a single judgment cannot show agreement or disagreement and are left out everywhere. Where a
figure is undefined (no task with two judgments, or every judgment the same label so that chance agreement
is perfect), the functions return ``nan``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from groundswell.consolidate._encoding import EncodedAnswers, encode_answers
from groundswell.consolidate._validation import AnswersLike

__all__ = [
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_agreement",
    "per_label_agreement",
    "percent_agreement",
]

FloatArray = npt.NDArray[np.float64]


def _pairable_counts(data: AnswersLike, labels: Sequence[Hashable] | None) -> tuple[FloatArray, pd.Index]:
    """Votes per task × label, for tasks with at least two judgments."""
    enc = encode_answers(data, labels)
    counts = enc.vote_counts()
    return counts[counts.sum(axis=1) >= 2], enc.labels


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def _alpha(counts: FloatArray) -> float:
    """Nominal alpha from a units × values count table (Krippendorff 2011, coincidence-matrix form).

    With ``m_u`` values in unit ``u``: ``o_cc = Σ_u x_uc(x_uc − 1)/(m_u − 1)``, ``n_c = Σ_u x_uc``,
    ``n = Σ n_c``, and ``α = 1 − (n − 1)(n − Σ_c o_cc) / (n² − Σ_c n_c²)``.
    """
    if len(counts) == 0:
        return float("nan")
    m = counts.sum(axis=1, keepdims=True)
    observed_same = float(np.sum(counts * (counts - 1.0) / (m - 1.0)))
    n_c = counts.sum(axis=0)
    n = float(n_c.sum())
    expected = n * n - float(np.sum(n_c * n_c))
    return 1.0 - _ratio((n - 1.0) * (n - observed_same), expected)


def krippendorff_alpha(data: AnswersLike, labels: Sequence[Hashable] | None = None) -> float:
    """Krippendorff's alpha for nominal data: ``1 − observed disagreement / expected disagreement``.

    1 is perfect agreement, 0 is chance level, negative is systematic disagreement; Krippendorff suggests
    relying on data with ``α ≥ 0.8`` and drawing tentative conclusions down to ``0.667``.

    Args:
        data: Long table of judgments (``task, worker, label``).
        labels: The job's labels (only used to validate; labels nobody used do not change alpha).

    Returns:
        Alpha, or ``nan`` when undefined.
    """
    counts, _ = _pairable_counts(data, labels)
    return _alpha(counts)


def _fleiss_parts(counts: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    m = counts.sum(axis=1)
    share = counts.sum(axis=0) / max(float(m.sum()), 1.0)
    per_task = np.sum(counts * (counts - 1.0), axis=1) / (m * (m - 1.0))
    return m, share, per_task


def fleiss_kappa(data: AnswersLike, labels: Sequence[Hashable] | None = None) -> float:
    """Fleiss' kappa (Fleiss 1971): ``(P̄ − P_e) / (1 − P_e)``.

    ``P̄`` is the mean over tasks of the share of agreeing worker pairs, ``P_e = Σ_c p_c²`` with ``p_c`` the
    share of all judgments that are label ``c``. Fleiss defined it for a fixed number of workers per task;
    with varying numbers each task's ``P_i`` uses its own count.

    Returns:
        Kappa, or ``nan`` when undefined.
    """
    counts, _ = _pairable_counts(data, labels)
    if len(counts) == 0:
        return float("nan")
    _, share, per_task = _fleiss_parts(counts)
    chance = float(np.sum(share * share))
    return _ratio(float(per_task.mean()) - chance, 1.0 - chance)


def percent_agreement(data: AnswersLike, labels: Sequence[Hashable] | None = None) -> float:
    """Share of agreeing pairs among all pairs of judgments on the same task (not chance-corrected).

    Returns:
        A share in ``[0, 1]``, or ``nan`` when no task has two judgments.
    """
    counts, _ = _pairable_counts(data, labels)
    m = counts.sum(axis=1)
    return _ratio(float(np.sum(counts * (counts - 1.0))), float(np.sum(m * (m - 1.0))))


def per_label_agreement(data: AnswersLike, labels: Sequence[Hashable] | None = None) -> pd.DataFrame:
    """Agreement on each label, to find the categories workers find hard to tell apart.

    Columns:

    * ``share``: share of all judgments with this label;
    * ``specific_agreement``: when a worker gives this label, how often another worker on the same task
      gives it too, ``Σ_u x_uc(x_uc − 1) / Σ_u x_uc(m_u − 1)``;
    * ``fleiss_kappa``: Fleiss' per-category kappa, ``1 − Σ_u x_uc(m_u − x_uc) / (Σ_u m_u(m_u − 1) p_c q_c)``;
    * ``krippendorff_alpha``: alpha with the label against all others (two categories).

    Returns:
        One row per label, in label order; ``nan`` where undefined (e.g. a label nobody used).
    """
    counts, label_index = _pairable_counts(data, labels)
    m = counts.sum(axis=1)
    pairs = float(np.sum(m * (m - 1.0)))
    share = counts.sum(axis=0) / max(float(m.sum()), 1.0)
    rows = []
    for c in range(len(label_index)):  # a loop over labels, not judgments
        x = counts[:, c]
        spread = pairs * share[c] * (1.0 - share[c])
        rows.append(
            {
                "share": share[c],
                "specific_agreement": _ratio(float(np.sum(x * (x - 1.0))), float(np.sum(x * (m - 1.0)))),
                "fleiss_kappa": 1.0 - _ratio(float(np.sum(x * (m - x))), spread),
                "krippendorff_alpha": _alpha(np.column_stack([x, m - x])),
            }
        )
    return pd.DataFrame(rows, index=label_index)


def _worker_matrix(enc: EncodedAnswers, columns: npt.NDArray[np.intp], width: int) -> sp.csr_matrix:
    ones = np.ones(enc.n_answers)
    return sp.csr_matrix((ones, (enc.worker, columns)), shape=(enc.n_workers, width))


def pairwise_agreement(data: AnswersLike, labels: Sequence[Hashable] | None = None) -> pd.DataFrame:
    """For each pair of workers who share at least one task: how many they share and how often they agree.

    Computed with two sparse products (workers × tasks), so it scales with the number of co-judged pairs,
    not with workers².

    Returns:
        Columns ``worker_a, worker_b, n_tasks, n_agree, agreement``, one row per pair (``a`` before ``b`` in
        worker order).
    """
    enc = encode_answers(data, labels)
    answered = _worker_matrix(enc, enc.task, enc.n_tasks)
    said = _worker_matrix(enc, enc.task * enc.n_labels + enc.label, enc.n_tasks * enc.n_labels)
    shared = sp.triu(answered @ answered.T, k=1).tocoo()
    agree = (said @ said.T).tocsr()
    n_agree = np.asarray(agree[shared.row, shared.col]).ravel()
    order = np.lexsort((shared.col, shared.row))
    row, col = shared.row[order], shared.col[order]
    n_tasks = shared.data[order]
    return pd.DataFrame(
        {
            "worker_a": enc.workers[row],
            "worker_b": enc.workers[col],
            "n_tasks": n_tasks.astype(np.int64),
            "n_agree": n_agree[order].astype(np.int64),
            "agreement": n_agree[order] / n_tasks,
        }
    )
