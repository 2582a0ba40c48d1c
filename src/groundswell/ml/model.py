"""Sentiment models: a featuriser plus a linear classifier with calibrated-enough probability outputs.

Two model types, picked by name so the CLI, the store's ``model_versions.model_type`` and the model card
agree:

- ``tfidf-linear`` (default): :func:`~groundswell.ml.features.build_featurizer` + logistic regression with
  balanced class weights. Balanced weights matter because TweetEval's official metric is macro-averaged
  recall and its classes are skewed (neutral ≈ 45 %, negative ≈ 15 % of train).
- ``embeddings-linear`` (extra ``groundswell[embeddings]``): a soft vote of two logistic regressions, one
  on all the features at once (the TF-IDF n-grams, the VADER lexicon columns and the MiniLM sentence
  embedding, each block with about unit norm) and, with a small weight, one on the embedding alone. On
  TweetEval val this beat the earlier average of the TF-IDF model and an embeddings model (see
  bench/RESULTS.md): fitting the weights jointly lets the n-grams correct the embedding where it is wrong
  instead of only averaging two opinions. Both members embed the same texts; the embedder reuses its last
  batch, so each text is encoded once.

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
from sklearn.pipeline import FeatureUnion, Pipeline

from groundswell.errors import UsageError
from groundswell.ml.embed import SentenceEmbedder, require_embeddings
from groundswell.ml.features import FeaturizerConfig, build_featurizer
from groundswell.ml.transformer import TransformerConfig

__all__ = ["DEFAULT_MODEL_TYPE", "MODEL_TYPES", "TRANSFORMER", "ModelConfig", "build_model", "predict_proba_full"]

DEFAULT_MODEL_TYPE = "tfidf-linear"
#: ``transformer`` (extra ``groundswell[transformer]``) is fine-tuned by ``groundswell.train.train_model``, which
#: gives it the validation split its early stopping needs; it is not built here.
TRANSFORMER = "transformer"
MODEL_TYPES = ("tfidf-linear", "embeddings-linear", TRANSFORMER)


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters; the defaults are those bench/model_quality.py picked on TweetEval's validation split."""

    model_type: str = DEFAULT_MODEL_TYPE
    #: Inverse regularisation strength of the TF-IDF logistic regression.
    c: float = 1.0
    #: Inverse regularisation strength of the embeddings logistic regression.
    embeddings_c: float = 1.0
    #: embeddings-linear: the norm of the embedding block next to the TF-IDF blocks in the joint model.
    embeddings_scale: float = 1.0
    #: embeddings-linear: the vote weight of the embeddings-only model (the joint model gets the rest).
    embeddings_vote: float = 0.2
    class_weight: str | None = "balanced"
    max_iter: int = 1000
    featurizer: FeaturizerConfig = field(default_factory=FeaturizerConfig)
    #: transformer: the fine-tuning settings.
    transformer: TransformerConfig = field(default_factory=TransformerConfig)

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly view for the model card."""
        if self.model_type == TRANSFORMER:
            return {"model_type": self.model_type, "transformer": self.transformer.describe()}
        return {
            "model_type": self.model_type,
            "c": self.c,
            "embeddings_c": self.embeddings_c,
            "embeddings_scale": self.embeddings_scale,
            "embeddings_vote": self.embeddings_vote,
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
        featurizer = build_featurizer(config.featurizer)
        parts = list(featurizer.transformer_list) if isinstance(featurizer, FeatureUnion) else [("ngrams", featurizer)]
        joint = Pipeline(
            [
                ("features", FeatureUnion([*parts, ("embeddings", SentenceEmbedder(scale=config.embeddings_scale))])),
                ("classifier", _linear(config.c, config, random_state)),
            ]
        )
        embeddings = Pipeline(
            [("embed", SentenceEmbedder()), ("classifier", _linear(config.embeddings_c, config, random_state))]
        )
        return VotingClassifier(
            [("joint", joint), ("embeddings", embeddings)],
            voting="soft",
            weights=[1.0 - config.embeddings_vote, config.embeddings_vote],
        )
    if config.model_type == TRANSFORMER:
        raise UsageError("the transformer is fine-tuned by groundswell.train.train_model (it needs a validation split)")
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
