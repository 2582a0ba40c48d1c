"""Appending tweets to a streaming job while it runs (`groundswell job append`, ``POST /jobs/{name}/items``).

A streaming job (``JobSpec.streaming``) is Ground Truth's streaming labeling job: tweets arrive while it runs
and it never completes by itself. An append reads its input with the importer (any import format, the same
validation and line-numbered problems), adds the new tweets to the job's dataset and gives each a job item,
so they are routed, consolidated, auto-labeled and exported like the job's first tweets. The import is
passed in by the caller (``groundswell.ingest.importer.import_into`` in the CLI and the API): jobs and ingest are
independent layers, so this module decides what may be appended and adds the job items, and never reads
files itself.

Rules, each for a reason:

* **All or nothing.** The tweets and their job items are written in one transaction; one bad row refuses
  the input as a whole (``RejectedInputError`` naming every bad line), so a failed append never leaves part
  of a batch behind for a retry to trip over.
* **Idempotent by id.** A row whose id is already in the dataset is ignored and reported (by the importer),
  so a producer can retry a request it got no answer for without adding anything twice. Each row *may*
  carry an id (``ReadOptions.with_optional_id``: the dataset's id attribute, ``id`` by default); one without
  gets the content id (a hash of its text), so repeating it is recognised too.
* **Only streaming jobs.** A batch job's tweets are fixed at creation: its progress, projected cost and
  completion all assume so, so appending to one is refused (``ConflictError``: HTTP 409, exit code 1); so is
  appending to a stopped job, whose labels are final.
* Appended items start as the job's first ones did: ``workers_per_item`` answers wanted (dynamic
  redundancy and the accuracy target ask for more later), priority 0, not gold.
* Appends to one job are serialised by locking its row: they wait for each other and for a state change
  (a ``stop`` cannot slip in between the check and the write), while annotators, who do not lock it, go on.

The job's items are its dataset's: an append also gives a job item to any tweet imported into the dataset
directly (``dataset import``) since, rather than leaving it in the dataset with no item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import exists, insert, literal, select
from sqlalchemy.orm import Session

from groundswell.domain import JobState
from groundswell.errors import ConflictError
from groundswell.jobs.lifecycle import get_job, is_streaming
from groundswell.store.tables import Dataset, Item, Job, JobItem

__all__ = ["Appended", "append_to_job"]

R = TypeVar("R")


@dataclass(frozen=True)
class Appended(Generic[R]):
    """What an append did: the job items it added, and the import's own report (rows read, duplicates)."""

    job: str
    dataset: str
    appended: int
    report: R


def append_to_job(session: Session, name: str, load: Callable[[Dataset], R]) -> Appended[R]:
    """Append to streaming job ``name`` within the caller's transaction (module docstring): ``load`` imports
    the tweets into the dataset it is given, in this session, raising (``RejectedInputError``) to refuse them
    all. Raises ``ConflictError`` for a job that is not streaming or has ended."""
    job = get_job(session, name, for_update=True)
    if not is_streaming(job):
        raise ConflictError(
            f"job {job.name!r} is not a streaming job: its tweets were fixed when it was created. Create one "
            'with --streaming (API: "streaming": true) to append tweets while it runs'
        )
    if job.state in (JobState.STOPPED, JobState.COMPLETED):
        raise ConflictError(f"job {job.name!r} is {job.state.value}; tweets can no longer be appended to it")
    dataset = session.get(Dataset, job.dataset_id)
    assert dataset is not None  # foreign key
    report = load(dataset)
    return Appended(job=job.name, dataset=dataset.name, appended=_add_job_items(session, job), report=report)


def _add_job_items(session: Session, job: Job) -> int:
    """Give every tweet of the job's dataset that has no job item one (as ``create_job`` does); how many."""
    has_item = exists().where(JobItem.job_id == job.id, JobItem.item_id == Item.id)
    rows = select(
        literal(job.id),
        Item.id,
        literal(0.0),
        literal(job.workers_per_item),
        literal(0),
        literal(0),
        literal(False),
        literal(False),
        literal(False),
    ).where(Item.dataset_id == job.dataset_id, ~has_item)
    columns = [
        "job_id",
        "item_id",
        "priority",
        "judgments_wanted",
        "judgments_accepted",
        "leases_active",
        "started",
        "is_gold",
        "is_done",
    ]
    added = session.execute(insert(JobItem).from_select(columns, rows).returning(JobItem.item_id))
    return len(added.all())
