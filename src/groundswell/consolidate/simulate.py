"""Synthetic crowds with a known truth, for tests, benchmarks and trying settings before a real job.

Real crowds break Dawid–Skene's assumptions in two ways that matter for confidence: workers differ a lot
in how much they work, and some items are hard for everyone, so mistakes are shared. The simulator has
both, so that methods which look calibrated only under the model's own assumptions are caught out.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from groundswell.consolidate.base import RandomState
from groundswell.errors import InvalidInputError

__all__ = ["SimulatedCrowd", "simulate_crowd"]

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class SimulatedCrowd:
    """A synthetic crowd.

    Attributes:
        answers: Judgments with columns ``task, worker, label``.
        truth: True label per task (Series indexed by task).
        accuracy: Each worker's accuracy on ordinary items (Series indexed by worker).
        hard: Whether each task is hard (Series indexed by task).
    """

    answers: pd.DataFrame
    truth: pd.Series[Any]
    accuracy: pd.Series[float]
    hard: pd.Series[bool]


def _distinct_workers(
    rng: np.random.Generator, n_tasks: int, per_task: int, weights: npt.NDArray[np.float64]
) -> IntArray:
    """``per_task`` distinct workers per task, each drawn in proportion to its weight."""
    cumulative = np.cumsum(weights / weights.sum())
    chosen = np.empty((n_tasks, per_task), dtype=np.intp)
    todo = np.arange(n_tasks)
    for _ in range(50):  # redraw only the rows that drew someone twice; rare unless workers are few
        draw = np.searchsorted(cumulative, rng.random((len(todo), per_task)) * cumulative[-1], side="right")
        chosen[todo] = np.minimum(draw, len(weights) - 1)
        ordered = np.sort(chosen[todo], axis=1)
        todo = todo[(ordered[:, 1:] == ordered[:, :-1]).any(axis=1)]
        if len(todo) == 0:
            return chosen
    keys = np.log(weights)[None, :] - np.log(-np.log(rng.random((len(todo), len(weights)))))
    chosen[todo] = np.argsort(-keys, axis=1)[:, :per_task]  # Gumbel top-k: exact, for the stubborn rest
    return chosen


def _sample_rows(rng: np.random.Generator, probs: npt.NDArray[np.float64]) -> IntArray:
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cumulative[:, -1:]
    return np.asarray(np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1), dtype=np.intp)


def simulate_crowd(
    n_tasks: int = 1_000,
    n_workers: int = 50,
    *,
    labels: Sequence[Hashable] = ("negative", "neutral", "positive"),
    judgments_per_task: int = 3,
    class_prior: Sequence[float] | None = None,
    accuracy: tuple[float, float] = (0.55, 0.95),
    spammer_share: float = 0.1,
    hard_share: float = 0.2,
    fooled: float = 0.5,
    activity_spread: float = 1.0,
    random_state: RandomState = 0,
) -> SimulatedCrowd:
    """Draw a crowd: true labels, workers with their own confusion matrices, and judgments.

    Each worker answers correctly with their accuracy (drawn uniformly from ``accuracy``) and otherwise
    picks a wrong label from a worker-specific distribution (so confusions are systematic, not uniform).
    Spammers answer uniformly at random. On hard tasks every worker is, with probability ``fooled``, drawn
    to the same wrong "decoy" label of that task. Workers are picked with weights ``exp(N(0, spread))``,
    so a few do much of the work, as on real platforms.

    Args:
        n_tasks: Number of tasks.
        n_workers: Number of workers.
        labels: The label set.
        judgments_per_task: Distinct workers per task (at most ``n_workers``).
        class_prior: Share of each true label; default ``[0.3, 0.45, 0.25]``-like for three labels,
            otherwise uniform.
        accuracy: Range of worker accuracies on ordinary tasks.
        spammer_share: Share of workers who answer at random.
        hard_share: Share of tasks that are hard.
        fooled: On a hard task, the chance that a worker gives the task's decoy label.
        activity_spread: Standard deviation of log worker activity; 0 spreads work evenly.
        random_state: Seed.

    Returns:
        The judgments, the truth, worker accuracies and which tasks are hard.
    """
    k = len(labels)
    if k < 2 or n_tasks < 1 or not 1 <= judgments_per_task <= n_workers:
        raise InvalidInputError("simulate_crowd needs at least 2 labels, 1 task and 1 ≤ judgments_per_task ≤ n_workers")
    rng = np.random.default_rng(random_state)
    if class_prior is None:
        prior = np.array([0.3, 0.45, 0.25]) if k == 3 else np.full(k, 1.0 / k)
    else:
        prior = np.asarray(class_prior, dtype=np.float64) / np.sum(class_prior)
    truth = rng.choice(k, size=n_tasks, p=prior)
    acc = rng.uniform(accuracy[0], accuracy[1], size=n_workers)
    spam = rng.random(n_workers) < spammer_share
    acc[spam] = 1.0 / k
    eye = np.eye(k)
    wrong = rng.gamma(1.0, size=(n_workers, k, k)) * (1.0 - eye)
    wrong /= wrong.sum(axis=2, keepdims=True)
    wrong[spam] = (1.0 - eye) / (k - 1)
    confusion = acc[:, None, None] * eye + (1.0 - acc)[:, None, None] * wrong

    hard = rng.random(n_tasks) < hard_share
    decoy = (truth + rng.integers(1, k, size=n_tasks)) % k
    workers = _distinct_workers(rng, n_tasks, judgments_per_task, np.exp(rng.normal(0, activity_spread, n_workers)))
    task = np.repeat(np.arange(n_tasks), judgments_per_task)
    worker = workers.ravel()
    probs = confusion[worker, truth[task]]
    is_fooled = hard[task] & (rng.random(len(task)) < fooled)
    probs[is_fooled] = eye[decoy[task[is_fooled]]]
    given = _sample_rows(rng, probs)

    label_index = pd.Index(list(labels), name="label")
    task_ids = pd.Index([f"t{i}" for i in range(n_tasks)], name="task")
    worker_ids = pd.Index([f"w{j}" for j in range(n_workers)], name="worker")
    answers = pd.DataFrame(
        {"task": task_ids[task], "worker": worker_ids[worker], "label": label_index[given]},
    )
    return SimulatedCrowd(
        answers=answers,
        truth=pd.Series(label_index[truth], index=task_ids, name="label"),
        accuracy=pd.Series(acc, index=worker_ids, name="accuracy"),
        hard=pd.Series(hard, index=task_ids, name="hard"),
    )
