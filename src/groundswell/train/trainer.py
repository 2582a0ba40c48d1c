"""Train, evaluate on a held-out split, and write the artifact directory.

Why the model that is saved is the one fitted on the training split only (not refitted on everything): the
card's metrics then describe exactly the model that serves, which is what an auto-labeling threshold or a
person deciding to deploy needs. The validation split is stratified so rare classes appear in it.

The directory holds ``model.skops``, ``model-card.json`` and ``confusion-matrix.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from groundswell.errors import InvalidInputError, UsageError
from groundswell.ml import ModelCard, ModelConfig, build_model, evaluate, package_versions, save_model
from groundswell.ml import training_data_hash as data_hash
from groundswell.train.data import TrainingData
from groundswell.train.report import write_confusion_png

__all__ = ["CONFUSION_FILE", "ProgressCallback", "TrainResult", "split_indices", "train_model"]

CONFUSION_FILE = "confusion-matrix.png"
#: Below this many training examples n-grams seen once are kept (``min_df=1``).
SMALL_DATA = 1000

#: Called with a short description of the current stage and the fraction of the work done (0–1).
ProgressCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class TrainResult:
    """What ``train_model`` wrote and measured."""

    directory: Path
    card: ModelCard
    confusion_png: Path | None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.card.metrics


def split_indices(
    targets: list[int], validation_fraction: float, random_state: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Stratified train/validation indices; plain random when a class is too rare to stratify."""
    n = len(targets)
    if not 0 < validation_fraction < 1:
        raise InvalidInputError(f"validation fraction must be between 0 and 1, got {validation_fraction}")
    n_val = max(1, round(n * validation_fraction))
    if n - n_val < 2:
        raise InvalidInputError(f"{n} labeled example(s) are too few to hold out a validation split; label more")
    indices = np.arange(n)
    counts = np.bincount(np.asarray(targets))
    classes = int((counts > 0).sum())
    stratify = targets if counts[counts > 0].min() >= 2 and n_val >= classes and n - n_val >= classes else None
    train_idx, val_idx = train_test_split(
        indices, test_size=n_val, random_state=random_state, shuffle=True, stratify=stratify
    )
    return np.sort(train_idx), np.sort(val_idx)


def train_model(
    data: TrainingData,
    out_dir: str | Path,
    *,
    config: ModelConfig | None = None,
    validation_fraction: float = 0.1,
    random_state: int = 0,
    job_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Fit ``config``'s model on ``data`` minus a validation split, evaluate it there, and save it to ``out_dir``."""
    config = config or ModelConfig()
    report = progress or (lambda _stage, _done: None)
    data.check()
    started = time.perf_counter()
    report("Splitting", 0.0)
    train_idx, val_idx = split_indices(data.targets, validation_fraction, random_state)
    texts = np.asarray(data.texts, dtype=object)
    targets = np.asarray(data.targets, dtype=np.int64)
    if len(set(targets[train_idx].tolist())) < 2:
        raise InvalidInputError(f"{data.source}: the training split has one class only; label more examples")
    if len(train_idx) < SMALL_DATA and config.featurizer.min_df > 1:
        # A job with a few hundred labels has few repeated n-grams; keep them all rather than fail or starve.
        config = replace(config, featurizer=replace(config.featurizer, min_df=1))
    model = build_model(config, random_state=random_state)
    fit_params: dict[str, Any] = {}
    if data.weights is not None:
        weights = np.asarray(data.weights, dtype=np.float64)[train_idx]
        fit_params = _sample_weight_params(config, weights)
    report(f"Fitting {config.model_type} on {len(train_idx):,} examples", 0.1)
    model.fit(list(texts[train_idx]), targets[train_idx], **fit_params)
    report(f"Evaluating on {len(val_idx):,} held-out examples", 0.8)
    predicted = np.asarray(model.classes_)[np.argmax(model.predict_proba(list(texts[val_idx])), axis=1)]
    metrics = evaluate(targets[val_idx], predicted, data.labels)
    seconds = time.perf_counter() - started
    card = ModelCard(
        model_type=config.model_type,
        labels=list(data.labels),
        metrics={"validation": metrics},
        training_data_hash=data_hash(data.texts, data.targets, data.weights),
        training_size=len(train_idx),
        validation_size=len(val_idx),
        training_seconds=round(seconds, 3),
        label_attribute_name=data.label_attribute_name,
        job_name=job_name or data.job_name or "groundswell-model",
        params={**config.describe(), "validation_fraction": validation_fraction, "random_state": random_state},
        package_versions=package_versions(),
        source=data.source,
    )
    report("Saving", 0.9)
    directory = save_model(out_dir, model, card)
    png = write_confusion_png(directory / CONFUSION_FILE, metrics["confusion"], data.labels)
    report("Done", 1.0)
    return TrainResult(directory=directory, card=card, confusion_png=png)


def _sample_weight_params(config: ModelConfig, weights: np.ndarray[Any, Any]) -> dict[str, Any]:
    # A Pipeline routes fit parameters by step name. A soft-voting ensemble of pipelines would need
    # scikit-learn's global metadata-routing switch, which we do not flip behind the caller's back.
    if config.model_type != "tfidf-linear":
        raise UsageError(f"weighting by confidence is supported for tfidf-linear only, not {config.model_type}")
    return {"classifier__sample_weight": weights}
