"""A loaded model that answers predictions, and a holder that swaps models without downtime.

Why a lean path: a scikit-learn ``Pipeline`` validates its input and dispatches step by step on every call,
which costs more than the arithmetic for a single tweet. For the default ``tfidf-linear`` model
:class:`Predictor` uses :func:`groundswell.ml.compile_linear` (same probabilities, a fraction of the
per-call cost); any other model goes through ``predict_proba``. Either way the probabilities are then scaled by
the temperature on the model card (``softmax(log(p) / T)``, fitted on the validation split by
``groundswell train``), so the endpoint, batch prediction and in-process callers all give the same calibrated
confidences; a card without a temperature leaves them exactly as the estimator gives them.

:class:`ModelHolder` owns the current :class:`Predictor`. A swap loads the new version completely first and
then replaces one reference, so in-flight requests finish on the old model and new ones get the new one.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from groundswell.ml import (
    CARD_FILE,
    LoadedModel,
    ModelCard,
    apply_temperature,
    compile_linear,
    load_model,
    predict_proba_full,
)

__all__ = [
    "ModelHolder",
    "Prediction",
    "Predictor",
    "creation_date",
    "freeze_heap",
    "prediction_attributes",
    "top_class",
]


@dataclass(frozen=True)
class Prediction:
    """One text's answer: the top label, its class index and every label's probability (schema order)."""

    label: str
    class_index: int
    confidence: float
    probabilities: tuple[float, ...]

    def to_json(self, labels: Sequence[str]) -> dict[str, Any]:
        return {
            "label": self.label,
            "class_index": self.class_index,
            "confidence": self.confidence,
            "probabilities": dict(zip(labels, self.probabilities, strict=True)),
        }


def creation_date() -> str:
    """Ground Truth's ``creation-date``: ISO 8601, no offset, with microseconds (UTC)."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def prediction_attributes(
    prediction: Prediction, *, attribute: str, job_name: str, created: str | None = None
) -> dict[str, Any]:
    """The two output-manifest keys a machine label adds to a line: ``<attr>`` and ``<attr>-metadata``."""
    return {
        attribute: prediction.class_index,
        f"{attribute}-metadata": {
            "class-name": prediction.label,
            "confidence": round(prediction.confidence, 4),
            "type": "groundtruth/text-classification",
            "job-name": job_name,
            "human-annotated": "no",
            "creation-date": created or creation_date(),
        },
    }


class Predictor:
    """Predictions from one loaded artifact; thread-safe (read-only after construction)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.card: ModelCard = loaded.card
        self.labels: list[str] = list(loaded.card.labels)
        #: The card's calibration temperature (1.0: probabilities as the estimator gives them).
        self.temperature: float = loaded.card.temperature
        self._fast = _fast_path(loaded.estimator, len(self.labels))

    @classmethod
    def from_dir(cls, directory: str | Path) -> Predictor:
        return cls(load_model(directory))

    @property
    def version(self) -> str:
        """A short id of the artifact: the training data hash and creation time from its card."""
        return f"{self.card.training_data_hash[:12]}@{self.card.created_at}"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """Calibrated probabilities, one row per text and one column per label (schema order)."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        raw = self.raw_proba(texts)
        return raw if self.temperature == 1.0 else apply_temperature(raw, self.temperature)

    def raw_proba(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """The estimator's own probabilities, before the card's temperature (schema order)."""
        if not texts:
            return np.zeros((0, len(self.labels)))
        if self._fast is not None:
            fast: np.ndarray[Any, Any] = self._fast(texts)
            return fast
        return predict_proba_full(self.loaded.estimator, texts, len(self.labels))

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        proba = self.predict_proba(texts)
        best = np.argmax(proba, axis=1)
        out: list[Prediction] = []
        for row, index in zip(proba.tolist(), best.tolist(), strict=True):
            out.append(Prediction(self.labels[index], int(index), float(row[index]), tuple(row)))
        return out


def _fast_path(estimator: Any, n_labels: int) -> Callable[[Sequence[str]], np.ndarray[Any, Any]] | None:
    """Probabilities in schema order from the compiled model, or None when the estimator has another shape."""
    compiled = compile_linear(estimator)
    if compiled is None:
        return None
    classes = compiled.classes_
    complete = len(classes) == n_labels and np.array_equal(classes, np.arange(n_labels))

    def proba(texts: Sequence[str]) -> np.ndarray[Any, Any]:
        p = compiled.predict_proba(texts)
        if complete:
            return p
        full = np.zeros((p.shape[0], n_labels))
        full[:, classes] = p
        return full

    return proba


def freeze_heap() -> None:
    """Move everything allocated so far (the model's vocabularies: ~10⁶ strings) out of the garbage collector's
    view. Otherwise each full collection walks them all and stalls requests for tens of milliseconds."""
    gc.collect()
    gc.freeze()


class ModelHolder:
    """The model an endpoint currently serves; ``swap`` changes it atomically after the new one has loaded."""

    def __init__(self, directory: str | Path, predictor: Predictor | None = None) -> None:
        self.directory = Path(directory)
        self._predictor = predictor
        self._lock = threading.Lock()
        self._stamp = self._card_stamp() if predictor is not None else None
        self.error: str | None = None

    @property
    def predictor(self) -> Predictor | None:
        return self._predictor

    @property
    def ready(self) -> bool:
        return self._predictor is not None

    def _card_stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.directory / CARD_FILE).stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def load(self) -> Predictor:
        """Load (or reload) from ``directory`` and switch to it."""
        return self.swap(self.directory)

    def swap(self, directory: str | Path) -> Predictor:
        """Load ``directory`` fully, then make it the served model; requests in flight finish on the old one."""
        with self._lock:
            stamp = (Path(directory) / CARD_FILE).stat()
            predictor = Predictor.from_dir(directory)
            predictor.predict(["warm up"])
            freeze_heap()
            self._predictor = predictor
            self.directory = Path(directory)
            self._stamp = (stamp.st_mtime_ns, stamp.st_size)
            self.error = None
            return predictor

    def reload_if_changed(self) -> bool:
        """Swap when the model card in ``directory`` changed (it is written last); True if it swapped."""
        stamp = self._card_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        try:
            self.swap(self.directory)
        except Exception as exc:
            self.error = f"reload failed, still serving the previous model: {exc}"
            self._stamp = stamp
            return False
        return True


def top_class(predictor: Predictor, texts: list[str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The best class index of each text and its probability (what a batch output line records). Here, beside
    the predictor, so both batch engines (in-process and Ray) use it without importing each other."""
    proba = predictor.predict_proba(texts)
    best = np.argmax(proba, axis=1)
    return best.astype(np.int32), proba[np.arange(len(texts)), best].astype(np.float32)
