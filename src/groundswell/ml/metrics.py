"""Evaluation: the numbers a model card and a training report show.

Macro-averaged recall comes first because it is TweetEval's official sentiment metric (SemEval-2017 4A):
it weighs the rare negative class as much as the common neutral one, so a model cannot score well by
predicting "neutral". Macro-F1, accuracy and per-class precision/recall follow, and the confusion matrix
(rows = true class, columns = predicted) is kept for the report's picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

__all__ = ["evaluate"]


def evaluate(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[str]) -> dict[str, Any]:
    """Metrics for class-index predictions against class-index truth, with labels naming the indices.

    Returns a JSON-friendly dict: ``macro_recall``, ``macro_f1``, ``accuracy``, ``support``, ``per_class``
    (label → precision/recall/f1/support) and ``confusion`` (a list of lists in label order). Classes absent
    from both truth and prediction count as 0 and are left out of the macro averages.
    """
    true = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(y_pred, dtype=np.int64)
    present = sorted(set(true.tolist()) | set(pred.tolist()))
    index = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=index, zero_division=0)
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "macro_recall": float(recall_score(true, pred, labels=present, average="macro", zero_division=0)),
        "macro_f1": float(f1_score(true, pred, labels=present, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(true, pred)),
        "support": int(true.size),
        "per_class": per_class,
        "confusion": confusion_matrix(true, pred, labels=index).tolist(),
    }
