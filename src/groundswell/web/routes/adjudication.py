"""``/api/v1/jobs/{name}/labels/{item_id}``: one label under review (its answers, the model's vote, its past
corrections), an admin's correction of it, and the revert of a correction (:mod:`groundswell.jobs.adjudication`).

Admins only; a read-only API key reads the detail and is refused the changes (403), as on every route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlalchemy.orm import Session

from groundswell import jobs
from groundswell.jobs.adjudication import LabelDetail, correct_label, label_detail, revert_correction
from groundswell.jobs.label_browser import agreement, answer_counts
from groundswell.store.tables import ConsolidatedLabel, Item, Job
from groundswell.web.admin_schemas import LabelPublic
from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.label_schemas import (
    AdjudicationPublic,
    AnswerPublic,
    LabelCorrection,
    LabelDetailPublic,
    ModelVotePublic,
)
from groundswell.web.routes.common import ADMIN_ONLY, CHANGES, ONE_OF_MANY, JobName, merged
from groundswell.web.routes.labels import label_public

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ADMIN_ONLY])

#: A tweet's id in its dataset (``item_id`` of a label) as one path segment: an id holding '/' is not reachable
#: here (as for dataset names).
ItemId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern="^[^/\\u0000-\\u001f\\u007f]+$",
        description="The tweet's id in its dataset (a label's `item_id`).",
        examples=["1712345678901"],
    ),
]


def _with_agreement(session: Session, job: Job, item: Item, label: ConsolidatedLabel) -> LabelPublic:
    counts = answer_counts(session, job, [item.id])
    return label_public(item, label, agreement(counts.get(item.id), label.label))


def _detail(found: LabelDetail) -> LabelDetailPublic:
    label = found.label
    vote = found.model_vote
    return LabelDetailPublic(
        item_id=found.item.external_id,
        source=found.item.text,
        labels=found.labels,
        label=None if label is None else label_public(found.item, label, found.agreement),
        adjudicated=found.adjudicated,
        answers=[AnswerPublic(**answer.__dict__) for answer in found.answers],
        model_vote=None if vote is None else ModelVotePublic(**vote.__dict__),
        history=[AdjudicationPublic(**entry.__dict__) for entry in found.history],
    )


@router.get("/jobs/{name}/labels/{item_id}", response_model=LabelDetailPublic, responses=ONE_OF_MANY)
def job_label(name: JobName, item_id: ItemId, store: StoreDep, creds: CredentialsDep) -> LabelDetailPublic:
    """One tweet of the job under review: its label (null: none yet) with the answers' agreement, every
    current answer (who, what, when, how long), the model's vote and its corrections, newest first. A gold
    tweet is a 404: gold tweets have no label."""
    with caller(store, creds, admin=True) as call:
        return _detail(label_detail(call.session, jobs.get_job(call.session, name), item_id))


@router.put("/jobs/{name}/labels/{item_id}", response_model=LabelPublic, responses=CHANGES)
def correct_job_label(
    name: JobName, item_id: ItemId, body: LabelCorrection, store: StoreDep, creds: CredentialsDep
) -> LabelPublic:
    """Correct the tweet's label: it becomes final with method `adjudicated` and confidence 1, and no later
    answer, vote, consolidation or machine label replaces it; an open tweet is closed (a task on it that is
    still held is ended). Recorded in its history with `note`; the export marks it `"adjudicated": "yes"`.
    A label not among the job's is a 422 that lists them."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        row = correct_label(call.session, job, item_id, body.label, by=call.principal.worker, note=body.note)
        item = call.session.get(Item, row.item_id)
        assert item is not None  # the label's item: a foreign key
        return _with_agreement(call.session, job, item, row)


@router.delete(
    "/jobs/{name}/labels/{item_id}/correction",
    response_model=LabelPublic,
    responses=merged(
        CHANGES,
        {status.HTTP_204_NO_CONTENT: {"description": "Reverted: the tweet had no label before, and has none now."}},
    ),
)
def revert_job_label(name: JobName, item_id: ItemId, store: StoreDep, creds: CredentialsDep) -> LabelPublic | Response:
    """Revert the tweet's corrections since the last revert: its label goes back to the one it had before the
    first of them (204 when it had none), and a consolidation is queued. A 409 when its label is no correction."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        row = revert_correction(call.session, job, item_id, by=call.principal.worker)
        if row is None:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        item = call.session.get(Item, row.item_id)
        assert item is not None  # the label's item: a foreign key
        return _with_agreement(call.session, job, item, row)
