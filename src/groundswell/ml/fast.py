"""A lean inference path for the default model: the same probabilities as ``predict_proba``, several times faster.

Why: serving predicts one tweet at a time at thousands of requests a second, and scikit-learn's transform
path (input validation, per-step dispatch, building a sparse matrix per vectoriser, then a TF-IDF transformer,
then a sparse product) costs far more than the arithmetic. A linear model over TF-IDF features is a sum over
the n-grams a tweet contains, so :class:`CompiledLinearModel` folds each vectoriser's IDF into the
classifier's weights once, counts word n-grams with C-level ``Counter`` and character n-grams as integer
keys for a whole batch (:mod:`groundswell.ml.chargrams`, the bulk of the cost), and sums the folded weights
with ``numpy.bincount``. It reproduces sub-linear TF, IDF and per-block L2 normalisation exactly (up to
float rounding: scikit-learn computes in float32 here).

:func:`compile_linear` returns None for any estimator that is not the ``tfidf-linear`` shape, and callers
then fall back to ``predict_proba``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from groundswell.ml.chargrams import CharGramIndex
from groundswell.ml.lexicon import VaderFeatures
from groundswell.ml.normalize import normalize_tweets

__all__ = ["CompiledLinearModel", "compile_linear"]

_WHITESPACE = re.compile(r"\s\s+")
_slices: dict[int, list[slice]] = {}


def _slice_table(n: int, count: int) -> list[slice]:
    """``[slice(i, i + n) for i in range(count)]``, cached and grown on demand."""
    table = _slices.setdefault(n, [])
    while len(table) < count:
        table.extend(slice(i, i + n) for i in range(len(table), max(count, 2 * len(table), 256)))
    return table[:count]


@dataclass(frozen=True)
class _Block:
    """One fitted TF-IDF vectoriser, reduced to what scoring needs."""

    analyzer: str
    ngram_range: tuple[int, int]
    token_pattern: re.Pattern[str] | None
    vocabulary: dict[str, int]
    idf: NDArray[np.float64]
    #: ``idf[:, None] * coef`` for this block's columns: one row per n-gram, one column per class.
    folded: NDArray[np.float64]
    #: Character n-grams counted as integers for a whole batch (None: count with strings).
    chars: CharGramIndex | None = None

    def grams(self, doc: str) -> Iterator[str]:
        low, high = self.ngram_range
        if self.analyzer == "char":
            doc = _WHITESPACE.sub(" ", doc)
            size = len(doc)
            # doc[i:i+n] for every i, produced by map() over slice objects so the loop runs in C.
            return chain.from_iterable(
                map(doc.__getitem__, _slice_table(n, size - n + 1)) for n in range(low, min(high, size) + 1)
            )
        assert self.token_pattern is not None
        tokens = self.token_pattern.findall(doc)
        parts: list[Iterable[str]] = [tokens] if low == 1 else []
        for n in range(max(low, 2), min(high, len(tokens)) + 1):
            parts.append(map(" ".join, zip(*[tokens[i:] for i in range(n)], strict=False)))
        return chain.from_iterable(parts)

    def counts(self, docs: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(document, vocabulary column, count) for every in-vocabulary n-gram of every document."""
        if self.chars is not None:
            return self.chars.count(docs)
        # Python lists grown by C-level extend() calls, converted to arrays once per batch.
        all_ids: list[int] = []
        all_counts: list[int] = []
        lengths: list[int] = []
        get = self.vocabulary.get
        for doc in docs:
            counts = Counter(self.grams(doc))
            all_ids.extend(map(get, counts.keys(), repeat(-1)))
            all_counts.extend(counts.values())
            lengths.append(len(counts))
        ids = np.array(all_ids, dtype=np.int64)
        keep = ids >= 0
        rows = np.repeat(np.arange(len(docs)), lengths)[keep]
        return rows, ids[keep], np.array(all_counts, dtype=np.int64)[keep]

    def scores(self, docs: Sequence[str]) -> NDArray[np.float64]:
        """This block's contribution to the decision function: ``l2norm(tfidf(doc)) @ coef``."""
        classes = self.folded.shape[1]
        out = np.zeros((len(docs), classes))
        rows, ids, counts = self.counts(docs)
        if not len(ids):
            return out
        tf = 1.0 + np.log(counts.astype(np.float64))
        norms = np.sqrt(np.bincount(rows, weights=(tf * self.idf[ids]) ** 2, minlength=len(docs)))
        norms[norms == 0] = 1.0
        weights = self.folded[ids]
        for j in range(classes):
            out[:, j] = np.bincount(rows, weights=tf * weights[:, j], minlength=len(docs))
        out /= norms[:, None]
        return out


def _block(vectorizer: Any, coef: NDArray[np.float64]) -> _Block | None:
    if not isinstance(vectorizer, TfidfVectorizer):
        return None
    ok = (
        vectorizer.analyzer in ("char", "word")
        and not vectorizer.lowercase
        and vectorizer.preprocessor is None
        and vectorizer.tokenizer is None
        and vectorizer.stop_words is None
        and vectorizer.strip_accents is None
        and vectorizer.sublinear_tf
        and vectorizer.use_idf
        and vectorizer.norm == "l2"
        and not vectorizer.binary
    )
    if not ok:
        return None
    pattern = re.compile(vectorizer.token_pattern) if vectorizer.analyzer == "word" else None
    if pattern is not None and pattern.groups > 1:
        return None
    idf = np.asarray(vectorizer.idf_, dtype=np.float64)
    ngram_range = (int(vectorizer.ngram_range[0]), int(vectorizer.ngram_range[1]))
    chars = CharGramIndex.build(vectorizer.vocabulary_, ngram_range) if vectorizer.analyzer == "char" else None
    return _Block(
        analyzer=vectorizer.analyzer,
        ngram_range=ngram_range,
        token_pattern=pattern,
        vocabulary=vectorizer.vocabulary_,
        idf=idf,
        folded=idf[:, None] * coef,
        chars=chars,
    )


class CompiledLinearModel:
    """``texts → class probabilities`` for a fitted ``tfidf-linear`` pipeline, without scikit-learn per call."""

    def __init__(
        self,
        blocks: list[_Block],
        lexicon: VaderFeatures | None,
        lexicon_coef: NDArray[np.float64] | None,
        intercept: NDArray[np.float64],
        classes: NDArray[np.int64],
    ) -> None:
        self.blocks = blocks
        self.lexicon = lexicon
        self.lexicon_coef = lexicon_coef
        self.intercept = intercept
        self.classes_ = classes

    def decision_function(self, texts: Sequence[str]) -> NDArray[np.float64]:
        normalized = normalize_tweets(texts)
        scores = np.tile(self.intercept, (len(texts), 1))
        for block in self.blocks:
            scores += block.scores(normalized)
        if self.lexicon is not None and self.lexicon_coef is not None:
            scores += np.asarray(self.lexicon.transform(texts).toarray()) @ self.lexicon_coef
        return scores

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        scores = self.decision_function(texts)
        if scores.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        result: NDArray[np.float64] = scores / scores.sum(axis=1, keepdims=True)
        return result


def _ngram_vectorizers(features: Any) -> list[Any] | None:
    if not isinstance(features, Pipeline) or [name for name, _ in features.steps] != ["normalize", "tfidf"]:
        return None
    union = features.steps[1][1]
    if not isinstance(union, FeatureUnion) or union.transformer_weights:
        return None
    return [step for _, step in union.transformer_list]


def compile_linear(estimator: Any) -> CompiledLinearModel | None:
    """The lean equivalent of a fitted ``tfidf-linear`` estimator, or None for any other shape."""
    if not (isinstance(estimator, Pipeline) and len(estimator.steps) == 2):
        return None
    features, classifier = estimator.steps[0][1], estimator.steps[1][1]
    if not isinstance(classifier, LogisticRegression):
        return None
    lexicon: Any = None
    vectorizers = _ngram_vectorizers(features)
    if vectorizers is None and isinstance(features, FeatureUnion) and not features.transformer_weights:
        names = [name for name, _ in features.transformer_list]
        if names == ["ngrams", "lexicon"]:
            vectorizers, lexicon = _ngram_vectorizers(features.transformer_list[0][1]), features.transformer_list[1][1]
    if vectorizers is None or (lexicon is not None and not isinstance(lexicon, VaderFeatures)):
        return None
    coef = np.asarray(classifier.coef_, dtype=np.float64).T
    blocks: list[_Block] = []
    start = 0
    for vectorizer in vectorizers:
        width = len(vectorizer.vocabulary_)
        block = _block(vectorizer, coef[start : start + width])
        if block is None:
            return None
        blocks.append(block)
        start += width
    lexicon_coef = coef[start:] if lexicon is not None else None
    if start + (6 if lexicon is not None else 0) != coef.shape[0]:
        return None
    return CompiledLinearModel(
        blocks,
        lexicon,
        lexicon_coef,
        np.asarray(classifier.intercept_, dtype=np.float64),
        np.asarray(classifier.classes_, dtype=np.int64),
    )
