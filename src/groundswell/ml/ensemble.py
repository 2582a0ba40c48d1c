"""A weighted average of fitted models' probabilities: the transformer beside ``tfidf-linear``.

Why: the two models err on different tweets (the n-grams catch rare words and hashtags the encoder's
vocabulary splits, the encoder reads context the n-grams cannot), so averaging their probabilities can beat
either. The trainer measures it: it picks the weight on the validation split and keeps the average only when
it beats the transformer alone there (``groundswell.train``).

Plain data for skops: the members and the weights. The members keep their own files and checks; loading
hands each its folder (:meth:`bind_directory`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from groundswell.errors import InvalidInputError

__all__ = ["ProbabilityAverage"]


class ProbabilityAverage:
    """``Σ weight_i · member_i.predict_proba(texts)``, members with the same ``classes_``."""

    def __init__(self, members: Sequence[Any], weights: Sequence[float]) -> None:
        if len(members) != len(weights) or not members:
            raise InvalidInputError("an average needs one weight per member, and at least one member")
        total = float(sum(weights))
        if total <= 0 or any(w < 0 for w in weights):
            raise InvalidInputError(f"weights must be non-negative with a positive sum, got {list(weights)}")
        self.members = list(members)
        self.weights = [float(w) / total for w in weights]
        self.classes_ = np.asarray(members[0].classes_)
        if any(not np.array_equal(np.asarray(m.classes_), self.classes_) for m in self.members):
            raise InvalidInputError("every member of an average must predict the same classes")

    # skops stores ``__dict__``: the compiled members are rebuilt in each process, never saved.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_runners"}

    def bind_directory(self, directory: str | Path) -> None:
        for member in self.members:
            bind = getattr(member, "bind_directory", None)
            if callable(bind):
                bind(directory)

    def _members(self) -> list[Any]:
        """Each member, or its lean compiled form (``tfidf-linear``: same probabilities, less per-call cost)."""
        runners = self.__dict__.get("_runners")
        if runners is None:
            from groundswell.ml.fast import compile_linear

            runners = [compile_linear(m) or m for m in self.members]
            self.__dict__["_runners"] = runners
        return list(runners)

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        batch = list(texts)
        out = np.zeros((len(batch), len(self.classes_)))
        for member, weight in zip(self._members(), self.weights, strict=True):
            if weight:
                out += weight * np.asarray(member.predict_proba(batch), dtype=np.float64)
        return out

    def predict(self, texts: Sequence[str]) -> NDArray[np.int64]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(texts), axis=1)], dtype=np.int64)
