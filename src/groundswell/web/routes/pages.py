"""HTML pages: invite links, the annotator's labeling page and the admin pages. Templates autoescape; the
only markup inserted unescaped is instructions rendered by markdown-it with raw HTML disabled."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt

from groundswell import jobs
from groundswell.errors import GroundswellError, PermissionDeniedError
from groundswell.jobs.autolabel import autolabel_rounds
from groundswell.jobs.people import end_web_session
from groundswell.jobs.views import jobs_for_worker
from groundswell.jobs.worker_agreement import agreement_summary, worker_skills
from groundswell.store.db import transaction
from groundswell.web.auth import SESSION_COOKIE, Principal, authenticate
from groundswell.web.deps import CredentialsDep, SettingsDep, StoreDep
from groundswell.web.errors import status_for

__all__ = ["render_markdown", "router"]

router = APIRouter(include_in_schema=False)
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str) -> str:
    """Instructions as HTML; raw HTML in the source is shown as text, unsafe link schemes are dropped."""
    html: str = _markdown.render(text)
    return html


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _error_page(request: Request, exc: GroundswellError) -> HTMLResponse:
    status = status_for(exc)
    return _page(request, "error.html", status_code=status, message=str(exc), status=status)


def _set_session_cookie(response: Response, token: str, *, hours: float, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/annotate", status_code=303)


# --- invites and sign-in ------------------------------------------------------------------------------------


@router.get("/invite/{token}", response_class=HTMLResponse)
def invite_page(request: Request, token: str) -> HTMLResponse:
    # A GET never spends the token (link previews and scanners fetch links); the button below does.
    return _page(request, "invite.html", token=token)


@router.post("/invite/{token}")
def redeem_invite(request: Request, token: str, store: StoreDep, settings: SettingsDep) -> Response:
    try:
        with transaction(store) as session:
            _, session_token = jobs.redeem_invite(session, token, session_ttl=timedelta(hours=settings.session_hours))
    except GroundswellError as exc:
        return _error_page(request, exc)
    response = RedirectResponse("/annotate", status_code=303)
    _set_session_cookie(response, session_token, hours=settings.session_hours, secure=settings.cookie_secure)
    return response


@router.get("/admin/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html")


@router.post("/admin/login")
def login(request: Request, api_key: Annotated[str, Form()], store: StoreDep, settings: SettingsDep) -> Response:
    with transaction(store) as session:
        worker = jobs.worker_for_api_key(session, api_key.strip())
        if worker is None or worker.kind.value != "admin":
            return _page(request, "login.html", status_code=401, error="That is not an admin API key.")
        token = jobs.create_web_session(session, worker, ttl=timedelta(hours=settings.session_hours))
    response = RedirectResponse("/admin", status_code=303)
    _set_session_cookie(response, token, hours=settings.session_hours, secure=settings.cookie_secure)
    return response


@router.post("/logout")
def logout(
    request: Request, store: StoreDep, creds: CredentialsDep, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    with transaction(store) as session:
        try:
            authenticate(session, creds, csrf_form_token=csrf_token)
        except GroundswellError as exc:
            return _error_page(request, exc)
        if creds.session_token:
            end_web_session(session, creds.session_token)
    response = RedirectResponse("/annotate", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- annotators ---------------------------------------------------------------------------------------------


@router.get("/annotate", response_class=HTMLResponse)
def annotate_home(request: Request, store: StoreDep, creds: CredentialsDep) -> Response:
    with transaction(store) as session:
        try:
            principal = authenticate(session, creds)
        except PermissionDeniedError:
            return _page(request, "signed_out.html", status_code=401)
        available = jobs_for_worker(session, principal.worker)
        if len(available) == 1:
            return RedirectResponse(f"/annotate/{available[0].name}", status_code=303)
        return _page(request, "jobs.html", principal=principal, jobs=[j.name for j in available])


@router.get("/annotate/{name}", response_class=HTMLResponse)
def annotate_job(request: Request, name: str, store: StoreDep, creds: CredentialsDep) -> Response:
    with transaction(store) as session:
        try:
            principal = authenticate(session, creds)
            job = jobs.get_job(session, name)
            if not jobs.may_work_on(session, principal.worker, job):
                raise PermissionDeniedError(f"you are not on a team that works on job {job.name!r}")
        except PermissionDeniedError as exc:
            if creds.session_token or creds.bearer:
                return _error_page(request, exc)
            return _page(request, "signed_out.html", status_code=401)
        except GroundswellError as exc:
            return _error_page(request, exc)
        return _page(
            request,
            "annotate.html",
            principal=principal,
            job=job.name,
            labels=jobs.job_labels(session, job),
            instructions=render_markdown(job.instructions_md or "No instructions were given for this job."),
        )


# --- admin --------------------------------------------------------------------------------------------------


def _admin(request: Request, store: StoreDep, creds: CredentialsDep, **form: str) -> Principal | Response:
    with transaction(store) as session:
        try:
            return authenticate(session, creds, admin=True, csrf_form_token=form.get("csrf_token"))
        except PermissionDeniedError as exc:
            if not (creds.session_token or creds.bearer):
                return RedirectResponse("/admin/login", status_code=303)
            return _error_page(request, exc)


@router.get("/admin", response_class=HTMLResponse)
def admin_jobs(request: Request, store: StoreDep, creds: CredentialsDep) -> Response:
    principal = _admin(request, store, creds)
    if isinstance(principal, Response):
        return principal
    with transaction(store) as session:
        rows = [(job, jobs.job_progress(session, job)) for job in jobs.list_jobs(session)]
        return _page(request, "admin_jobs.html", principal=principal, rows=rows)


@router.get("/admin/jobs/{name}", response_class=HTMLResponse)
def admin_job(request: Request, name: str, store: StoreDep, creds: CredentialsDep) -> Response:
    principal = _admin(request, store, creds)
    if isinstance(principal, Response):
        return principal
    with transaction(store) as session:
        try:
            job = jobs.get_job(session, name)
        except GroundswellError as exc:
            return _error_page(request, exc)
        return _page(
            request,
            "admin_job.html",
            principal=principal,
            job=job,
            labels=jobs.job_labels(session, job),
            progress=jobs.job_progress(session, job),
            quality=jobs.job_quality(session, job),
            annotators=jobs.annotator_stats(session, job),
            agreement=agreement_summary(session, job),
            skills={row.worker_id: row for row in worker_skills(session, job)},
            rounds=autolabel_rounds(session, job),
        )


@router.post("/admin/jobs/{name}/{action}")
def admin_job_action(
    request: Request,
    name: str,
    action: str,
    store: StoreDep,
    creds: CredentialsDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = _admin(request, store, creds, csrf_token=csrf_token)
    if isinstance(principal, Response):
        return principal
    try:
        with transaction(store) as session:
            jobs.change_state(session, name, action)
    except GroundswellError as exc:
        return _error_page(request, exc)
    return RedirectResponse(f"/admin/jobs/{name}", status_code=303)
