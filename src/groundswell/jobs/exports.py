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

from groundswell.jobs.answers import effective_judgments_query
from groundswell.store.tables import Item, Job, Judgment, Worker

__all__ = ["iso_z", "worker_response_lines", "worker_responses", "write_worker_responses_jsonl"]


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
