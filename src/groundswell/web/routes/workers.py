"""``/api/v1/workers`` and ``/api/v1/teams``: invite annotators (the link ``groundswell worker invite`` prints),
list people with their teams, deactivate one, list teams. Teams are created by naming them in an invite, as
the CLI does."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from groundswell import jobs
from groundswell.jobs.roster import WorkerRow, deactivate_worker, list_teams, list_workers
from groundswell.web.admin_schemas import InviteCreate, InvitePublic, TeamPublic, WorkerPublic
from groundswell.web.deps import CredentialsDep, SettingsDep, StoreDep, caller
from groundswell.web.routes.common import ADMIN_ONLY, CHANGES, links, merged
from groundswell.web.schemas import error_responses

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["workers"], dependencies=[ADMIN_ONLY])

#: Workers' ids are 32-bit integers in the store (``workers.id``), so a larger one is a 422 before any SQL.
WorkerId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_DEACTIVATE = {"DeactivateWorker": "deactivate_api_v1_workers__worker_id__deactivate_post"}


def _public(row: WorkerRow) -> WorkerPublic:
    worker = row.worker
    return WorkerPublic(
        id=worker.id,
        email=worker.email,
        name=worker.display_name,
        kind=worker.kind.value,
        is_active=worker.is_active,
        teams=row.teams,
        created_at=worker.created_at,
    )


@router.post(
    "/workers/invites",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitePublic,
    responses=merged(CHANGES, links(201, _DEACTIVATE, "worker_id", "$response.body#/worker_id")),
)
def invite(
    request: Request, body: InviteCreate, store: StoreDep, creds: CredentialsDep, settings: SettingsDep
) -> InvitePublic:
    """A one-time invite link for an annotator (created if new, added to ``team``, created if new).

    The link starts with ``GROUNDSWELL_PUBLIC_URL`` when it is set; otherwise with the address this request
    came to, the one the admin reached the service at, rather than a default host and port that may be wrong.
    """
    with caller(store, creds, admin=True) as call:
        worker, token = jobs.create_invite(
            call.session,
            body.email,
            team=body.team,
            valid_for=timedelta(days=settings.invite_days),
            name=body.name,
        )
        base = settings.public_url if "public_url" in settings.model_fields_set else str(request.base_url)
        url = f"{base.rstrip('/')}/invite/{token}"
        return InvitePublic(worker_id=worker.id, email=worker.email or body.email, team=body.team, invite_url=url)


@router.get(
    "/workers",
    response_model=list[WorkerPublic],
    responses=merged(error_responses(401, 403, 422, 429), links(200, _DEACTIVATE, "worker_id", "$response.body#/0/id")),
)
def workers(store: StoreDep, creds: CredentialsDep) -> list[WorkerPublic]:
    """Every person (annotators and admins) with their teams and whether they may still sign in."""
    with caller(store, creds, admin=True) as call:
        return [_public(row) for row in list_workers(call.session)]


@router.post("/workers/{worker_id}/deactivate", response_model=WorkerPublic, responses=CHANGES)
def deactivate(worker_id: WorkerId, store: StoreDep, creds: CredentialsDep) -> WorkerPublic:
    """Sign the worker out everywhere and refuse their sessions and keys from now on; their answers stay."""
    with caller(store, creds, admin=True) as call:
        return _public(deactivate_worker(call.session, worker_id, by=call.principal.worker))


@router.get("/teams", response_model=list[TeamPublic], responses=error_responses(401, 403, 422, 429))
def teams(store: StoreDep, creds: CredentialsDep) -> list[TeamPublic]:
    """Every team with its member count."""
    with caller(store, creds, admin=True) as call:
        return [TeamPublic(**row.__dict__) for row in list_teams(call.session)]
