"""Models over the API: train one from a job as background work (:mod:`groundswell.train.background`), list a
job's models (trained on request, and its model loop's: :mod:`groundswell.train.loop`), show one with its
card, restore a loop version; and ``/api/v1/work/{id}`` to follow background work."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from groundswell import jobs
from groundswell.domain import WorkState
from groundswell.store.queue import get_work
from groundswell.store.tables import ModelVersion, Work
from groundswell.train.background import model_card, model_version, request_training
from groundswell.train.loop import loop_versions, restore_version
from groundswell.web.admin_schemas import ModelDetailPublic, ModelTrainRequest, ModelVersionPublic, WorkPublic
from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.routes.common import ADMIN_ONLY, CHANGES, ONE_OF_MANY, JobName

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ADMIN_ONLY])

VersionId = Annotated[int, Path(ge=1, le=2**31 - 1)]
WorkId = Annotated[int, Path(ge=1, le=2**53)]


def _public(row: ModelVersion) -> ModelVersionPublic:
    return ModelVersionPublic(
        id=row.id,
        kind=row.purpose,
        model_type=row.model_type,
        created_at=row.created_at,
        training_size=row.training_size,
        artifact_uri=row.artifact_uri,
        metrics=dict(row.metrics or {}),
    )


@router.get("/jobs/{name}/models", response_model=list[ModelVersionPublic], responses=ONE_OF_MANY)
def job_models(name: JobName, store: StoreDep, creds: CredentialsDep) -> list[ModelVersionPublic]:
    """The job's models, newest first: trained on request, and its model loop's versions and restores."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        return [_public(v) for v in loop_versions(call.session, job, purposes=("trained", "loop", "restore"))]


@router.post("/jobs/{name}/models", status_code=status.HTTP_202_ACCEPTED, response_model=WorkPublic, responses=CHANGES)
def train_job_model(name: JobName, body: ModelTrainRequest, store: StoreDep, creds: CredentialsDep) -> WorkPublic:
    """Train a model on the job's consolidated labels, as background work the runner does (what
    ``groundswell train --job`` does in a terminal); follow it at ``/api/v1/work/{id}``, whose result names
    the model version."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        work = request_training(call.session, job, name=body.name, model_type=body.model_type)
        call.session.flush()
        return _work(work)


@router.get("/models/{version_id}", response_model=ModelDetailPublic, responses=ONE_OF_MANY)
def model_detail(version_id: VersionId, store: StoreDep, creds: CredentialsDep) -> ModelDetailPublic:
    """One model version with its card (metrics on which fit, calibration, training data hash, versions)."""
    with caller(store, creds, admin=True) as call:
        row = model_version(call.session, version_id)
        card = model_card(row)
        return ModelDetailPublic(**_public(row).model_dump(), card=card)


@router.get("/work/{work_id}", response_model=WorkPublic, responses=ONE_OF_MANY)
def work_status(work_id: WorkId, store: StoreDep, creds: CredentialsDep) -> WorkPublic:
    """A unit of background work: queued, running, done (with its result) or failed (with the error)."""
    with caller(store, creds, admin=True) as call:
        return _work(get_work(call.session, work_id))


def _work(work: Work) -> WorkPublic:
    return WorkPublic(
        id=work.id,
        kind=work.kind,
        state=WorkState(work.state).value,
        job_id=work.job_id,
        payload=dict(work.payload or {}),
        result=work.result,
        error=work.error,
        created_at=work.created_at,
        finished_at=work.finished_at,
    )


@router.post("/jobs/{name}/models/{version_id}/restore", response_model=ModelVersionPublic, responses=CHANGES)
def restore_model(name: JobName, version_id: VersionId, store: StoreDep, creds: CredentialsDep) -> ModelVersionPublic:
    """Serve a kept version again: its files go back into the loop's folder (the endpoint swaps it in)."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        return _public(restore_version(call.session, job, version_id, by="restored through the API"))
