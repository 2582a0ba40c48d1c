"""``/api/v1/jobs/{name}/models``: the versions a job's model loop trained, and restoring one
(:mod:`groundswell.train.loop`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from groundswell import jobs
from groundswell.store.tables import ModelVersion
from groundswell.train.loop import loop_versions, restore_version
from groundswell.web.admin_schemas import ModelVersionPublic
from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.routes.common import ADMIN_ONLY, CHANGES, ONE_OF_MANY, JobName

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ADMIN_ONLY])

VersionId = Annotated[int, Path(ge=1, le=2**31 - 1)]


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
    """The job's model versions, newest first (``groundswell job models``)."""
    with caller(store, creds, admin=True) as call:
        return [_public(v) for v in loop_versions(call.session, jobs.get_job(call.session, name))]


@router.post("/jobs/{name}/models/{version_id}/restore", response_model=ModelVersionPublic, responses=CHANGES)
def restore_model(name: JobName, version_id: VersionId, store: StoreDep, creds: CredentialsDep) -> ModelVersionPublic:
    """Serve a kept version again: its files go back into the loop's folder (the endpoint swaps it in)."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        return _public(restore_version(call.session, job, version_id, by="restored through the API"))
