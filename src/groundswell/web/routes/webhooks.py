"""``/api/v1/jobs/{name}/webhooks``: where a job's final labels are POSTed as they become final
(:mod:`groundswell.jobs.webhooks`; the runner sends them, :mod:`groundswell.runner.webhooks`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from groundswell import jobs
from groundswell.jobs.webhooks import WebhookInfo, add_webhook, list_webhooks, remove_webhook
from groundswell.web.admin_schemas import WebhookCreate, WebhookCreated, WebhookListPublic, WebhookPublic
from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.routes.common import ADMIN_ONLY, CHANGES, ONE_OF_MANY, JobName

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ADMIN_ONLY])

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _public(info: WebhookInfo) -> WebhookPublic:
    return WebhookPublic(**info.__dict__)


@router.post(
    "/jobs/{name}/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated, responses=CHANGES
)
def create_webhook(name: JobName, body: WebhookCreate, store: StoreDep, creds: CredentialsDep) -> WebhookCreated:
    """POST each label of the job that becomes final from now on to ``url``, signed with the job's secret
    (``X-Groundswell-Signature: sha256=<HMAC-SHA256 of the body>``), each with an ``X-Groundswell-Delivery`` id
    that stays the same on retries; retried with backoff until the receiver answers 2xx."""
    with caller(store, creds, admin=True) as call:
        info, secret = add_webhook(call.session, jobs.get_job(call.session, name), body.url)
        return WebhookCreated(**info.__dict__, secret=secret)


@router.get("/jobs/{name}/webhooks", response_model=WebhookListPublic, responses=ONE_OF_MANY)
def job_webhooks(name: JobName, store: StoreDep, creds: CredentialsDep) -> WebhookListPublic:
    """The job's webhooks with their delivery counts, and its signing secret."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        return WebhookListPublic(
            webhooks=[_public(h) for h in list_webhooks(call.session, job)], secret=job.webhook_secret
        )


@router.delete("/jobs/{name}/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=CHANGES)
def delete_webhook(name: JobName, webhook_id: WebhookId, store: StoreDep, creds: CredentialsDep) -> None:
    """Stop sending to the webhook; what it was still owed is dropped."""
    with caller(store, creds, admin=True) as call:
        remove_webhook(call.session, jobs.get_job(call.session, name), webhook_id)
