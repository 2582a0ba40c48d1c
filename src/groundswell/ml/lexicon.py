"""Sentiment-lexicon features from VADER (Hutto & Gilbert, ICWSM 2014), part of the default featuriser.

Why: a lexicon knows the polarity of words a labeled set has never seen, and VADER's rules cover negation,
intensifiers, capitals and emoticons that n-grams learn only from many examples. Six VADER columns next to
the TF-IDF n-grams raise TweetEval test macro-recall by about one point (64.0 → 65.0, bench/RESULTS.md) for
~0.06 ms a tweet. ``vaderSentiment`` is pure Python and imported lazily here, so ``groundswell.ml`` imports
without it and a model built with ``lexicon=False`` never needs it.

The analyser is rebuilt lazily in each process and never stored on the estimator, so a saved model holds
no third-party object and loads under skops' explicit allow-list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from groundswell.errors import MissingOptionalDependencyError

__all__ = ["LEXICON_INSTALL", "VaderFeatures", "vader_available"]

LEXICON_INSTALL = "pip install 'vaderSentiment>=3.3.2'"

_analyzer: Any = None


def _get_analyzer() -> Any:
    global _analyzer
    if _analyzer is None:
        try:
            from vaderSentiment import vaderSentiment as vader
        except ImportError as exc:
            raise MissingOptionalDependencyError(
                f"lexicon features need the vaderSentiment package: {LEXICON_INSTALL}"
            ) from exc
        _analyzer = _fast_analyzer(vader)
    return _analyzer


def _fast_analyzer(vader: Any) -> Any:
    """VADER's analyser with a shortcut for the common tweet without emoji (same scores, checked in the tests).

    ``polarity_scores`` first rebuilds the text character by character to spell out emoji, about a fifth of
    its cost; when no character of the text is one of its emoji, that loop returns the text unchanged (then
    stripped), so the shortcut strips it and runs the rest of ``polarity_scores`` as VADER writes it.
    """

    class Analyzer(vader.SentimentIntensityAnalyzer):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.emoji_chars = frozenset(k for k in self.emojis if len(k) == 1)

        def polarity_scores(self, text: str) -> dict[str, float]:
            if not self.emoji_chars.isdisjoint(text):
                return dict(super().polarity_scores(text))
            sentitext = vader.SentiText(text.strip())
            sentiments: list[float] = []
            words = sentitext.words_and_emoticons
            for i, item in enumerate(words):
                if item.lower() in vader.BOOSTER_DICT or (
                    i < len(words) - 1 and item.lower() == "kind" and words[i + 1].lower() == "of"
                ):
                    sentiments.append(0)
                    continue
                sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
            sentiments = self._but_check(words, sentiments)
            return dict(self.score_valence(sentiments, text.strip()))

    return Analyzer()


def vader_available() -> bool:
    """Whether ``vaderSentiment`` can be imported (without raising)."""
    try:
        _get_analyzer()
    except MissingOptionalDependencyError:
        return False
    return True


class VaderFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Six dense columns per text: VADER's neg, neu, pos, compound, and compound split by sign, times ``weight``.

    ``weight`` sets how loud the six columns are next to tens of thousands of TF-IDF columns whose rows
    have unit norm; 1.0 works for logistic regression with C around 1.

    Give it the raw text: VADER reads capitals, "!!!" and emoticons that normalisation folds away.
    """

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, X: Iterable[str], y: object = None) -> VaderFeatures:
        _get_analyzer()
        return self

    def transform(self, X: Iterable[str]) -> sparse.csr_matrix:
        analyzer = _get_analyzer()
        rows: list[list[float]] = []
        for text in X:
            s = analyzer.polarity_scores(text)
            c = float(s["compound"])
            rows.append([s["neg"], s["neu"], s["pos"], c, max(c, 0.0), max(-c, 0.0)])
        values: NDArray[np.float64] = np.asarray(rows, dtype=np.float64).reshape(-1, 6) * self.weight
        return sparse.csr_matrix(values)

    def get_feature_names_out(self, input_features: object = None) -> NDArray[np.object_]:
        names = ["vader_neg", "vader_neu", "vader_pos", "vader_compound", "vader_pos_compound", "vader_neg_compound"]
        return np.asarray(names, dtype=object)
