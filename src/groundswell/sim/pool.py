"""Simulated annotators: each one a confusion matrix over the job's labels, read from a pool JSON file.

Two shapes of pool file::

    {"labels": ["negative", "neutral", "positive"],
     "workers": [{"id": "w1", "confusion": [[0.8, 0.2, 0.0], ...], "weight": 1.0}, ...]}

    {"labels": [...], "n_workers": 50, "accuracy_mean": 0.75, "accuracy_sd": 0.1, "spammer_share": 0.1,
     "neighbour_share": 0.8, "seed": 0}

Rows of a confusion matrix are the true label, columns the given label. In a parametric pool each worker's
accuracy is drawn from a normal distribution (clipped to [1/k + 0.05, 0.99]); a wrong answer falls on a
*neighbouring* sentiment with probability ``neighbour_share`` (negative ↔ neutral ↔ positive: people
confuse "neutral" with a mild opinion far more often than "negative" with "positive"). Spammers answer
uniformly at random. ``weight`` is how often a worker shows up relative to the others.

A parametric pool may add a *systematic confusion*: a mistake some of the workers make the same way every
time rather than by chance (say, sarcasm taken at face value)::

    {..., "systematic": {"share": 0.33, "from": "negative", "to": "positive", "rate": 0.3}}

``share`` of the workers (rounded to a whole number of workers, chosen at random with the pool's seed) answer
``to`` for a share ``rate`` of the items whose true label is ``from``, on top of their normal errors: their
``from`` row becomes ``(1 - rate) · normal row + rate · [to]``, so the cell (``from``, ``to``) holds
``rate + (1 - rate) · normal cell`` and the row still sums to 1. The other workers, and every other row, are
exactly what the same pool without ``systematic`` draws. ``share`` and ``rate`` lie in [0, 1]; ``from`` and
``to`` are two different labels of the pool; explicit pools (``workers``) take no ``systematic`` key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from groundswell.errors import InvalidInputError, UsageError

__all__ = [
    "SENTIMENT_ORDER",
    "Pool",
    "SimWorker",
    "SystematicConfusion",
    "load_pool",
    "parametric_pool",
    "parse_pool",
    "parse_systematic",
]

#: Ordinal positions used to find a label's neighbours; other labels follow in the order given.
SENTIMENT_ORDER = {"negative": 0, "neutral": 1, "positive": 2}


@dataclass(frozen=True)
class SimWorker:
    """One simulated annotator."""

    id: str
    confusion: NDArray[np.float64]
    weight: float = 1.0


@dataclass(frozen=True)
class Pool:
    """Labels (in the pool file's order) and the workers answering over them."""

    labels: list[str]
    workers: list[SimWorker]

    def answer(self, worker: int, true_label: str, rng: np.random.Generator) -> str:
        """The label worker number ``worker`` gives to an item whose true label is ``true_label``."""
        row = self.workers[worker].confusion[self.labels.index(true_label)]
        return self.labels[int(rng.choice(len(self.labels), p=row))]

    def weights(self) -> NDArray[np.float64]:
        w = np.array([worker.weight for worker in self.workers], dtype=np.float64)
        return np.asarray(w / w.sum(), dtype=np.float64)


@dataclass(frozen=True)
class SystematicConfusion:
    """``share`` of a pool's workers answer ``target`` for a share ``rate`` of the items truly ``source``."""

    share: float
    source: str
    target: str
    rate: float


_SYSTEMATIC_KEYS = ("share", "from", "to", "rate")


def parse_systematic(value: object, labels: Sequence[str], *, source: str = "pool") -> SystematicConfusion:
    """The ``systematic`` key of a pool document; ``InvalidInputError`` names the key that is wrong."""
    where = f"{source}: systematic"
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{where}: must be an object with keys {', '.join(_SYSTEMATIC_KEYS)}")
    unknown = sorted(str(key) for key in value if key not in _SYSTEMATIC_KEYS)
    if unknown:
        raise InvalidInputError(f"{where}: unknown key(s) {', '.join(unknown)} (give {', '.join(_SYSTEMATIC_KEYS)})")
    missing = [key for key in _SYSTEMATIC_KEYS if key not in value]
    if missing:
        raise InvalidInputError(f"{where}: missing key(s) {', '.join(missing)}")
    numbers = {}
    for key in ("share", "rate"):
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, int | float) or not 0 <= number <= 1:
            raise InvalidInputError(f"{where}.{key} must be a number in [0, 1], got {number!r}")
        numbers[key] = float(number)
    for key in ("from", "to"):
        if value[key] not in labels:
            raise InvalidInputError(
                f"{where}.{key} must be one of the pool's labels {list(labels)}, got {value[key]!r}"
            )
    if value["from"] == value["to"]:
        raise InvalidInputError(f"{where}: 'from' and 'to' must be different labels, both are {value['from']!r}")
    return SystematicConfusion(
        share=numbers["share"], source=str(value["from"]), target=str(value["to"]), rate=numbers["rate"]
    )


def _ordinal(labels: Sequence[str]) -> list[int]:
    known = [SENTIMENT_ORDER.get(label.lower()) for label in labels]
    if all(k is not None for k in known) or not any(k is not None for k in known):
        return [k if k is not None else i for i, k in enumerate(known)]
    return list(range(len(labels)))


def parametric_pool(
    labels: Sequence[str],
    n_workers: int,
    *,
    accuracy_mean: float = 0.75,
    accuracy_sd: float = 0.1,
    spammer_share: float = 0.0,
    neighbour_share: float = 0.8,
    random_state: int = 0,
    systematic: SystematicConfusion | Mapping[str, Any] | None = None,
) -> Pool:
    """A pool drawn from a few numbers, optionally with a systematic confusion (module docstring)."""
    k = len(labels)
    if k < 2 or n_workers < 1:
        raise InvalidInputError("a pool needs at least 2 labels and 1 worker")
    if not 0 <= spammer_share <= 1 or not 0 <= neighbour_share <= 1 or accuracy_sd < 0:
        raise InvalidInputError("spammer_share and neighbour_share must be in [0, 1], accuracy_sd ≥ 0")
    if isinstance(systematic, SystematicConfusion):  # checked like the pool file's key
        as_document = {"share": systematic.share, "from": systematic.source, "to": systematic.target}
        systematic = parse_systematic(as_document | {"rate": systematic.rate}, labels)
    elif systematic is not None:
        systematic = parse_systematic(systematic, labels)
    rng = np.random.default_rng(random_state)
    ordinal = np.array(_ordinal(labels))
    distance = np.abs(ordinal[:, None] - ordinal[None, :])
    near = distance == 1
    far = distance > 1
    errors = np.zeros((k, k))
    for t in range(k):
        share_near = neighbour_share if far[t].any() else 1.0
        if near[t].any():
            errors[t, near[t]] = share_near / near[t].sum()
        if far[t].any():
            errors[t, far[t]] = (1 - share_near) / far[t].sum() if near[t].any() else 1.0 / far[t].sum()
    workers = []
    for j in range(n_workers):
        if rng.random() < spammer_share:
            confusion = np.full((k, k), 1.0 / k)
        else:
            accuracy = float(np.clip(rng.normal(accuracy_mean, accuracy_sd), 1.0 / k + 0.05, 0.99))
            confusion = accuracy * np.eye(k) + (1 - accuracy) * errors
        workers.append(SimWorker(id=f"w{j + 1}", confusion=confusion))
    if systematic is not None:
        # A separate stream, so that the workers' own draws match the same pool without the confusion.
        count = int(systematic.share * n_workers + 0.5)
        chosen = np.random.default_rng([random_state, 1]).permutation(n_workers)[:count]
        row, column = list(labels).index(systematic.source), list(labels).index(systematic.target)
        for j in chosen:
            confusion = workers[j].confusion.copy()
            confusion[row] *= 1 - systematic.rate
            confusion[row, column] += systematic.rate
            workers[j] = SimWorker(id=workers[j].id, confusion=confusion)
    return Pool(labels=list(labels), workers=workers)


def parse_pool(document: Mapping[str, Any], *, source: str = "pool") -> Pool:
    """A pool from its JSON document; ``InvalidInputError`` says what is wrong and where."""
    labels = document.get("labels")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise InvalidInputError(f"{source}: 'labels' must be a list of at least two label names")
    if "workers" in document:
        workers = []
        for i, entry in enumerate(document["workers"]):
            where = f"{source}: workers[{i}]"
            try:
                matrix = np.asarray(entry["confusion"], dtype=np.float64)
                weight = float(entry.get("weight", 1.0))
                worker_id = str(entry.get("id", f"w{i + 1}"))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInputError(f"{where}: needs 'confusion' (a {len(labels)}×{len(labels)} matrix)") from exc
            if matrix.shape != (len(labels), len(labels)) or (matrix < 0).any():
                raise InvalidInputError(f"{where}: confusion must be a non-negative {len(labels)}×{len(labels)} matrix")
            if not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-6) or weight <= 0:
                raise InvalidInputError(f"{where}: every confusion row must sum to 1 and weight must be positive")
            workers.append(SimWorker(id=worker_id, confusion=matrix, weight=weight))
        if not workers:
            raise InvalidInputError(f"{source}: 'workers' is empty")
        if "systematic" in document:
            raise InvalidInputError(
                f"{source}: 'systematic' applies to parametric pools ('n_workers'); write the confusion into the "
                "workers' matrices instead"
            )
        return Pool(labels=list(labels), workers=workers)
    systematic = parse_systematic(document["systematic"], labels, source=source) if "systematic" in document else None
    try:
        return parametric_pool(
            labels,
            int(document["n_workers"]),
            accuracy_mean=float(document.get("accuracy_mean", 0.75)),
            accuracy_sd=float(document.get("accuracy_sd", 0.1)),
            spammer_share=float(document.get("spammer_share", 0.0)),
            neighbour_share=float(document.get("neighbour_share", 0.8)),
            random_state=int(document.get("seed", 0)),
            systematic=systematic,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{source}: give either 'workers' (explicit confusion matrices) or 'n_workers' with "
            "'accuracy_mean', 'accuracy_sd', 'spammer_share'"
        ) from exc


def load_pool(path: str | Path) -> Pool:
    """Read a pool JSON file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:  # a missing file is a usage error (exit 2), as everywhere in the CLI
        raise UsageError(f"{path}: no such pool file") from exc
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read the pool file: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(document, dict):
        raise InvalidInputError(f"{path}: a pool file holds one JSON object")
    return parse_pool(document, source=str(path))
