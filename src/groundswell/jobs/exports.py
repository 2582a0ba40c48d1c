"""Raw judgments in Ground Truth's worker-response shape, one document per item.

Ground Truth writes ``annotations/worker-response/iteration-<k>/<datasetObjectId>/<timestamp>.json`` with
``{"answers": [{"workerId", "acceptanceTime", "submissionTime", "timeSpentInSeconds", "workerMetadata",
"answerContent": {"crowd-classifier": {"label": ...}}}]}``. We produce the same documents, keyed by the
item's position in the dataset (Ground Truth's datasetObjectId is the line index of the input manifest).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.jobs.routing import effective_judgments_query
from groundswell.store.tables import Item, Job, Judgment, Worker

__all__ = ["iso_z", "worker_responses", "write_worker_responses_jsonl"]


def iso_z(value: datetime | None) -> str | None:
    """``2020-12-28T18:59:15.191Z``: UTC with milliseconds, as in Ground Truth's worker responses."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def worker_responses(session: Session, job: Job) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(datasetObjectId, item external id, worker-response document) for every item with answers."""
    first_id = session.scalar(select(func.min(Item.id)).where(Item.dataset_id == job.dataset_id)) or 0
    workers = dict(session.execute(select(Worker.id, Worker.email)).all())
    query = effective_judgments_query(job.id).order_by(Judgment.item_id, Judgment.submitted_at, Judgment.id)
    current: int | None = None
    answers: list[dict[str, Any]] = []
    for judgment in session.scalars(query.execution_options(yield_per=2000)):
        if current is not None and judgment.item_id != current:
            yield _document(session, current, first_id, answers)
            answers = []
        current = judgment.item_id
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
        yield _document(session, current, first_id, answers)


def _document(session: Session, item_id: int, first_id: int, answers: list[dict[str, Any]]) -> tuple[int, str, Any]:
    external_id = session.scalar(select(Item.external_id).where(Item.id == item_id)) or str(item_id)
    return item_id - first_id, external_id, {"answers": answers}


def write_worker_responses_jsonl(session: Session, job: Job, handle: Any) -> int:
    """One line per item: ``{"datasetObjectId", "itemId", "answers": [...]}``; returns the item count."""
    count = 0
    for object_id, external_id, document in worker_responses(session, job):
        handle.write(json.dumps({"datasetObjectId": str(object_id), "itemId": external_id, **document}) + "\n")
        count += 1
    return count
