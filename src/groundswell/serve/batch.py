"""Batch prediction over a file (JSONL/manifest, CSV, Parquet; local or ``s3://``), in several processes.

Why this shape: Ground Truth users expect batch output they can join back line by line, so each output line
is its input line (every attribute kept, order kept) plus ``<attr>`` and ``<attr>-metadata`` in the
output-manifest shape with ``"human-annotated": "no"``. The parent process reads and writes (I/O and JSON are
cheap), and worker processes, each holding the model once, do the featurising and the linear algebra on
chunks; results are taken in submission order, so no sort is needed. ``engine="ray"`` sends the chunks to
actors on a Ray cluster instead (:mod:`groundswell.serve.ray_engine`); reading, merging and writing stay here,
so both engines write the same bytes (pass ``created`` to fix the ``creation-date``).

Lines without text are copied through unchanged, like Ground Truth's unlabeled objects, and counted.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from groundswell.errors import InvalidInputError, UsageError
from groundswell.ingest.sources import fs_for
from groundswell.ml import read_card
from groundswell.serve.predictor import (
    Prediction,
    Predictor,
    creation_date,
    freeze_heap,
    prediction_attributes,
    top_class,
)

__all__ = ["ENGINES", "BatchReport", "predict_file", "top_class"]

ENGINES = ("local", "ray")

_TEXT_KEYS = ("source", "text", "tweet")
_predictor: Predictor | None = None


@dataclass(frozen=True)
class BatchReport:
    """What a batch prediction run did."""

    rows: int
    predicted: int
    skipped_no_text: int
    output: str
    seconds: float = 0.0


def _format(uri: str) -> str:
    name = uri.lower()
    for suffix, fmt in (
        (".jsonl", "jsonl"),
        (".manifest", "jsonl"),
        (".json", "jsonl"),
        (".ndjson", "jsonl"),
        (".csv", "csv"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
    ):
        if name.endswith(suffix):
            return fmt
    raise UsageError(f"{uri}: cannot tell the format from the name; use .jsonl/.manifest, .csv or .parquet")


def _read_rows(uri: str, storage_options: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    fmt = _format(uri)
    fs, path = fs_for(uri, storage_options)
    if not fs.exists(path):
        raise UsageError(f"{uri}: no such file")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=10_000):
                yield from batch.to_pylist()
        return
    with fs.open(path, "rt", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            yield from csv.DictReader(handle)
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{uri}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise InvalidInputError(f"{uri}:{number}: a manifest line must be a JSON object")
            yield row


def _init_worker(directory: str, inherited: bool = False) -> None:
    global _predictor
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if inherited and _predictor is not None:
        return  # forked from a parent that has just loaded it
    _predictor = Predictor.from_dir(directory)
    freeze_heap()


def _pool(processes: int, directory: str) -> ProcessPoolExecutor:
    """Worker processes holding the model. Where processes fork, the parent loads the model once first and the
    workers inherit it: loading imports skops, which imports every scikit-learn estimator (~2.5 s of CPU), and
    on a busy machine paying that once instead of once per worker is most of a small run's start-up."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return ProcessPoolExecutor(processes, initializer=_init_worker, initargs=(directory,))
    _init_worker(directory)
    context = multiprocessing.get_context("fork")
    return ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker, initargs=(directory, True))


def _predict_chunk(texts: list[str]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    assert _predictor is not None
    return top_class(_predictor, texts)


class _Writer:
    def __init__(self, uri: str, storage_options: dict[str, Any] | None) -> None:
        self.fmt = _format(uri)
        self.fs, self.path = fs_for(uri, storage_options)
        parent = self.path.rsplit("/", 1)[0] if "/" in self.path else ""
        if parent and not self.fs.exists(parent):
            self.fs.makedirs(parent, exist_ok=True)
        self.rows: list[dict[str, Any]] = []
        self.handle = self.fs.open(self.path, "wb") if self.fmt != "parquet" else None
        self.fields: list[str] | None = None

    def write(self, rows: list[dict[str, Any]]) -> None:
        if self.fmt == "parquet":
            self.rows.extend(rows)
            return
        assert self.handle is not None
        if self.fmt == "jsonl":
            self.handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
            return
        buffer = io.StringIO()
        flat = [
            {k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for k, v in r.items()}
            for r in rows
        ]
        if self.fields is None:
            self.fields = list(dict.fromkeys(k for r in flat for k in r))
            csv.DictWriter(buffer, self.fields, lineterminator="\n").writeheader()
        csv.DictWriter(buffer, self.fields, lineterminator="\n", extrasaction="ignore").writerows(flat)
        self.handle.write(buffer.getvalue().encode("utf-8"))

    def close(self) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            flat = [
                {k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v for k, v in r.items()}
                for r in self.rows
            ]
            with self.fs.open(self.path, "wb") as handle:
                pq.write_table(pa.Table.from_pylist(flat), handle)
        elif self.handle is not None:
            self.handle.close()


def predict_file(
    model_dir: str | Path,
    input_uri: str,
    output_uri: str,
    *,
    text_field: str | None = None,
    processes: int | None = None,
    chunk_size: int = 2000,
    storage_options: dict[str, Any] | None = None,
    on_progress: Callable[[int], None] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    created: str | None = None,
) -> BatchReport:
    """Predict every row of ``input_uri`` and write ``output_uri`` (format from its suffix), keeping order.

    Args:
        text_field: the attribute/column with the text; default: the first of ``source``, ``text``, ``tweet``.
        processes: worker processes (default: the CPU count, at most 8; 1 runs in this process); with
            ``engine="ray"``, model replicas on the cluster (default: one per cluster CPU).
        on_progress: called with the number of rows done so far after each chunk.
        engine: ``local`` (processes on this machine) or ``ray`` (actors on a Ray cluster; extra
            ``groundswell[ray]``).
        ray_address: the Ray cluster to use (default: ``RAY_ADDRESS``, else a local Ray started for the run).
        created: the ``creation-date`` written on every line (default: now, UTC).
    """
    import time

    started = time.perf_counter()
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; use one of: {', '.join(ENGINES)}")
    if ray_address is not None and engine != "ray":
        raise UsageError("a Ray address needs engine 'ray'")
    card = read_card(model_dir)
    if engine == "ray":
        from groundswell.serve.ray_engine import require_ray

        require_ray()  # before the output is opened: a missing extra leaves no empty file behind
    actors = processes
    processes = processes or min(os.cpu_count() or 1, 8)
    created = created or creation_date()
    attribute, job_name, labels = card.label_attribute_name, card.job_name, card.labels
    writer = _Writer(output_uri, storage_options)
    rows_done = predicted = skipped = 0
    key: list[str | None] = [text_field]

    def chunks() -> Iterator[tuple[list[dict[str, Any]], list[int], list[str]]]:
        rows = _read_rows(input_uri, storage_options)
        while batch := list(islice(rows, chunk_size)):
            if key[0] is None:
                key[0] = next((k for k in _TEXT_KEYS if k in batch[0]), None)
                if key[0] is None:
                    raise UsageError(f"{input_uri}: no text column; name it with --text-field (found {list(batch[0])})")
            field = key[0]
            positions = [i for i, r in enumerate(batch) if isinstance(r.get(field), str) and r[field].strip()]
            yield batch, positions, [batch[i][field] for i in positions]

    def merge(batch: list[dict[str, Any]], positions: list[int], result: tuple[Any, Any]) -> None:
        nonlocal rows_done, predicted, skipped
        best, confidence = result
        for pos, index, conf in zip(positions, best.tolist(), confidence.tolist(), strict=True):
            prediction = Prediction(labels[index], index, conf, ())
            batch[pos].update(
                prediction_attributes(prediction, attribute=attribute, job_name=job_name, created=created)
            )
        writer.write(batch)
        rows_done += len(batch)
        predicted += len(positions)
        skipped += len(batch) - len(positions)
        if on_progress is not None:
            on_progress(rows_done)

    try:
        if engine == "ray":
            from groundswell.serve.ray_engine import ray_chunk_results

            work = (((batch, positions), texts) for batch, positions, texts in chunks())
            with closing(ray_chunk_results(work, model_dir, address=ray_address, actors=actors)) as results:
                for (batch, positions), result in results:
                    merge(batch, positions, result)
        elif processes <= 1:
            _init_worker(str(model_dir))
            for batch, positions, texts in chunks():
                merge(batch, positions, _predict_chunk(texts))
        else:
            with _pool(processes, str(model_dir)) as pool:
                pending: list[tuple[list[dict[str, Any]], list[int], Any]] = []
                for batch, positions, texts in chunks():
                    pending.append((batch, positions, pool.submit(_predict_chunk, texts)))
                    # Keep a bounded number of chunks in flight: memory stays flat on huge inputs.
                    while len(pending) > 2 * processes:
                        done = pending.pop(0)
                        merge(done[0], done[1], done[2].result())
                for batch, positions, future in pending:
                    merge(batch, positions, future.result())
    except BaseException:
        writer.close()
        # A half-written output would look like a finished one; remove it.
        if writer.fs.exists(writer.path):
            writer.fs.rm(writer.path)
        raise
    writer.close()
    return BatchReport(rows_done, predicted, skipped, output_uri, time.perf_counter() - started)
