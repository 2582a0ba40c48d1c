"""The card's temperature reaches every probability a saved model gives: the Predictor's compiled and generic
paths, and batch prediction; a card without one predicts exactly as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from factories import write_jsonl
from groundswell.ml import CARD_FILE, ModelCard, build_model, compile_linear, load_model, predict_proba_full, save_model
from groundswell.serve import Predictor, predict_file
from groundswell.train import TrainingData, train_model

ToyData = Callable[[], TrainingData]

LABELS = ["negative", "neutral", "positive"]  # the toy data's (tests/serve/conftest.py)
TEXTS = ["love this phone", "worst game ever", "the match is on tv at 9", "meh", "so happy, so angry"]


def _expected(raw: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p_raw) / T), written out independently of groundswell.ml.calibration."""
    return np.asarray(softmax(np.log(raw) / temperature, axis=1))


def _save(folder: Path, estimator: object, temperature: float | None) -> Path:
    params = {} if temperature is None else {"temperature": temperature}
    return save_model(folder, estimator, ModelCard(model_type="tfidf-linear", labels=list(LABELS), params=params))


@pytest.fixture
def fitted(make_toy_data: ToyData) -> Pipeline:
    data = make_toy_data()
    return build_model().fit(data.texts, data.targets)


@pytest.mark.parametrize("temperature", [2.5, 0.4])
def test_compiled_path_probabilities_are_tempered(fitted: Pipeline, tmp_path: Path, temperature: float) -> None:
    predictor = Predictor.from_dir(_save(tmp_path / "m", fitted, temperature))
    compiled = compile_linear(predictor.loaded.estimator)
    assert compiled is not None  # the default model serves through the compiled path
    raw = compiled.predict_proba(TEXTS)
    assert predictor.temperature == temperature
    assert np.max(np.abs(predictor.predict_proba(TEXTS) - _expected(raw, temperature))) < 1e-9
    assert np.array_equal(predictor.raw_proba(TEXTS), raw)
    best = predictor.predict(TEXTS)
    assert [p.confidence for p in best] == pytest.approx(_expected(raw, temperature).max(axis=1), abs=1e-9)


def test_generic_path_probabilities_are_tempered(tmp_path: Path, make_toy_data: ToyData) -> None:
    data = make_toy_data()
    # Lower-casing vectoriser: not the compiled shape, so predictions go through predict_proba_full.
    generic = Pipeline([("tfidf", TfidfVectorizer()), ("classifier", LogisticRegression())])
    generic.fit(data.texts, data.targets)
    folder = _save(tmp_path / "g", generic, 3.0)
    loaded = load_model(folder)
    assert compile_linear(loaded.estimator) is None
    raw = predict_proba_full(loaded.estimator, TEXTS, len(LABELS))
    got = Predictor(loaded).predict_proba(TEXTS)
    assert np.max(np.abs(got - _expected(raw, 3.0))) < 1e-9
    assert not np.allclose(got, raw, atol=1e-3)


def test_a_card_without_a_temperature_predicts_exactly_as_before(fitted: Pipeline, tmp_path: Path) -> None:
    folder = _save(tmp_path / "old", fitted, None)
    card = json.loads((folder / CARD_FILE).read_text())
    assert "temperature" not in card["params"]
    card["card_version"] = 1
    (folder / CARD_FILE).write_text(json.dumps(card))
    predictor = Predictor.from_dir(folder)
    assert predictor.temperature == 1.0
    compiled = compile_linear(predictor.loaded.estimator)
    assert compiled is not None
    assert np.array_equal(predictor.predict_proba(TEXTS), compiled.predict_proba(TEXTS))
    assert np.allclose(predictor.predict_proba(TEXTS), fitted.predict_proba(TEXTS), atol=1e-6)


def test_a_trained_model_serves_with_its_fitted_temperature(tmp_path: Path, make_toy_data: ToyData) -> None:
    data = make_toy_data()
    # Shift some labels so the validation split has errors and a temperature is fitted (>= 20 examples).
    noisy = replace(data, targets=[(t + 1) % 3 if n % 5 == 0 else t for n, t in enumerate(data.targets)])
    card = train_model(noisy, tmp_path / "m", validation_fraction=0.3).card
    temperature = card.params["temperature"]
    assert card.metrics["calibration"]["fitted"] and temperature != 1.0
    predictor = Predictor.from_dir(tmp_path / "m")
    raw = predictor.raw_proba(TEXTS)
    assert np.max(np.abs(predictor.predict_proba(TEXTS) - _expected(raw, temperature))) < 1e-9

    # Batch prediction writes the calibrated confidence.
    source = write_jsonl(tmp_path / "in.jsonl", [{"source": t} for t in TEXTS])
    predict_file(tmp_path / "m", str(source), str(tmp_path / "out.jsonl"), processes=1)
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    attribute = card.label_attribute_name
    confidences = [line[f"{attribute}-metadata"]["confidence"] for line in lines]
    assert confidences == pytest.approx(_expected(raw, temperature).max(axis=1), abs=1e-4)
    assert [line[attribute] for line in lines] == raw.argmax(axis=1).tolist()
