"""Pure scikit-learn sentiment models: featurisers, classifiers, metrics and safe artifacts.

Which function when:
- :func:`build_model` for an unfitted estimator (``tfidf-linear`` default, ``embeddings-linear`` extra);
- :func:`evaluate` for the report's numbers (macro-recall first: TweetEval's metric);
- :func:`save_model` / :func:`load_model` to write and read ``model.skops`` + ``model-card.json``;
- :func:`predict_proba_full` for probabilities in label-schema order;
- :func:`compile_linear` for the lean serving path of a fitted ``tfidf-linear`` model;
- :func:`fit_temperature` / :func:`apply_temperature` / :func:`expected_calibration_error` to calibrate
  probabilities on held-out labels (the temperature lives on the model card).

Imports only numpy, scipy, scikit-learn and skops (plus ``groundswell.domain``/``errors``); optional extras
(vaderSentiment, sentence-transformers) are imported lazily behind one guard each.
"""

from groundswell.ml.artifacts import (
    CARD_FILE,
    MODEL_FILE,
    TRUSTED_TYPES,
    LoadedModel,
    ModelCard,
    UntrustedArtifactError,
    load_model,
    package_versions,
    read_card,
    save_model,
    training_data_hash,
)
from groundswell.ml.calibration import (
    apply_temperature,
    card_temperature,
    expected_calibration_error,
    fit_temperature,
)
from groundswell.ml.embed import EMBEDDINGS_INSTALL, SentenceEmbedder, embeddings_available, require_embeddings
from groundswell.ml.fast import CompiledLinearModel, compile_linear
from groundswell.ml.features import FeaturizerConfig, build_featurizer
from groundswell.ml.lexicon import LEXICON_INSTALL, VaderFeatures, vader_available
from groundswell.ml.metrics import evaluate
from groundswell.ml.model import DEFAULT_MODEL_TYPE, MODEL_TYPES, ModelConfig, build_model, predict_proba_full
from groundswell.ml.normalize import TweetNormalizer, normalize_tweet, normalize_tweets

__all__ = [
    "CARD_FILE",
    "DEFAULT_MODEL_TYPE",
    "EMBEDDINGS_INSTALL",
    "LEXICON_INSTALL",
    "MODEL_FILE",
    "MODEL_TYPES",
    "TRUSTED_TYPES",
    "CompiledLinearModel",
    "FeaturizerConfig",
    "LoadedModel",
    "ModelCard",
    "ModelConfig",
    "SentenceEmbedder",
    "TweetNormalizer",
    "UntrustedArtifactError",
    "VaderFeatures",
    "apply_temperature",
    "build_featurizer",
    "build_model",
    "card_temperature",
    "compile_linear",
    "embeddings_available",
    "evaluate",
    "expected_calibration_error",
    "fit_temperature",
    "load_model",
    "normalize_tweet",
    "normalize_tweets",
    "package_versions",
    "predict_proba_full",
    "read_card",
    "require_embeddings",
    "save_model",
    "training_data_hash",
    "vader_available",
]
