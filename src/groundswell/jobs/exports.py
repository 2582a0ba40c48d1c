"""A job's results as Ground Truth writes them: the output manifest, flat CSV/Parquet, worker responses.

Output manifest (Ground Truth's ``manifests/output/output.manifest``): one JSON line per input line, in
input order. A labeled item is its input line (``source`` or ``source-ref`` plus pass-through attributes)
plus::

    "<attr>": <class index>,
    "<attr>-metadata": {"class-name": ..., "confidence": <2 decimals>,
                        "type": "groundtruth/text-classification",
                        "job-name": "labeling-job/<lower-cased job name>",
                        "human-annotated": "yes" | "no",
                        "creation-date": "2020-10-18T22:18:13.527256"}

A label an admin corrected (:mod:`groundswell.jobs.adjudication`) keeps Ground Truth's keys (confidence 1.0,
``"human-annotated": "yes"``) and adds ``"adjudicated": "yes"``, so a reader of Ground Truth's format still
reads it and one who cares can tell a reviewed label from a consolidated one. CSV and Parquet say it in their
``method`` column (``adjudicated``).

An item without a label yet is copied verbatim, as in Ground Truth's intermediate manifests. Gold items are
left out: they test workers and are not part of the result.

CSV and Parquet carry the same facts as columns (full-precision confidence, the pass-through attributes as
one JSON column) for analysis tools that do not read JSON Lines.

Worker responses: ``<dir>/annotations/worker-response/iteration-1/<datasetObjectId>/<YYYY-MM-DD_HH:MM:SS>.json``
per item (:func:`worker_responses`), stamped with the item's last submission; the same documents as JSON Lines,
one per item, for the API and ``job export --worker-responses-jsonl``.

Ground Truth writes ``annotations/worker-response/iteration-<k>/<datasetObjectId>/<timestamp>.json`` with
``{"answers": [{"workerId", "acceptanceTime", "submissionTime", "timeSpentInSeconds", "workerMetadata",
"answerContent": {"crowd-classifier": {"label": ...}}}]}``. We produce the same documents, keyed by the
item's position in the dataset (Ground Truth's datasetObjectId is the line index of the input manifest).

Every format a job's results leave in lives here, so a change to what an answer or a label carries is made once.
"""

from __future__ import annotations

import csv
import json
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import UsageError
from groundswell.jobs.answers import effective_judgments_query
from groundswell.jobs.lifecycle import get_job
from groundswell.store.files import fs_for
from groundswell.store.queries import manifest_line
from groundswell.store.tables import ADJUDICATED, ConsolidatedLabel, Item, Job, JobItem, Judgment, Worker

__all__ = [
    "FLAT_COLUMNS",
    "FORMATS",
    "TEXT_CLASSIFICATION",
    "ExportFormat",
    "ExportReport",
    "creation_date",
    "export_job",
    "iso_z",
    "output_line",
    "output_rows",
    "worker_response_lines",
    "worker_responses",
    "write_worker_responses",
    "write_worker_responses_jsonl",
]

TEXT_CLASSIFICATION = "groundtruth/text-classification"
ExportFormat = Literal["manifest", "csv", "parquet"]
FORMATS: tuple[str, ...] = ("manifest", "csv", "parquet")
FLAT_COLUMNS = (
    "id",
    "source",
    "label",
    "class_index",
    "confidence",
    "human_annotated",
    "method",
    "judgment_count",
    "creation_date",
    "attributes",
)
_PARQUET_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("label", pa.string()),
        ("class_index", pa.int32()),
        ("confidence", pa.float64()),
        ("human_annotated", pa.bool_()),
        ("method", pa.string()),
        ("judgment_count", pa.int32()),
        ("creation_date", pa.string()),
        ("attributes", pa.string()),
    ]
)
_BATCH = 5000


@dataclass(frozen=True)
class ExportReport:
    out: str
    format: str
    items: int
    labeled: int
    worker_response_files: int = 0


def creation_date(value: datetime) -> str:
    """``2020-10-18T22:18:13.527256``: UTC, microseconds, no zone suffix, as in Ground Truth's metadata."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def output_line(item: Item, label: ConsolidatedLabel | None, job: Job) -> dict[str, Any]:
    """One output-manifest line: the input line, plus the label and its metadata when there is one."""
    line = manifest_line(item)
    if label is None:
        return line
    attribute = job.label_attribute_name
    line[attribute] = label.class_index
    line[f"{attribute}-metadata"] = {
        "class-name": label.label,
        "confidence": round(label.confidence, 2),
        "type": TEXT_CLASSIFICATION,
        "job-name": f"labeling-job/{job.name.lower()}",
        "human-annotated": "yes" if label.human_annotated else "no",
        "creation-date": creation_date(label.updated_at),
    }
    if label.method == ADJUDICATED:
        line[f"{attribute}-metadata"]["adjudicated"] = "yes"
    return line


def output_rows(session: Session, job: Job) -> Iterator[tuple[Item, ConsolidatedLabel | None]]:
    """The job's non-gold items in input order, each with its consolidated label (streamed)."""
    query = (
        select(Item, ConsolidatedLabel)
        .join(JobItem, and_(JobItem.item_id == Item.id, JobItem.job_id == job.id))
        .outerjoin(ConsolidatedLabel, and_(ConsolidatedLabel.item_id == Item.id, ConsolidatedLabel.job_id == job.id))
        .where(~JobItem.is_gold)
        .order_by(Item.id)
        .execution_options(yield_per=2000)
    )
    for row in session.execute(query):
        yield row[0], row[1]


def _flat(item: Item, label: ConsolidatedLabel | None) -> dict[str, Any]:
    return {
        "id": item.external_id,
        "source": item.text,
        "label": None if label is None else label.label,
        "class_index": None if label is None else label.class_index,
        "confidence": None if label is None else label.confidence,
        "human_annotated": None if label is None else label.human_annotated,
        "method": None if label is None else label.method,
        "judgment_count": None if label is None else label.judgment_count,
        "creation_date": None if label is None else creation_date(label.updated_at),
        "attributes": json.dumps(item.attributes, ensure_ascii=False, sort_keys=True),
    }


def _write(
    session: Session, job: Job, handle: Any, fmt: str, on_progress: Callable[[int], None] | None
) -> tuple[int, int]:
    items = labeled = 0
    writer: Any = None
    batch: list[dict[str, Any]] = []
    if fmt == "csv":
        writer = csv.DictWriter(handle, fieldnames=FLAT_COLUMNS)
        writer.writeheader()
    elif fmt == "parquet":
        writer = pq.ParquetWriter(handle, _PARQUET_SCHEMA)
    for item, label in output_rows(session, job):
        items += 1
        labeled += label is not None
        if fmt == "manifest":
            handle.write(json.dumps(output_line(item, label, job), ensure_ascii=False) + "\n")
        elif fmt == "csv":
            writer.writerow(_flat(item, label))
        else:
            batch.append(_flat(item, label))
            if len(batch) >= _BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=_PARQUET_SCHEMA))
                batch = []
        if on_progress is not None and items % _BATCH == 0:
            on_progress(items)
    if fmt == "parquet":
        if batch or items == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=_PARQUET_SCHEMA))
        writer.close()
    if on_progress is not None:
        on_progress(items)
    return items, labeled


def iso_z(value: datetime | None) -> str | None:
    """``2020-12-28T18:59:15.191Z``: UTC with milliseconds, as in Ground Truth's worker responses."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def worker_responses(session: Session, job: Job) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(datasetObjectId, item external id, worker-response document) for every item with answers."""
    first_id = session.scalar(select(func.min(Item.id)).where(Item.dataset_id == job.dataset_id)) or 0
    workers = dict(session.execute(select(Worker.id, Worker.email)).all())
    query = (
        effective_judgments_query(job.id)
        .add_columns(Item.external_id)
        .join(Item, Item.id == Judgment.item_id)
        .order_by(Judgment.item_id, Judgment.submitted_at, Judgment.id)
    )
    current: tuple[int, str] | None = None
    answers: list[dict[str, Any]] = []
    for judgment, external_id in session.execute(query.execution_options(yield_per=2000)):
        if current is not None and judgment.item_id != current[0]:
            yield current[0] - first_id, current[1], {"answers": answers}
            answers = []
        current = (judgment.item_id, external_id)
        answers.append(
            {
                "workerId": f"gs-worker-{judgment.worker_id}",
                "acceptanceTime": iso_z(judgment.accepted_at),
                "submissionTime": iso_z(judgment.submitted_at),
                "timeSpentInSeconds": judgment.time_spent_s,
                "workerMetadata": {
                    "identityData": {
                        "identityProviderType": "Groundswell",
                        "issuer": "groundswell",
                        "sub": workers.get(judgment.worker_id) or str(judgment.worker_id),
                    }
                },
                "answerContent": {"crowd-classifier": {"label": judgment.label}},
            }
        )
    if current is not None:
        yield current[0] - first_id, current[1], {"answers": answers}


def worker_response_lines(session: Session, job: Job) -> Iterator[str]:
    """One JSON line per item: ``{"datasetObjectId", "itemId", "answers": [...]}``."""
    for object_id, external_id, document in worker_responses(session, job):
        yield json.dumps({"datasetObjectId": str(object_id), "itemId": external_id, **document}) + "\n"


def write_worker_responses_jsonl(session: Session, job: Job, handle: Any) -> int:
    """Write :func:`worker_response_lines` to ``handle``; returns the item count."""
    count = 0
    for line in worker_response_lines(session, job):
        handle.write(line)
        count += 1
    return count


def write_worker_responses(
    session: Session, job: Job, out_dir: str, *, storage_options: dict[str, Any] | None = None
) -> int:
    """Write one worker-response document per non-gold answered item; returns the number of files."""
    fs, root = fs_for(out_dir, storage_options)
    first_id = session.scalar(select(func.min(Item.id)).where(Item.dataset_id == job.dataset_id)) or 0
    gold = set(session.scalars(select(JobItem.item_id).where(JobItem.job_id == job.id, JobItem.is_gold)))
    base = posixpath.join(root.rstrip("/"), "annotations", "worker-response", "iteration-1")
    written = 0
    for object_id, _external_id, document in worker_responses(session, job):
        if object_id + first_id in gold:  # exports numbers items from the dataset's first item id
            continue
        stamps = [a["submissionTime"] for a in document["answers"] if a.get("submissionTime")]
        stamp = max(stamps)[:19].replace("T", "_") if stamps else "unknown"
        folder = posixpath.join(base, str(object_id))
        if isinstance(fs, LocalFileSystem):
            fs.makedirs(folder, exist_ok=True)
        with fs.open(posixpath.join(folder, f"{stamp}.json"), "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, ensure_ascii=False))
        written += 1
    return written


def export_job(
    factory: sessionmaker[Session],
    job_name: str,
    out: str,
    *,
    fmt: str = "manifest",
    worker_responses_dir: str | None = None,
    storage_options: dict[str, Any] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write the job's results to ``out`` (local path or ``s3://``), streaming from the database.

    Args:
        factory: Session factory of the store.
        job_name: The job (case-insensitive).
        out: Where to write the manifest / CSV / Parquet file.
        fmt: ``"manifest"`` (Ground Truth output manifest, JSON Lines), ``"csv"`` or ``"parquet"``.
        worker_responses_dir: Also write Ground Truth's per-item worker-response files under this folder.
        storage_options: fsspec options for ``s3://`` paths.
        on_progress: Called with the number of items written so far.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    fs, path = fs_for(out, storage_options)
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(posixpath.dirname(path) or ".", exist_ok=True)
    with factory() as session:
        job = get_job(session, job_name)
        text: dict[str, Any] = {"encoding": "utf-8", "newline": "" if fmt == "csv" else None}
        with fs.open(path, "wb" if fmt == "parquet" else "w", **({} if fmt == "parquet" else text)) as handle:
            items, labeled = _write(session, job, handle, fmt, on_progress)
        files = 0
        if worker_responses_dir is not None:
            files = write_worker_responses(session, job, worker_responses_dir, storage_options=storage_options)
    return ExportReport(out=out, format=fmt, items=items, labeled=labeled, worker_response_files=files)
