"""Sentiment models: a featuriser plus a linear classifier with calibrated-enough probability outputs.

Two model types, picked by name so the CLI, the store's ``model_versions.model_type`` and the model card
agree:

- ``tfidf-linear`` (default): :func:`~groundswell.ml.features.build_featurizer` + logistic regression with
  balanced class weights. Balanced weights matter because TweetEval's official metric is macro-averaged
  recall and its classes are skewed (neutral ≈ 45 %, negative ≈ 15 % of train).
- ``embeddings-linear`` (extra ``groundswell[embeddings]``): the average of the TF-IDF model's
  probabilities and those of a logistic regression on MiniLM sentence embeddings; the two make different
  mistakes, so averaging beats either alone.

Class indices are the label schema's positions: models are fitted on integer indices, and
:func:`predict_proba_full` widens the output to every label even when a class had no training example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from groundswell.errors import UsageError
from groundswell.ml.embed import SentenceEmbedder, require_embeddings
from groundswell.ml.features import FeaturizerConfig, build_featurizer

__all__ = ["DEFAULT_MODEL_TYPE", "MODEL_TYPES", "ModelConfig", "build_model", "predict_proba_full"]

DEFAULT_MODEL_TYPE = "tfidf-linear"
MODEL_TYPES = ("tfidf-linear", "embeddings-linear")


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters; the defaults are those bench/model_quality.py picked on TweetEval's validation split."""

    model_type: str = DEFAULT_MODEL_TYPE
    #: Inverse regularisation strength of the TF-IDF logistic regression.
    c: float = 1.0
    #: Inverse regularisation strength of the embeddings logistic regression.
    embeddings_c: float = 1.0
    class_weight: str | None = "balanced"
    max_iter: int = 1000
    featurizer: FeaturizerConfig = field(default_factory=FeaturizerConfig)

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view for the model card."""
        return {
            "model_type": self.model_type,
            "c": self.c,
            "embeddings_c": self.embeddings_c,
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
            "featurizer": {
                "word_ngrams": list(self.featurizer.word_ngrams),
                "char_ngrams": list(self.featurizer.char_ngrams),
                "min_df": self.featurizer.min_df,
                "max_features": self.featurizer.max_features,
                "lexicon": self.featurizer.lexicon,
            },
        }


def _linear(c: float, config: ModelConfig, random_state: int) -> LogisticRegression:
    return LogisticRegression(
        C=c, class_weight=config.class_weight, max_iter=config.max_iter, random_state=random_state
    )


def build_model(config: ModelConfig | None = None, *, random_state: int = 0) -> Pipeline | VotingClassifier:
    """An unfitted estimator that takes raw tweet texts; ``UsageError`` for an unknown model type."""
    config = config or ModelConfig()
    tfidf = Pipeline(
        [("features", build_featurizer(config.featurizer)), ("classifier", _linear(config.c, config, random_state))]
    )
    if config.model_type == "tfidf-linear":
        return tfidf
    if config.model_type == "embeddings-linear":
        require_embeddings()
        embeddings = Pipeline(
            [("embed", SentenceEmbedder()), ("classifier", _linear(config.embeddings_c, config, random_state))]
        )
        return VotingClassifier([("tfidf", tfidf), ("embeddings", embeddings)], voting="soft")
    raise UsageError(f"unknown model type {config.model_type!r}; choose one of: {', '.join(MODEL_TYPES)}")


def predict_proba_full(model: Any, texts: Sequence[str], n_classes: int) -> NDArray[np.float64]:
    """Probabilities with one column per label of the schema (classes never seen in training get 0)."""
    proba = np.asarray(model.predict_proba(list(texts)), dtype=np.float64)
    classes = np.asarray(model.classes_, dtype=np.int64)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return proba
    full = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    full[:, classes] = proba
    return full
