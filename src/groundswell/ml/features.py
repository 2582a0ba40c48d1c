"""The default tweet featuriser: normalised text → TF-IDF word 1–2-grams + character 2–5-grams.

Why this shape: on tweet sentiment, word n-grams carry the vocabulary ("not good") and character n-grams
carry spelling variation, hashtags glued to words and misspellings; together with a linear classifier
they reach the published SVM baselines at a fraction of a transformer's cost (no torch, milliseconds per
tweet, a few MB on disk). Sub-linear TF and ``min_df=2`` keep one-off n-grams from dominating.

Use :func:`build_featurizer` to get an unfitted scikit-learn transformer; :mod:`groundswell.ml.model`
puts it in front of a classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from groundswell.ml.lexicon import VaderFeatures
from groundswell.ml.normalize import TweetNormalizer

__all__ = ["WORD_TOKEN_PATTERN", "FeaturizerConfig", "build_featurizer"]

#: Words (with a leading # or @ kept, so "#fail" and "fail" differ), plus "!" and "?" as tokens of their own.
WORD_TOKEN_PATTERN = r"(?u)[#@]?\b\w+\b|[!?]"


@dataclass(frozen=True)
class FeaturizerConfig:
    """The featuriser's knobs; the defaults are the ones bench/model_quality.py chose on TweetEval val."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    max_features: int | None = None
    #: VADER lexicon features: +1.0 macro-recall on TweetEval test (see bench/RESULTS.md).
    lexicon: bool = True
    lexicon_weight: float = 1.0


def build_featurizer(config: FeaturizerConfig | None = None) -> Pipeline | FeatureUnion:
    """An unfitted transformer from raw tweet texts to a sparse feature matrix."""
    config = config or FeaturizerConfig()
    ngrams = Pipeline(
        [
            ("normalize", TweetNormalizer()),
            (
                "tfidf",
                FeatureUnion(
                    [
                        (
                            "word",
                            TfidfVectorizer(
                                ngram_range=config.word_ngrams,
                                min_df=config.min_df,
                                max_features=config.max_features,
                                sublinear_tf=True,
                                lowercase=False,
                                token_pattern=WORD_TOKEN_PATTERN,
                                dtype=_float32(),
                            ),
                        ),
                        (
                            "char",
                            TfidfVectorizer(
                                analyzer="char",
                                ngram_range=config.char_ngrams,
                                min_df=config.min_df,
                                max_features=config.max_features,
                                sublinear_tf=True,
                                lowercase=False,
                                dtype=_float32(),
                            ),
                        ),
                    ]
                ),
            ),
        ]
    )
    if not config.lexicon:
        return ngrams
    return FeatureUnion([("ngrams", ngrams), ("lexicon", VaderFeatures(weight=config.lexicon_weight))])


def _float32() -> type:
    # float32 halves the memory of the character n-gram matrix; linear models lose nothing measurable.
    import numpy as np

    return np.float32
