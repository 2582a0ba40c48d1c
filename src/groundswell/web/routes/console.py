"""The requester's console in the browser: datasets and uploads, the job form, the labels browser, people and
models. Server-rendered shells (no build step); their scripts (``static/console*.js``) do the work through the
same JSON API the SDK uses, with the admin's session cookie and CSRF header, so the console can do nothing the
API does not allow and every rule lives once, behind the API.

Every page requires an admin session (``caller(..., admin=True)``): an annotator gets the 403 page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from groundswell import jobs
from groundswell.ingest.browse import dataset_rows
from groundswell.web.console_form import FORM_GROUPS
from groundswell.web.deps import CredentialsDep, StoreDep, caller
from groundswell.web.render import page
from groundswell.web.routes.common import JobName
from groundswell.web.routes.pages import render_markdown

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markdown: Annotated[str, Field(max_length=100_000)]


@router.get("/admin/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, store: StoreDep, creds: CredentialsDep) -> Response:
    with caller(store, creds, admin=True) as call:
        return page(request, "admin_datasets.html", principal=call.principal, datasets=dataset_rows(call.session))


@router.get("/admin/new-job", response_class=HTMLResponse)
def new_job_page(request: Request, store: StoreDep, creds: CredentialsDep, dataset: str = "") -> Response:
    with caller(store, creds, admin=True) as call:
        return page(
            request,
            "admin_job_new.html",
            principal=call.principal,
            datasets=[row.name for row in dataset_rows(call.session)],
            chosen=dataset,
            groups=FORM_GROUPS,
        )


@router.post("/admin/preview")
def markdown_preview(body: PreviewRequest, store: StoreDep, creds: CredentialsDep) -> dict[str, str]:
    """Instructions rendered exactly as annotators will see them (the same renderer, raw HTML shown as text)."""
    with caller(store, creds, admin=True):
        return {"html": render_markdown(body.markdown)}


@router.get("/admin/jobs/{name}/labels", response_class=HTMLResponse)
def labels_page(request: Request, name: JobName, store: StoreDep, creds: CredentialsDep) -> Response:
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        return page(
            request, "admin_labels.html", principal=call.principal, job=job, labels=jobs.job_labels(call.session, job)
        )


@router.get("/admin/workers", response_class=HTMLResponse)
def workers_page(request: Request, store: StoreDep, creds: CredentialsDep) -> Response:
    with caller(store, creds, admin=True) as call:
        return page(request, "admin_workers.html", principal=call.principal)


@router.get("/admin/models", response_class=HTMLResponse)
def models_page(request: Request, store: StoreDep, creds: CredentialsDep, job: str = "") -> Response:
    with caller(store, creds, admin=True) as call:
        names = [j.name for j in jobs.list_jobs(call.session)]
        return page(request, "admin_models.html", principal=call.principal, jobs=names, chosen=job)
