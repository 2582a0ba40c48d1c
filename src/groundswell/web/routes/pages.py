"""HTML pages: invite links, the annotator's labeling page and the admin pages. Templates autoescape; the
only markup inserted unescaped is instructions rendered by markdown-it with raw HTML disabled.

Routes raise; :mod:`groundswell.web.errors` renders the error page (or sends a signed-out caller to sign in).
Failed sign-ins (an unknown invite link, a wrong key on the login form) are counted and throttled like wrong
API keys (:mod:`groundswell.web.throttle`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt

from groundswell import jobs
from groundswell.errors import NotFoundError, PermissionDeniedError
from groundswell.jobs.autolabel import autolabel_rounds
from groundswell.jobs.people import end_web_session
from groundswell.jobs.views import jobs_for_worker
from groundswell.jobs.worker_agreement import agreement_summary, worker_skills
from groundswell.store.db import transaction
from groundswell.web.auth import SESSION_COOKIE, RejectedCredentialsError, authenticate
from groundswell.web.deps import CredentialsDep, SettingsDep, StoreDep, caller
from groundswell.web.render import page
from groundswell.web.throttle import Throttle, client_address

__all__ = ["render_markdown", "router"]

router = APIRouter(include_in_schema=False)
# CommonMark plus GitHub-style tables (instructions often hold a label/example table); raw HTML stays text.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text: str) -> str:
    """Instructions as HTML; raw HTML in the source is shown as text, unsafe link schemes are dropped."""
    html: str = _markdown.render(text)
    return html


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
    return page(request, "invite.html", token=token)


def _throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


@router.post("/invite/{token}")
def redeem_invite(request: Request, token: str, store: StoreDep, settings: SettingsDep) -> Response:
    # Only an unknown token is a guess; a used or expired one was real, and its owner is told so (409).
    throttle = _throttle(request)
    subjects = throttle.subjects(client_address(request))
    try:
        with transaction(store) as session:
            throttle.check(session, subjects)
            ttl = timedelta(hours=settings.session_hours)
            _, session_token = jobs.redeem_invite(session, token, session_ttl=ttl)
    except NotFoundError:
        throttle.failed(store, subjects)
        raise
    response = RedirectResponse("/annotate", status_code=303)
    _set_session_cookie(response, session_token, hours=settings.session_hours, secure=settings.cookie_secure)
    return response


@router.get("/admin/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/admin/login")
def login(request: Request, api_key: Annotated[str, Form()], store: StoreDep, settings: SettingsDep) -> Response:
    key = api_key.strip()
    throttle = _throttle(request)
    subjects = throttle.subjects(client_address(request), key)
    token = None
    with transaction(store) as session:
        throttle.check(session, subjects)
        holder = jobs.api_key_holder(session, key)
        # A read-only key signs nobody in: a console session could change everything the key may not.
        if holder is not None and holder.worker.kind.value == "admin" and not holder.read_only:
            token = jobs.create_web_session(session, holder.worker, ttl=timedelta(hours=settings.session_hours))
    if token is None:
        if holder is None:  # a valid key of someone who is not an admin is no guess
            throttle.failed(store, subjects)
        elif holder.read_only:
            error = "That API key is read-only: use it with the API; the console needs an admin key."
            return page(request, "login.html", status_code=403, error=error)
        return page(request, "login.html", status_code=401, error="That is not an admin API key.")
    response = RedirectResponse("/admin", status_code=303)
    _set_session_cookie(response, token, hours=settings.session_hours, secure=settings.cookie_secure)
    return response


@router.post("/logout")
def logout(store: StoreDep, creds: CredentialsDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    with transaction(store) as session:
        authenticate(session, creds, csrf_form_token=csrf_token)
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
        except RejectedCredentialsError:  # a wrong API key is answered (and counted) like anywhere else
            raise
        except PermissionDeniedError:  # not an error here: the home page of someone signed out says how to sign in
            return page(request, "signed_out.html", status_code=401)
        available = jobs_for_worker(session, principal.worker)
        if len(available) == 1:
            return RedirectResponse(f"/annotate/{available[0].name}", status_code=303)
        return page(request, "jobs.html", principal=principal, jobs=[j.name for j in available])


@router.get("/annotate/{name}", response_class=HTMLResponse)
def annotate_job(request: Request, name: str, store: StoreDep, creds: CredentialsDep) -> Response:
    with caller(store, creds) as call:
        job = jobs.get_job(call.session, name)
        if not jobs.may_work_on(call.session, call.principal.worker, job):
            raise PermissionDeniedError(f"you are not on a team that works on job {job.name!r}")
        return page(
            request,
            "annotate.html",
            principal=call.principal,
            job=job.name,
            labels=jobs.job_labels(call.session, job),
            instructions=render_markdown(job.instructions_md or "No instructions were given for this job."),
        )


# --- admin --------------------------------------------------------------------------------------------------


@router.get("/admin", response_class=HTMLResponse)
def admin_jobs(request: Request, store: StoreDep, creds: CredentialsDep) -> Response:
    with caller(store, creds, admin=True) as call:
        rows = [(job, jobs.job_progress(call.session, job)) for job in jobs.list_jobs(call.session)]
        return page(request, "admin_jobs.html", principal=call.principal, rows=rows)


@router.get("/admin/jobs/{name}", response_class=HTMLResponse)
def admin_job(request: Request, name: str, store: StoreDep, creds: CredentialsDep) -> Response:
    with caller(store, creds, admin=True) as call:
        session = call.session
        job = jobs.get_job(session, name)
        return page(
            request,
            "admin_job.html",
            principal=call.principal,
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
    name: str, action: str, store: StoreDep, creds: CredentialsDep, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    with caller(store, creds, admin=True, csrf_form_token=csrf_token) as call:
        jobs.change_state(call.session, name, action)
        return RedirectResponse(f"/admin/jobs/{name}", status_code=303)
