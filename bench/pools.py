"""Simulated annotator pools for the multi-pool economics benchmark (``bench/economics.py --pools``).

Every pool answers over TweetEval's three sentiment classes (negative, neutral, positive) and is a pool JSON
document as ``groundswell.sim.parse_pool`` reads it (``POOLS``: name → document; one function per pool).

Parametric pools (50 workers, accuracy drawn with s.d. 0.1, wrong answers on the neighbouring sentiment 80 %
of the time, seed 0; the benchmark sets the seed to its ``--seed``):

* ``acc65``, ``acc75``, ``acc85``: mean accuracy 0.65, 0.75, 0.85, no spammers;
* ``spammers20``: mean accuracy 0.75 and 20 % spammers (uniformly random answers);
* ``sarcasm``: mean accuracy 0.75, and a third of the workers read sarcasm as praise: for them 30 % of the
  truly negative tweets are answered "positive" on top of their normal errors (the pool's ``systematic`` key).

Pools of real workers (explicit confusion matrices), estimated on the crowd sets with gold under
``$GROUNDSWELL_SHARED_DATA/crowd/dev`` (default ``<repo>/../shared/data``; each folder ``answers.csv``
``task,worker,label`` and ``gold.csv`` ``task,label``):

* ``crowd-binary``: rte + zencrowd_all + product (2 classes each);
* ``crowd-multiclass``: dog (4 dog breeds, nominal) + web (5 relevance grades, ordinal);
* ``crowd-graded``: relevance (4 grades) + adult_content (4 levels), both ordinal and hard (weak workers,
  a majority that is often wrong).

How a real worker becomes a 3-class worker:

1. Only workers with at least ``MIN_GOLD`` (20) answers on gold items are kept. Their k×k confusion matrix
   (rows the gold class) is counted on gold items and smoothed: each row gets ``SMOOTHING`` (2) pseudo-answers
   spread like the worker's overall accuracy ``(correct + 1) / (gold answers + 2)`` on the diagonal and the
   rest evenly off it, so a class the worker rarely saw falls back on their overall accuracy.
2. The source classes are folded onto three sentiment groups in their published order: the middle class(es)
   (index within 1 of the middle, (k − 1) / 2) are neutral, those below negative and those above positive
   (4 classes: 0 | 1 2 | 3; 5 classes: 0 1 | 2 | 3 4). Two-class sets map 0 → negative and 1 → positive,
   and neutral has no source class.
3. *Ordinal* sets (graded labels: web, relevance, adult_content) fold the matrix itself: a group's row is the
   gold-prevalence-weighted mean of its classes' rows with the columns of each group summed, so answering a
   neighbouring grade within the same group counts as right, as it would with the coarser question.
   *Nominal* sets (classes without an order: the 2-class sets, dog breeds) keep only the worker's accuracy
   per group (the prevalence-weighted mean of the per-class accuracies: confusing two breeds folded into one
   group stays an error) and spread the errors like the parametric pools: 80 % on the neighbouring sentiment,
   20 % on the opposite one, neutral's errors half on each side. Neutral without a source class (2-class
   sets) gets the mean of the worker's per-group accuracies.
4. A worker's weight (how often they answer) is their share of their set's answers among the kept workers;
   each set of a pool weighs the same in total, so a large set does not drown the others.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from groundswell.sim.pool import parse_pool

LABELS = ["negative", "neutral", "positive"]
SHARED_DATA = Path(os.environ.get("GROUNDSWELL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CROWD = SHARED_DATA / "crowd" / "dev"
OUT = Path(__file__).resolve().parent / "pools"
MIN_GOLD = 20
SMOOTHING = 2.0
NEIGHBOUR_SHARE = 0.8
#: Where a wrong answer falls, per true sentiment (rows) — the parametric pools' template.
ERRORS = np.array(
    [
        [0.0, NEIGHBOUR_SHARE, 1 - NEIGHBOUR_SHARE],
        [0.5, 0.0, 0.5],
        [1 - NEIGHBOUR_SHARE, NEIGHBOUR_SHARE, 0.0],
    ]
)
#: Crowd sets with graded (ordered) labels; the others are nominal.
ORDINAL = frozenset({"web", "relevance", "adult_content"})


# --- parametric pools -------------------------------------------------------------------------------------


def parametric(accuracy_mean: float, **extra: Any) -> dict[str, Any]:
    return {
        "labels": LABELS,
        "n_workers": 50,
        "accuracy_mean": accuracy_mean,
        "accuracy_sd": 0.1,
        "spammer_share": 0.0,
        "neighbour_share": NEIGHBOUR_SHARE,
        "seed": 0,
    } | extra


def acc65() -> dict[str, Any]:
    return parametric(0.65)


def acc75() -> dict[str, Any]:
    return parametric(0.75)


def acc85() -> dict[str, Any]:
    return parametric(0.85)


def spammers20() -> dict[str, Any]:
    return parametric(0.75, spammer_share=0.2)


def sarcasm() -> dict[str, Any]:
    return parametric(0.75, systematic={"share": 0.33, "from": "negative", "to": "positive", "rate": 0.3})


# --- pools of real workers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrowdWorker:
    """One kept worker of a crowd set: smoothed k×k confusion on gold, gold answers, all answers."""

    id: str
    confusion: NDArray[np.float64]
    gold_answers: int
    answers: int


def read_set(name: str, crowd: Path = CROWD) -> tuple[list[int], NDArray[np.float64], list[CrowdWorker]]:
    """The set's classes, their prevalence among gold items, and its workers with enough gold answers."""
    folder = crowd / name
    if not (folder / "answers.csv").exists():
        raise SystemExit(f"{folder}: no answers.csv (set GROUNDSWELL_SHARED_DATA to the shared data folder)")
    with (folder / "gold.csv").open(encoding="utf-8", newline="") as handle:
        gold = {int(row["task"]): int(row["label"]) for row in csv.DictReader(handle)}
    counts: dict[int, Counter[tuple[int, int]]] = {}
    answers: Counter[int] = Counter()
    classes = set(gold.values())
    with (folder / "answers.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            worker, task, label = int(row["worker"]), int(row["task"]), int(row["label"])
            classes.add(label)
            answers[worker] += 1
            if task in gold:
                counts.setdefault(worker, Counter())[gold[task], label] += 1
    ordered = sorted(classes)
    index = {c: i for i, c in enumerate(ordered)}
    k = len(ordered)
    prevalence = np.bincount([index[c] for c in gold.values()], minlength=k).astype(np.float64)
    prevalence /= prevalence.sum()
    workers = []
    for worker, pairs in sorted(counts.items()):
        n = sum(pairs.values())
        if n < MIN_GOLD:
            continue
        matrix = np.zeros((k, k))
        for (truth, given), count in pairs.items():
            matrix[index[truth], index[given]] += count
        overall = (np.trace(matrix) + 1) / (n + 2)
        prior = np.full((k, k), (1 - overall) / (k - 1))
        np.fill_diagonal(prior, overall)
        smoothed = (matrix + SMOOTHING * prior) / (matrix.sum(axis=1, keepdims=True) + SMOOTHING)
        workers.append(CrowdWorker(id=f"{name}-{worker}", confusion=smoothed, gold_answers=n, answers=answers[worker]))
    return ordered, prevalence, workers


def groups(k: int) -> list[int]:
    """Sentiment group (0 negative, 1 neutral, 2 positive) of each of k classes in their published order."""
    if k == 2:
        return [0, 2]
    middle = (k - 1) / 2
    return [1 if abs(i - middle) < 1 else (0 if i < middle else 2) for i in range(k)]


def fold(confusion: NDArray[np.float64], prevalence: NDArray[np.float64], *, ordinal: bool) -> NDArray[np.float64]:
    """A worker's k×k confusion as a 3×3 sentiment confusion (module docstring, steps 2–3)."""
    k = len(prevalence)
    group = np.array(groups(k))
    members = np.zeros((k, 3))
    members[np.arange(k), group] = 1.0  # class → group indicator
    folded = np.zeros((3, 3))
    accuracy = np.full(3, np.nan)
    for g in range(3):
        inside = group == g
        if not inside.any():
            continue
        w = prevalence[inside] / prevalence[inside].sum() if prevalence[inside].sum() > 0 else None
        if ordinal:
            folded[g] = np.average(confusion[inside] @ members, axis=0, weights=w)
        else:
            accuracy[g] = np.average(np.diag(confusion)[inside], weights=w)
    if ordinal:
        return folded
    known = ~np.isnan(accuracy)
    accuracy[~known] = accuracy[known].mean()
    return np.asarray(accuracy[:, None] * np.eye(3) + (1 - accuracy[:, None]) * ERRORS, dtype=np.float64)


def crowd_pool(names: Sequence[str], crowd: Path = CROWD) -> dict[str, Any]:
    """An explicit pool of the real workers of the crowd sets ``names`` (module docstring)."""
    workers: list[dict[str, Any]] = []
    for name in names:
        _, prevalence, kept = read_set(name, crowd)
        total = sum(w.answers for w in kept)
        for w in kept:
            matrix = np.round(fold(w.confusion, prevalence, ordinal=name in ORDINAL), 6)
            np.fill_diagonal(matrix, 0.0)
            np.fill_diagonal(matrix, np.round(1.0 - matrix.sum(axis=1), 6))  # rows sum to 1 after rounding
            weight = round(w.answers / total / len(names), 8)
            workers.append({"id": w.id, "confusion": matrix.tolist(), "weight": weight})
    return {
        "description": (
            f"real workers of {' + '.join(names)} (bench/pools.py: ≥ {MIN_GOLD} gold answers, folded onto 3 classes)"
        ),
        "labels": LABELS,
        "workers": workers,
    }


def crowd_binary(crowd: Path = CROWD) -> dict[str, Any]:
    return crowd_pool(["rte", "zencrowd_all", "product"], crowd)


def crowd_multiclass(crowd: Path = CROWD) -> dict[str, Any]:
    return crowd_pool(["dog", "web"], crowd)


def crowd_graded(crowd: Path = CROWD) -> dict[str, Any]:
    return crowd_pool(["relevance", "adult_content"], crowd)


# --- the catalogue ----------------------------------------------------------------------------------------

MAKERS: dict[str, Callable[[], dict[str, Any]]] = {
    "acc65": acc65,
    "acc75": acc75,
    "acc85": acc85,
    "spammers20": spammers20,
    "sarcasm": sarcasm,
    "crowd-binary": crowd_binary,
    "crowd-multiclass": crowd_multiclass,
    "crowd-graded": crowd_graded,
}


class _Pools(Mapping[str, dict[str, Any]]):
    """Name → pool document, built on first use (the crowd pools read the shared data)."""

    def __init__(self, makers: Mapping[str, Callable[[], dict[str, Any]]]) -> None:
        self._makers = makers
        self._built: dict[str, dict[str, Any]] = {}

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in self._built:
            self._built[name] = self._makers[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


POOLS: Mapping[str, dict[str, Any]] = _Pools(MAKERS)


def summary(document: Mapping[str, Any]) -> tuple[int, NDArray[np.float64]]:
    """Number of workers and the answer-weighted mean accuracy per class (of the pool as drawn)."""
    pool = parse_pool(document)
    diagonals = np.array([np.diag(w.confusion) for w in pool.workers])
    return len(pool.workers), np.asarray(pool.weights() @ diagonals, dtype=np.float64)


def to_json(document: Mapping[str, Any]) -> str:
    """The pool file's text: one key a line, one worker a line."""
    lines = []
    for key, value in document.items():
        if key == "workers":
            rows = ",\n".join(f"  {json.dumps(worker, ensure_ascii=False)}" for worker in value)
            lines.append(f' "workers": [\n{rows}\n ]')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the benchmark's pool files and summarise each pool.")
    parser.add_argument("--out", type=Path, default=OUT, help="Folder for the <name>.json pool files.")
    parser.add_argument("names", nargs="*", help="Pools to write (default all).")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("| pool | workers | negative | neutral | positive | mean |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in args.names or list(POOLS):
        document = POOLS[name]
        (args.out / f"{name}.json").write_text(to_json(document), encoding="utf-8")
        n, accuracy = summary(document)
        cells = " | ".join(f"{a:.3f}" for a in accuracy)
        print(f"| {name} | {n} | {cells} | {accuracy.mean():.3f} |")


if __name__ == "__main__":
    main()
