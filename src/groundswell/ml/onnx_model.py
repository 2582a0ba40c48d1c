"""The fine-tuned transformer at prediction time: ONNX Runtime and the fast tokenizer, no torch.

Why ONNX: serving, batch prediction and the auto-label rounds run the transformer on CPUs, one tweet or a
million at a time. The exported graph (optionally with int8 weights) runs several times faster than PyTorch
eager mode there and needs only ``onnxruntime`` and ``tokenizers`` (tens of MB, not torch's hundreds).

Why a small scikit-learn-shaped class: everything that predicts (``Predictor``, ``groundswell predict``, the
rounds) already speaks ``classes_`` + ``predict_proba(texts)``, so the transformer plugs in without a second
code path. The object saved in ``model.skops`` holds only plain data (file names, their SHA-256 digests,
the class indices, the length limit); the graph and the tokenizer are files beside it. :meth:`bind_directory`,
which :func:`groundswell.ml.load_model` calls, checks each file against its digest before anything is loaded,
so an edited ``model.onnx`` or ``tokenizer.json`` is refused like an edited ``model.skops``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from groundswell.errors import InvalidInputError, MissingOptionalDependencyError
from groundswell.ml.normalize import normalize_tweet

__all__ = [
    "GRAPH_FILE",
    "TOKENIZER_FILE",
    "TRANSFORMER_INSTALL",
    "OnnxSentimentClassifier",
    "TamperedArtifactError",
    "file_digest",
    "load_tokenizer",
    "padded_batches",
    "require_onnx_runtime",
    "token_ids",
    "transformer_text",
]

TRANSFORMER_INSTALL = "pip install 'groundswell[transformer]'"
GRAPH_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
#: Texts per ONNX Runtime call: big enough to amortise the call, small enough that padding stays short
#: (texts are sorted by length first).
BATCH = 64


#: Attributes that live only in a process (the runtime session, the tokenizer, where they came from): never saved.
_LIVE = frozenset({"_session", "_tokenizer", "_folder", "_pid"})


def _threads_from_environment() -> int:
    """``OMP_NUM_THREADS`` when set (batch prediction's worker processes set 1 each); 0: ONNX Runtime's default,
    one thread per core."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


class TamperedArtifactError(InvalidInputError):
    """A file of a model directory does not match the digest its ``model.skops`` recorded."""


def require_onnx_runtime() -> tuple[Any, Any]:
    """The one guard of the prediction side: ``(onnxruntime, tokenizers.Tokenizer)`` or an error naming the
    install command."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingOptionalDependencyError(
            f"the transformer model needs ONNX Runtime and tokenizers: {TRANSFORMER_INSTALL}"
        ) from exc
    return onnxruntime, Tokenizer


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def transformer_text(text: str) -> str:
    """The text the transformer sees: the same normalisation as the n-gram models (links and mentions folded,
    emoticons named), so one tweet means the same to every model of the project."""
    return normalize_tweet(text)


def load_tokenizer(path: str | Path, max_length: int) -> Any:
    """The fast (Rust) tokenizer from a ``tokenizer.json``: no padding, truncation at ``max_length``. Training and
    prediction both tokenise through it, so the ids a model was trained on are the ids it is served."""
    _, tokenizer_class = require_onnx_runtime()
    tokenizer = tokenizer_class.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def token_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Each text's token ids (special tokens included), after :func:`transformer_text`."""
    return [list(e.ids) for e in tokenizer.encode_batch([transformer_text(t) for t in texts])]


def padded_batches(
    ids: Sequence[Sequence[int]], batch: int
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]]:
    """``(rows, input_ids, attention_mask)`` for batches of texts sorted by length, each padded with zeros to
    its longest text; ``rows`` are the texts' positions in ``ids``."""
    order = np.argsort([len(x) for x in ids], kind="stable")
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        width = max(1, max(len(ids[i]) for i in rows))
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, i in enumerate(rows):
            input_ids[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        yield rows, input_ids, mask


class OnnxSentimentClassifier:
    """``predict_proba(texts)`` from ``model.onnx`` + ``tokenizer.json`` in the model directory.

    Thread-safe after :meth:`bind_directory` (an ONNX Runtime session may be run from several threads).
    """

    def __init__(self, classes: Sequence[int], files: dict[str, str], max_length: int, threads: int = 0) -> None:
        self.classes_ = np.asarray(list(classes), dtype=np.int64)
        #: File name in the model directory → SHA-256 of its bytes.
        self.files = dict(files)
        self.max_length = int(max_length)
        #: ONNX Runtime intra-op threads; 0 lets it use every core.
        self.threads = int(threads)
        self._session: Any = None
        self._tokenizer: Any = None
        self._folder = Path()
        self._pid = 0

    # skops stores ``__dict__``: keep the live session and tokenizer out of the file.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _LIVE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({k: v for k, v in state.items() if k not in _LIVE})
        self._session = None
        self._tokenizer = None

    def bind_directory(self, directory: str | Path) -> None:
        """Check every recorded file against its digest, then open the graph and the tokenizer."""
        folder = Path(directory)
        for name, expected in sorted(self.files.items()):
            path = folder / name
            if Path(name).name != name:
                raise TamperedArtifactError(f"{folder}: the model names a file outside its folder: {name!r}")
            if not path.is_file():
                raise TamperedArtifactError(f"{path}: missing; the model directory is incomplete")
            if file_digest(path) != expected:
                raise TamperedArtifactError(f"{path}: its contents differ from what was saved; refusing to load it")
        self._open(folder)

    def _open(self, folder: Path) -> None:
        onnxruntime, _ = require_onnx_runtime()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        threads = self.threads or _threads_from_environment()
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            str(folder / GRAPH_FILE), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = load_tokenizer(folder / TOKENIZER_FILE, self.max_length)
        self._folder = folder
        self._pid = os.getpid()

    def logits(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Raw scores, one row per text."""
        if self._session is None:
            raise InvalidInputError("the transformer model was not loaded from its directory (load_model does this)")
        if self._pid != os.getpid():
            # A forked worker (batch prediction loads once, then forks): ONNX Runtime's thread pool does not
            # survive a fork, so the child opens its own session on the files already checked.
            self._open(self._folder)
        return self.logits_of_ids(token_ids(self._tokenizer, texts))

    def logits_of_ids(self, ids: Sequence[Sequence[int]]) -> NDArray[np.float32]:
        """Raw scores of tokenised texts, in batches of similar length so padding stays short."""
        out = np.zeros((len(ids), len(self.classes_)), dtype=np.float32)
        for chunk, input_ids, mask in padded_batches(ids, BATCH):
            out[chunk] = self._session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
        return out

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        scores = self.logits(list(texts)).astype(np.float64)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict(self, texts: Sequence[str]) -> NDArray[np.int64]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(texts), axis=1)], dtype=np.int64)
