"""Whether the fine-tuned transformer does better averaged with ``tfidf-linear``, decided on validation.

The n-gram model is cheap next to a fine-tune (a minute or two on 45,000 tweets against twenty), and it errs
on other tweets than the encoder does, so the trainer fits it on the same training split and tries the
weighted average ``w · transformer + (1 − w) · tfidf-linear`` for ``w`` in steps of 0.1. The average is kept
only when its validation macro-recall beats the transformer alone by at least :data:`MIN_GAIN`; the weight is
chosen on the split it is scored on, so the card says so, and the benchmark reports the held-out test figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from groundswell.ml import ModelConfig, build_model, evaluate, predict_proba_full
from groundswell.ml.ensemble import ProbabilityAverage

__all__ = ["MIN_GAIN", "WEIGHTS", "average_with_tfidf"]

#: The transformer weights tried, from the n-grams alone to the transformer alone.
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
#: The validation macro-recall an average must add to be kept (half a point: below that it is noise on 2,000
#: tweets, and the average costs the n-gram model's memory and time on every prediction).
MIN_GAIN = 0.005


def average_with_tfidf(
    transformer: Any,
    train_texts: Sequence[str],
    train_targets: Sequence[int],
    val_texts: Sequence[str],
    val_targets: Sequence[int],
    labels: Sequence[str],
    *,
    tfidf_config: ModelConfig,
    random_state: int,
    report: Callable[[str, float], None],
) -> tuple[Any, dict[str, Any]]:
    """The model to save (the average, or the transformer alone) and what was measured."""
    report(f"Fitting tfidf-linear on {len(train_texts):,} examples to try an average", 0.5)
    tfidf = build_model(tfidf_config, random_state=random_state).fit(list(train_texts), np.asarray(train_targets))
    n = len(labels)
    p_tx = predict_proba_full(transformer, val_texts, n)
    p_tf = predict_proba_full(tfidf, val_texts, n)
    y = np.asarray(val_targets)
    recall = {
        w: float(evaluate(y, np.argmax(w * p_tx + (1 - w) * p_tf, axis=1), list(labels))["macro_recall"])
        for w in WEIGHTS
    }
    best = max(WEIGHTS, key=lambda w: (recall[w], w))
    kept = best < 1.0 and recall[best] >= recall[1.0] + MIN_GAIN
    info = {
        "kept": kept,
        "transformer_weight": best if kept else 1.0,
        "validation_macro_recall_by_weight": {str(w): round(r, 4) for w, r in recall.items()},
        "note": "the weight is chosen on the validation split the card's metrics are measured on",
    }
    if not kept:
        return transformer, info
    return ProbabilityAverage([transformer, tfidf], [best, 1.0 - best]), info
