"""Batch prediction on a Ray cluster (``groundswell predict --engine ray``, extra ``groundswell[ray]``).

Why this shape: only the linear algebra moves to Ray. The driver reads the input and writes the output through
the same code as the local engine (local files or ``s3://``), so both engines produce the same bytes. The
model's files travel as bytes through Ray's object store, so the cluster's machines need ``groundswell``
installed but not the model folder; each actor loads the model once and predicts chunks. Chunks are sent to the
actors in turn with a bounded number in flight, and results are taken in submission order, so input order is
kept and memory stays flat on huge inputs.

Ray is imported in one place, :func:`require_ray`, which raises ``MissingOptionalDependencyError`` naming the
install command when the extra is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from groundswell.errors import MissingOptionalDependencyError
from groundswell.ml import CARD_FILE, MODEL_FILE
from groundswell.serve.predictor import Predictor, freeze_heap, top_class

__all__ = ["RAY_INSTALL", "ray_available", "ray_chunk_results", "require_ray"]

RAY_INSTALL = "pip install 'groundswell[ray]'"

T = TypeVar("T")


def require_ray() -> Any:
    """The one guard: import Ray (usage statistics off), or raise ``MissingOptionalDependencyError`` naming the
    install command. Returns the ``ray`` module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as exc:
        raise MissingOptionalDependencyError(f"--engine ray needs Ray: {RAY_INSTALL}") from exc
    return ray


def ray_available() -> bool:
    """Whether the ray extra is importable."""
    try:
        require_ray()
    except MissingOptionalDependencyError:
        return False
    return True


class _ChunkPredictor:
    """A Ray actor's state: the model, loaded once from the shipped files, in a folder removed right after."""

    def __init__(self, files: dict[str, bytes]) -> None:
        folder = tempfile.mkdtemp(prefix="groundswell-model-")
        try:
            for name, data in files.items():
                Path(folder, name).write_bytes(data)
            self.predictor = Predictor.from_dir(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        freeze_heap()

    def predict(self, texts: list[str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        return top_class(self.predictor, texts)


def ray_chunk_results(
    work: Iterable[tuple[T, list[str]]],
    model_dir: str | Path,
    *,
    address: str | None = None,
    actors: int | None = None,
) -> Generator[tuple[T, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]], None, None]:
    """For each ``(tag, texts)`` of ``work``, in order: ``(tag, (best class indexes, their confidences))``.

    Uses the Ray this process is already connected to; otherwise connects to ``address`` (``ray://`` or a GCS
    address; None: ``RAY_ADDRESS`` if set, else a new local Ray without dashboard, stopped when done).
    ``actors``: model replicas (default: one per CPU of the cluster).
    """
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        if address is None and not os.environ.get("RAY_ADDRESS"):
            options.update(include_dashboard=False, num_cpus=actors)
        ray.init(address=address, **options)
        started = True
    pool: list[Any] = []
    try:
        files = {name: (Path(model_dir) / name).read_bytes() for name in (MODEL_FILE, CARD_FILE)}
        count = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor_class = ray.remote(num_cpus=1)(_ChunkPredictor)
        shipped = ray.put(files)
        pool = [actor_class.remote(shipped) for _ in range(count)]
        pending: deque[tuple[T, Any]] = deque()
        for number, (tag, texts) in enumerate(work):
            pending.append((tag, pool[number % count].predict.remote(texts)))
            while len(pending) > 2 * count:
                done, ref = pending.popleft()
                yield done, ray.get(ref)
        while pending:
            done, ref = pending.popleft()
            yield done, ray.get(ref)
    finally:
        for actor in pool:
            ray.kill(actor)
        if started:
            ray.shutdown()
