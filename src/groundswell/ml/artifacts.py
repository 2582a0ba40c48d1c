"""Model artifacts: ``model.skops`` (the fitted estimator) beside ``model-card.json`` (what it is and how good).

Why skops and an allow-list: a pickle runs arbitrary code when it is loaded, and model directories travel
(S3, shared drives, a colleague's laptop). skops stores the object tree as data and, on load, refuses any
type that is not explicitly trusted. We pass our own explicit allow-list, :data:`TRUSTED_TYPES`, rather than
"trust whatever is in the file": an artifact edited to smuggle in another type (``os.system``, a custom
class) is refused with :class:`UntrustedArtifactError` before anything is built.

The card is plain JSON so people, the store and the serving layer can read it without loading the model.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sklearn.ensemble import VotingClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from groundswell.errors import InvalidInputError, NotFoundError
from groundswell.ml.calibration import card_temperature
from groundswell.ml.ensemble import ProbabilityAverage

__all__ = [
    "CARD_FILE",
    "MODEL_FILE",
    "TRUSTED_TYPES",
    "LoadedModel",
    "ModelCard",
    "UntrustedArtifactError",
    "load_model",
    "package_versions",
    "read_card",
    "save_model",
    "training_data_hash",
]

MODEL_FILE = "model.skops"
#: What ``model.skops`` holds: ``{"format": ARTIFACT_FORMAT, "estimator": ..., "vocabularies": [str, ...]}``.
ARTIFACT_FORMAT = "groundswell-model/1"
CARD_FILE = "model-card.json"
CARD_VERSION = 1

#: The types a Groundswell model may contain beyond the scikit-learn, NumPy and SciPy types that skops itself
#: trusts. Anything else in a ``model.skops`` file makes loading fail.
TRUSTED_TYPES: tuple[str, ...] = (
    "groundswell.ml.embed.SentenceEmbedder",
    "groundswell.ml.lexicon.VaderFeatures",
    "groundswell.ml.normalize.TweetNormalizer",
    # The transformer: plain data (file digests, class indices); its graph and tokenizer are files beside it.
    "groundswell.ml.onnx_model.OnnxSentimentClassifier",
    # The transformer averaged with tfidf-linear: its members and their weights.
    "groundswell.ml.ensemble.ProbabilityAverage",
    # VotingClassifier.named_estimators_ (embeddings-linear): a plain dict subclass.
    "sklearn.utils._bunch.Bunch",
)


class UntrustedArtifactError(InvalidInputError):
    """A model file contains a type outside the allow-list (tampered, or not written by Groundswell)."""


@dataclass(frozen=True)
class ModelCard:
    """What a model is, what it was trained on, and how well it did on held-out data."""

    model_type: str
    #: Label names in class-index order: ``labels[i]`` is class ``i`` in every prediction.
    labels: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data_hash: str = ""
    training_size: int = 0
    validation_size: int = 0
    training_seconds: float = 0.0
    #: The attribute name predictions are written under in an output manifest (Ground Truth's LabelAttributeName).
    label_attribute_name: str = "sentiment"
    #: The ``job-name`` predictions carry, Ground Truth style (``labeling-job/<name>``).
    job_name: str = "groundswell-model"
    params: dict[str, Any] = field(default_factory=dict)
    package_versions: dict[str, str] = field(default_factory=dict)
    source: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None).isoformat())
    card_version: int = CARD_VERSION

    @property
    def temperature(self) -> float:
        """The temperature every probability of this model is scaled by (1.0 for a card without one)."""
        return card_temperature(self.params)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class LoadedModel:
    """A fitted estimator with its card, as returned by :func:`load_model`."""

    estimator: Any
    card: ModelCard
    directory: Path


def package_versions() -> dict[str, str]:
    """Versions that decide whether an artifact loads and predicts the same elsewhere."""
    versions = {"python": platform.python_version()}
    names = ("groundswell", "scikit-learn", "skops", "numpy", "scipy", "vaderSentiment", "sentence-transformers")
    for name in (*names, "onnxruntime", "tokenizers", "torch", "transformers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def training_data_hash(
    texts: Iterable[str], labels: Iterable[int | str], weights: Iterable[float] | None = None
) -> str:
    """SHA-256 over the (text, label[, weight]) pairs in order: the same data always gives the same hash."""
    digest = hashlib.sha256()
    weight_iter = iter(weights) if weights is not None else None
    for text, label in zip(texts, labels, strict=True):
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
        digest.update(str(label).encode("utf-8"))
        if weight_iter is not None:
            digest.update(f"\x00{next(weight_iter):.6g}".encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def _skops_io() -> Any:
    # Imported on first use: skops pulls in torch when torch is installed, seconds of start-up for every command.
    import skops.io

    return skops.io


def _vectorizers(estimator: Any) -> list[Any]:
    """Every n-gram vectoriser in a fitted estimator tree, depth first, each once (same order after loading)."""
    found: list[Any] = []
    seen: set[int] = set()

    def walk(node: Any) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, CountVectorizer):
            found.append(node)
        elif isinstance(node, Pipeline):
            for _, step in node.steps:
                walk(step)
        elif isinstance(node, FeatureUnion):
            for _, part in node.transformer_list:
                walk(part)
        elif isinstance(node, VotingClassifier):
            for member in getattr(node, "estimators_", []):
                walk(member)
        elif isinstance(node, ProbabilityAverage):
            for member in node.members:
                walk(member)

    walk(estimator)
    return found


def _pack_vocabularies(vectorizers: list[Any]) -> tuple[list[str], list[dict[str, int]]]:
    """Detach each vocabulary as one NUL-joined string of its terms in column order.

    Why: skops stores a dict as one node per key and value, so a 400k-term vocabulary takes ~20 s to load;
    one string loads in milliseconds and is still plain data (no code), so the allow-list is unaffected.
    """
    packed: list[str] = []
    kept: list[dict[str, int]] = []
    for vectorizer in vectorizers:
        vocabulary: dict[str, int] = vectorizer.vocabulary_
        terms = sorted(vocabulary, key=vocabulary.__getitem__)
        if any("\x00" in term for term in terms) or [vocabulary[t] for t in terms] != list(range(len(terms))):
            raise InvalidInputError("cannot pack a vocabulary with NUL characters or gaps in its column indices")
        packed.append("\x00".join(terms))
        kept.append(vocabulary)
    for vectorizer in vectorizers:
        del vectorizer.vocabulary_
    return packed, kept


def _unpack(stored: Any) -> Any:
    """The estimator from a stored ``{"format", "estimator", "vocabularies"}`` dict, vocabularies reattached."""
    if not (isinstance(stored, dict) and stored.get("format") == ARTIFACT_FORMAT):
        raise InvalidInputError(f"not a Groundswell model file (expected format {ARTIFACT_FORMAT!r})")
    estimator = stored["estimator"]
    vectorizers = _vectorizers(estimator)
    packed = stored["vocabularies"]
    if not isinstance(packed, list) or len(vectorizers) != len(packed):
        raise InvalidInputError("the model file's vocabularies do not match its vectorisers")
    for vectorizer, joined in zip(vectorizers, packed, strict=True):
        terms = joined.split("\x00") if joined else []
        vectorizer.vocabulary_ = dict(zip(terms, range(len(terms)), strict=True))
    return estimator


def save_model(directory: str | Path, estimator: Any, card: ModelCard) -> Path:
    """Write ``model.skops`` and ``model-card.json`` into ``directory`` (created if missing); returns it."""
    sio = _skops_io()
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (MODEL_FILE + ".tmp")
    vectorizers = _vectorizers(estimator)
    packed, kept = _pack_vocabularies(vectorizers)
    try:
        sio.dump({"format": ARTIFACT_FORMAT, "estimator": estimator, "vocabularies": packed}, tmp, compression=8)
    finally:
        for vectorizer, vocabulary in zip(vectorizers, kept, strict=True):
            vectorizer.vocabulary_ = vocabulary
    untrusted = sorted(set(sio.get_untrusted_types(file=tmp)) - set(TRUSTED_TYPES))
    if untrusted:
        tmp.unlink()
        # A model we could not load back is worse than no model: fail at save time, naming the type.
        raise UntrustedArtifactError(
            f"the model contains types outside groundswell's allow-list and would not load: {', '.join(untrusted)}"
        )
    tmp.replace(folder / MODEL_FILE)
    (folder / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
    return folder


def read_card(directory: str | Path) -> ModelCard:
    """The card alone (cheap: does not load the estimator)."""
    path = Path(directory) / CARD_FILE
    if not path.exists():
        raise NotFoundError(f"{directory}: not a model directory (no {CARD_FILE}); train one with `groundswell train`")
    try:
        return ModelCard.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{path}: unreadable model card: {exc}") from exc


def load_model(directory: str | Path, *, extra_trusted: Sequence[str] = ()) -> LoadedModel:
    """Load an artifact written by :func:`save_model`, refusing any type outside the allow-list."""
    folder = Path(directory)
    card = read_card(folder)
    path = folder / MODEL_FILE
    if not path.exists():
        raise NotFoundError(f"{folder}: no {MODEL_FILE} beside the model card")
    data = path.read_bytes()
    sio = _skops_io()
    allowed = set(TRUSTED_TYPES) | set(extra_trusted)
    try:
        found = set(sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise InvalidInputError(f"{path}: not a readable skops file: {exc}") from exc
    refused = sorted(found - allowed)
    if refused:
        raise UntrustedArtifactError(f"{path}: refusing to load untrusted type(s): {', '.join(refused)}")
    try:
        estimator = _unpack(sio.loads(data, trusted=sorted(found)))
    except Exception as exc:
        raise InvalidInputError(f"{path}: could not load the model: {exc}") from exc
    _bind_files(estimator, folder)
    return LoadedModel(estimator=estimator, card=card, directory=folder)


def _bind_files(estimator: Any, folder: Path) -> None:
    """Hand every part that keeps files beside ``model.skops`` (the transformer's ONNX graph and tokenizer) its
    folder; each part checks its files' digests before it opens them."""
    bind = getattr(estimator, "bind_directory", None)
    if callable(bind):
        bind(folder)
