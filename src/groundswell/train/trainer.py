"""Train, evaluate on a validation split, calibrate, refit on all labels, and write the artifact directory.

The validation split is a stratified random share of the data (so rare classes appear in it) or a labeled
file the caller gives (``--validation-manifest``: a fixed split makes runs comparable). The model fitted on
the training split alone is scored there, and a temperature (:mod:`groundswell.ml.calibration`) is fitted
to its validation probabilities.

Why the saved model is then, by default, refit on training + validation data: labels are the scarce thing
in this tool, and a tenth of them left out of the served model is a tenth of the labeling paid for nothing;
a linear model fitted with the same settings on slightly more data is at least as good as the one scored.
The cost is that no number on the card was measured on the saved model itself, so the card says which fit
each number comes from (``metrics["fits"]``, ``params["refit"]``) and ``training_size`` counts what the
saved model saw. ``refit=False`` (``--no-refit``) saves the scored fit instead, when the card's metrics must
describe exactly the model that serves. The temperature from the scored fit is applied to the saved one.

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
from groundswell.ml import (
    ModelCard,
    ModelConfig,
    apply_temperature,
    build_model,
    evaluate,
    expected_calibration_error,
    fit_temperature,
    package_versions,
    predict_proba_full,
    save_model,
)
from groundswell.ml import training_data_hash as data_hash
from groundswell.ml.calibration import ECE_BINS
from groundswell.ml.model import TRANSFORMER
from groundswell.train.average import average_with_tfidf
from groundswell.train.data import TrainingData
from groundswell.train.report import write_confusion_png

__all__ = ["CONFUSION_FILE", "MIN_CALIBRATION", "ProgressCallback", "TrainResult", "split_indices", "train_model"]

CONFUSION_FILE = "confusion-matrix.png"
#: Below this many training examples n-grams seen once are kept (``min_df=1``).
SMALL_DATA = 1000
#: The share of examples held out when no validation set is given.
DEFAULT_VALIDATION_FRACTION = 0.1
#: Below this many validation examples no temperature is fitted (T = 1): one number fitted to a handful of
#: labels is noise, and a small split the model gets all right would sharpen every probability towards 1.
MIN_CALIBRATION = 20

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
    validation_fraction: float | None = None,
    validation_data: TrainingData | None = None,
    refit: bool = True,
    random_state: int = 0,
    job_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Fit ``config``'s model on a training split, score and calibrate it on validation data, and save a model.

    Args:
        validation_fraction: share of ``data`` held out at random (stratified) for validation; default 0.1.
        validation_data: a given validation split instead (same ``labels`` as ``data``); ``data`` is then all
            training data. Giving both is a ``UsageError``.
        refit: save a model refit on training + validation data (the default) rather than the scored fit.
    """
    if validation_data is not None and validation_fraction is not None:
        raise UsageError("give a validation fraction or a validation set, not both")
    config = config or ModelConfig()
    report = progress or (lambda _stage, _done: None)
    data.check()
    started = time.perf_counter()
    report("Splitting", 0.0)
    split = _split(data, validation_fraction, validation_data, random_state)
    if len(set(split.train_targets.tolist())) < 2:
        raise InvalidInputError(f"{data.source}: the training split has one class only; label more examples")
    if len(split.train_texts) < SMALL_DATA and config.featurizer.min_df > 1:
        # A job with a few hundred labels has few repeated n-grams; keep them all rather than fail or starve.
        config = replace(config, featurizer=replace(config.featurizer, min_df=1))
    n_train, n_val = len(split.train_texts), len(split.val_texts)
    extra_params: dict[str, Any] = {}
    if config.model_type == TRANSFORMER:
        model, extra_params = _fine_tune(config, split, data, out_dir, random_state, report)
        # Not refit: early stopping chose the weights on the validation split, and a second fine-tune on
        # everything would double the longest step of the run with no split left to stop it.
        refit = False
    else:
        report(f"Fitting {config.model_type} on {n_train:,} examples", 0.1)
        model = _fit(config, random_state, split.train_texts, split.train_targets, split.train_weights)
    report(f"Evaluating on {n_val:,} held-out examples", 0.5)
    proba = predict_proba_full(model, split.val_texts, len(data.labels))
    metrics = evaluate(split.val_targets, np.argmax(proba, axis=1), data.labels)
    calibration = _calibrate(proba, split.val_targets)
    saved_size = n_train
    if refit:
        saved_size = n_train + n_val
        report(f"Refitting on all {saved_size:,} labeled examples", 0.6)
        model = _fit(config, random_state, split.all_texts, split.all_targets, split.all_weights)
    seconds = time.perf_counter() - started
    card = ModelCard(
        model_type=config.model_type,
        labels=list(data.labels),
        metrics={"validation": metrics, "calibration": calibration, "fits": _fits(n_train, n_val, refit)},
        # Every labeled example the run read (training data, then a given validation set): all shaped the artifact.
        training_data_hash=data_hash(split.all_texts, split.all_targets.tolist(), split.all_weights),
        training_size=saved_size,
        validation_size=n_val,
        training_seconds=round(seconds, 3),
        label_attribute_name=data.label_attribute_name,
        job_name=job_name or data.job_name or "groundswell-model",
        params={
            **config.describe(),
            "validation_fraction": split.fraction,
            "validation_manifest": validation_data.source if validation_data is not None else None,
            "random_state": random_state,
            "refit": refit,
            "temperature": calibration["temperature"],
            **extra_params,
        },
        package_versions=package_versions(),
        source=data.source,
    )
    report("Saving", 0.9)
    directory = save_model(out_dir, model, card)
    png = write_confusion_png(directory / CONFUSION_FILE, metrics["confusion"], data.labels)
    report("Done", 1.0)
    return TrainResult(directory=directory, card=card, confusion_png=png)


@dataclass(frozen=True)
class _Split:
    """Training and validation examples, and everything together (what a refit sees), in a stable order."""

    train_texts: list[str]
    train_targets: np.ndarray[Any, Any]
    train_weights: list[float] | None
    val_texts: list[str]
    val_targets: np.ndarray[Any, Any]
    all_texts: list[str]
    all_targets: np.ndarray[Any, Any]
    all_weights: list[float] | None
    #: The random share held out, or None when the validation set was given.
    fraction: float | None


def _split(data: TrainingData, fraction: float | None, validation: TrainingData | None, random_state: int) -> _Split:
    targets = np.asarray(data.targets, dtype=np.int64)
    if validation is None:
        fraction = DEFAULT_VALIDATION_FRACTION if fraction is None else fraction
        train_idx, val_idx = split_indices(data.targets, fraction, random_state)
        texts = np.asarray(data.texts, dtype=object)
        weights = np.asarray(data.weights, dtype=np.float64) if data.weights is not None else None
        return _Split(
            train_texts=list(texts[train_idx]),
            train_targets=targets[train_idx],
            train_weights=weights[train_idx].tolist() if weights is not None else None,
            val_texts=list(texts[val_idx]),
            val_targets=targets[val_idx],
            all_texts=list(data.texts),
            all_targets=targets,
            all_weights=list(data.weights) if data.weights is not None else None,
            fraction=fraction,
        )
    if list(validation.labels) != list(data.labels):
        raise InvalidInputError(
            f"{validation.source}: its labels ({', '.join(validation.labels)}) differ from the training data's "
            f"({', '.join(data.labels)}); read it with the training labels"
        )
    if not validation.texts:
        raise InvalidInputError(f"{validation.source}: no labeled examples to validate on")
    val_targets = np.asarray(validation.targets, dtype=np.int64)
    all_weights = None
    if data.weights is not None:
        # Examples the validation file gives no weight count fully, as unweighted training examples would.
        all_weights = list(data.weights) + (list(validation.weights or [1.0] * len(validation.texts)))
    return _Split(
        train_texts=list(data.texts),
        train_targets=targets,
        train_weights=list(data.weights) if data.weights is not None else None,
        val_texts=list(validation.texts),
        val_targets=val_targets,
        all_texts=list(data.texts) + list(validation.texts),
        all_targets=np.concatenate([targets, val_targets]),
        all_weights=all_weights,
        fraction=None,
    )


def _fit(
    config: ModelConfig, random_state: int, texts: list[str], targets: np.ndarray[Any, Any], weights: list[float] | None
) -> Any:
    model = build_model(config, random_state=random_state)
    fit_params: dict[str, Any] = {}
    if weights is not None:
        fit_params = _sample_weight_params(config, np.asarray(weights, dtype=np.float64))
    model.fit(texts, targets, **fit_params)
    return model


def _fine_tune(
    config: ModelConfig,
    split: _Split,
    data: TrainingData,
    out_dir: str | Path,
    random_state: int,
    report: ProgressCallback,
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the transformer (its graph and tokenizer land in ``out_dir``); the card's extra parameters."""
    from groundswell.ml.transformer import fine_tune

    if split.train_weights is not None:
        raise UsageError("weighting by confidence is supported for tfidf-linear only, not transformer")
    result = fine_tune(
        split.train_texts,
        split.train_targets.tolist(),
        split.val_texts,
        split.val_targets.tolist(),
        data.labels,
        out_dir,
        config=config.transformer,
        seed=random_state,
        progress=lambda stage, done: report(stage, 0.05 + 0.45 * done),
    )
    classifier = result.classifier
    params: dict[str, Any] = {
        "runtime": result.report["runtime"],
        "files": dict(classifier.files),
        "max_length": classifier.max_length,
        "fine_tune": result.report,
    }
    if not config.transformer.average:
        return classifier, params
    tfidf_config = ModelConfig()
    if len(split.train_texts) < SMALL_DATA:
        tfidf_config = replace(tfidf_config, featurizer=replace(tfidf_config.featurizer, min_df=1))
    model, params["average"] = average_with_tfidf(
        classifier,
        split.train_texts,
        split.train_targets.tolist(),
        split.val_texts,
        split.val_targets.tolist(),
        data.labels,
        tfidf_config=tfidf_config,
        random_state=random_state,
        report=report,
    )
    return model, params


def _calibrate(proba: np.ndarray[Any, Any], targets: np.ndarray[Any, Any]) -> dict[str, Any]:
    """The temperature fitted on the validation probabilities, with the validation ECE before and after it.

    No temperature (T = 1) on fewer than :data:`MIN_CALIBRATION` examples, or when the scored fit gets every
    validation example right: the likelihood then only grows as T falls, and the lower bound would claim a
    certainty that a small, easy split cannot support.
    """
    note = ""
    if len(targets) < MIN_CALIBRATION:
        note = f"not fitted: fewer than {MIN_CALIBRATION} validation examples"
    elif bool(np.all(np.argmax(proba, axis=1) == targets)):
        note = "not fitted: no validation errors to learn a temperature from"
    temperature = 1.0 if note else round(fit_temperature(proba, targets), 6)
    return {
        "temperature": temperature,
        "fitted": not note,
        "note": note or f"fitted on {len(targets)} validation examples (the scored fit's probabilities)",
        "examples": len(targets),
        "ece_bins": ECE_BINS,
        "ece_before": expected_calibration_error(proba, targets),
        # Measured on the examples T was fitted on: an optimistic figure, shown to compare with ece_before.
        "ece_after": expected_calibration_error(apply_temperature(proba, temperature), targets),
    }


def _fits(n_train: int, n_val: int, refit: bool) -> dict[str, Any]:
    """Which fit each number on the card comes from, spelled out for whoever reads the card."""
    scored = (
        f"fitted on the training split only ({n_train} examples) and scored on the validation split ({n_val}): "
        "metrics.validation, metrics.calibration and the temperature come from this fit"
    )
    if refit:
        saved = (
            f"refit with the same settings on training + validation ({n_train + n_val} examples); this is the "
            "saved model, not itself scored (no held-out data is left), calibrated with the scored fit's temperature"
        )
    else:
        saved = "the scored fit itself (no refit)"
    return {
        "scored": {"training_examples": n_train, "validation_examples": n_val, "description": scored},
        "saved": {"training_examples": n_train + n_val if refit else n_train, "refit": refit, "description": saved},
    }


def _sample_weight_params(config: ModelConfig, weights: np.ndarray[Any, Any]) -> dict[str, Any]:
    # A Pipeline routes fit parameters by step name. A soft-voting ensemble of pipelines would need
    # scikit-learn's global metadata-routing switch, which we do not flip behind the caller's back.
    if config.model_type != "tfidf-linear":
        raise UsageError(f"weighting by confidence is supported for tfidf-linear only, not {config.model_type}")
    return {"classifier__sample_weight": weights}
