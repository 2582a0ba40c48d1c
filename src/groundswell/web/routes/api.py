"""The JSON API (`/api/v1`): thin handlers — parse, call one use case, convert the result; no queries here.

Every handler runs its use case inside one transaction that commits before the response is sent, so an
acknowledged answer is stored: :func:`groundswell.web.deps.caller` authenticates the caller in it; the
hot-path handlers open it themselves only when their one-statement path falls back.

The four annotator hot-path handlers (next, submit, decline, undo) are ``async`` and run their few-millisecond
transaction on the event loop: measured, handing it to the thread pool cost more than the work itself (17 →
9 ms per answer in-process). Parallelism comes from server processes (``groundswell serve --workers N``).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from groundswell import jobs
from groundswell.errors import InvalidInputError
from groundswell.jobs.exports import worker_response_lines
from groundswell.jobs.labels import parse_label_config, validate_labels
from groundswell.jobs.views import (
    dataset_name,
    job_team_names,
    jobs_for_worker,
    my_judgments,
    visible_judgment,
)
from groundswell.store.db import transaction
from groundswell.store.tables import Job, Judgment
from groundswell.web.auth import authenticate
from groundswell.web.deps import CredentialsDep, HotPathDep, StoreDep, caller
from groundswell.web.observability import count_answer
from groundswell.web.routes.common import ADMIN_ONLY, CHANGES, ONE_OF_MANY, JobName, RowId, links, merged
from groundswell.web.schemas import (
    AnnotatorStatsPublic,
    JobCreate,
    JobProgressPublic,
    JobPublic,
    JobQualityPublic,
    JudgmentPublic,
    MeJob,
    MePublic,
    NextTaskRequest,
    NextTaskResponse,
    SubmitRequest,
    SubmitResponse,
    TaskPublic,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")

#: The operations on one job, by FastAPI's operation ids: the targets of links from what names a job.
_JOB_OPERATIONS = {
    "GetJob": "get_job_api_v1_jobs__name__get",
    "StartJob": "start_job_api_v1_jobs__name__start_post",
    "PauseJob": "pause_job_api_v1_jobs__name__pause_post",
    "StopJob": "stop_job_api_v1_jobs__name__stop_post",
    "Annotators": "annotators_api_v1_jobs__name__annotators_get",
    "WorkerResponses": "export_worker_responses_api_v1_jobs__name__worker_responses_get",
    "NextTask": "next_task_api_v1_jobs__name__tasks_next_post",
    "Undo": "undo_api_v1_jobs__name__undo_post",
    "MyStats": "my_stats_api_v1_jobs__name__stats_me_get",
    "MyJudgments": "mine_api_v1_jobs__name__judgments_mine_get",
    "Labels": "job_labels_api_v1_jobs__name__labels_get",
    "Export": "export_job_results_api_v1_jobs__name__export_get",
}


_TASK_OPERATIONS = {
    "Submit": "submit_api_v1_tasks__lease_id__submit_post",
    "Decline": "decline_api_v1_tasks__lease_id__decline_post",
}
_OF_JOB = merged(ONE_OF_MANY, links(200, _JOB_OPERATIONS, "name", "$response.body#/name"))
_OF_TASK = merged(CHANGES, links(200, _TASK_OPERATIONS, "lease_id", "$response.body#/task/lease_id"))
_OF_ANSWER = merged(
    CHANGES,
    links(
        200,
        {"GetJudgment": "judgment_api_v1_judgments__judgment_id__get"},
        "judgment_id",
        "$response.body#/judgment_id",
    ),
    links(
        200,
        {f"Next{name}": op for name, op in _TASK_OPERATIONS.items()},
        "lease_id",
        "$response.body#/next/task/lease_id",
    ),
)


def job_public(session: Session, job: Job, *, with_progress: bool = True) -> JobPublic:
    return JobPublic(
        name=job.name,
        dataset=dataset_name(session, job),
        labels=jobs.job_labels(session, job),
        state=job.state.value,
        label_attribute_name=job.label_attribute_name,
        workers_per_item=job.workers_per_item,
        max_workers_per_item=job.max_workers_per_item,
        task_time_limit_s=job.task_time_limit_s,
        task_availability_s=job.task_availability_s,
        max_concurrent_tasks=job.max_concurrent_tasks,
        teams=job_team_names(session, job),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        streaming=bool((job.settings or {}).get("streaming")),
        progress=JobProgressPublic.of(jobs.job_progress(session, job)) if with_progress else None,
        quality=JobQualityPublic(**jobs.job_quality(session, job).as_dict()) if with_progress else None,
    )


def _judgment_public(job: Job, judgment: Judgment, external_id: str) -> JudgmentPublic:
    return JudgmentPublic(
        id=judgment.id,
        job=job.name,
        item_id=external_id,
        worker_id=judgment.worker_id,
        label=judgment.label,
        revision=judgment.revision,
        time_spent_s=judgment.time_spent_s,
        submitted_at=judgment.submitted_at,
    )


# --- admin ---------------------------------------------------------------------------------------------------


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    tags=["jobs"],
    dependencies=[ADMIN_ONLY],
    responses=merged(
        error_responses(400, 401, 403, 404, 409, 422, 429), links(201, _JOB_OPERATIONS, "name", "$response.body#/name")
    ),
)
def create_job(body: JobCreate, store: StoreDep, creds: CredentialsDep) -> JobPublic:
    """Create a draft job over a dataset. Give ``labels`` or Ground Truth's ``label_config``."""
    with caller(store, creds, admin=True) as call:
        if (body.labels is None) == (body.label_config is None):
            raise InvalidInputError("give exactly one of 'labels' and 'label_config'")
        labels = (
            validate_labels(body.labels)
            if body.labels is not None
            else parse_label_config(json.dumps(body.label_config), source="label_config")
        )
        spec = jobs.JobSpec(**{**body.model_dump(exclude={"label_config"}), "labels": labels})
        return job_public(call.session, jobs.create_job(call.session, spec))


@router.get(
    "/jobs",
    response_model=list[JobPublic],
    tags=["jobs"],
    responses=merged(
        error_responses(401, 403, 422, 429), links(200, _JOB_OPERATIONS, "name", "$response.body#/0/name")
    ),
)
def list_jobs(store: StoreDep, creds: CredentialsDep) -> list[JobPublic]:
    with caller(store, creds, admin=True) as call:
        return [job_public(call.session, job) for job in jobs.list_jobs(call.session)]


@router.get("/jobs/{name}", response_model=JobPublic, tags=["jobs"], responses=_OF_JOB)
def get_job(name: JobName, store: StoreDep, creds: CredentialsDep) -> JobPublic:
    with caller(store, creds, admin=True) as call:
        return job_public(call.session, jobs.get_job(call.session, name))


def _state_route(action: str) -> None:
    def change_job_state(name: JobName, store: StoreDep, creds: CredentialsDep) -> JobPublic:
        with caller(store, creds, admin=True) as call:
            return job_public(call.session, jobs.change_state(call.session, name, action))

    change_job_state.__name__ = f"{action}_job"
    change_job_state.__doc__ = f"{action.capitalize()} the job; transitions the state machine forbids get 409."
    router.post(
        f"/jobs/{{name}}/{action}", response_model=JobPublic, tags=["jobs"], responses=merged(CHANGES, _OF_JOB)
    )(change_job_state)


for _action in ("start", "pause", "stop"):
    _state_route(_action)


@router.get("/jobs/{name}/annotators", response_model=list[AnnotatorStatsPublic], tags=["jobs"], responses=ONE_OF_MANY)
def annotators(name: JobName, store: StoreDep, creds: CredentialsDep) -> list[AnnotatorStatsPublic]:
    with caller(store, creds, admin=True) as call:
        stats = jobs.annotator_stats(call.session, jobs.get_job(call.session, name))
        return [AnnotatorStatsPublic.of(s) for s in stats]


@router.get("/jobs/{name}/worker-responses", tags=["jobs"], response_class=Response, responses=ONE_OF_MANY)
def export_worker_responses(name: JobName, store: StoreDep, creds: CredentialsDep) -> Response:
    """Raw answers in Ground Truth's worker-response shape, one JSON document per item and line."""
    with caller(store, creds, admin=True) as call:
        job = jobs.get_job(call.session, name)
        body = "".join(worker_response_lines(call.session, job))
        headers = {"Content-Disposition": f'attachment; filename="{job.name}-worker-responses.jsonl"'}
        return Response(body, media_type="application/x-ndjson", headers=headers)


# --- annotators -------------------------------------------------------------------------------------------------


@router.get("/me", response_model=MePublic, tags=["annotate"], responses=error_responses(401, 403, 422, 429))
def me(store: StoreDep, creds: CredentialsDep) -> MePublic:
    with caller(store, creds) as call:
        available = [
            MeJob(name=job.name, labels=jobs.job_labels(call.session, job), state=job.state.value)
            for job in jobs_for_worker(call.session, call.principal.worker)
        ]
        worker = call.principal.worker
        return MePublic(worker_id=worker.id, name=worker.display_name, is_admin=call.principal.is_admin, jobs=available)


@router.post("/jobs/{name}/tasks/next", response_model=NextTaskResponse, tags=["annotate"], responses=_OF_TASK)
async def next_task(
    name: JobName, body: NextTaskRequest, store: StoreDep, creds: CredentialsDep, hot_path: HotPathDep
) -> NextTaskResponse:
    """The caller's next tweet, held for them until the job's task time limit."""
    token = creds.session_token if hot_path.available and not creds.bearer else None
    tried = bool(token)
    if token:  # one statement, awaited
        task = await hot_path.next_task(token, creds.csrf_header, name, exclude=frozenset(body.exclude))
        if task is not None:
            return NextTaskResponse.of(task)
    with transaction(store) as session:
        principal = authenticate(session, creds)
        # After the hot path fell back, the general path runs at once: no request calls a function twice.
        given = jobs.next_task(session, name, principal.worker, exclude=frozenset(body.exclude), functions=not tried)
        return NextTaskResponse.of(given)


@router.post("/tasks/{lease_id}/submit", response_model=SubmitResponse, tags=["annotate"], responses=_OF_ANSWER)
async def submit(
    lease_id: RowId, body: SubmitRequest, store: StoreDep, creds: CredentialsDep, hot_path: HotPathDep
) -> SubmitResponse:
    """Answer a held task. Retrying with the same ``idempotency_key`` returns the original result.

    With ``next`` in the body, the response also carries the caller's next task (one round trip per answer).
    """
    next_exclude = None if body.next is None else frozenset(body.next.exclude)
    token = creds.session_token if hot_path.available and not creds.bearer else None
    tried = bool(token)
    if token:  # one statement, awaited
        fast = await hot_path.submit(
            token,
            creds.csrf_header,
            lease_id,
            label=body.label,
            idempotency_key=body.idempotency_key,
            time_spent_s=body.time_spent_s,
            next_exclude=next_exclude,
        )
        if fast is not None:
            count_answer(fast.replayed)
            return SubmitResponse.of(fast)
    with transaction(store) as session:
        principal = authenticate(session, creds)
        result = jobs.submit_answer(
            session,
            principal.worker,
            lease_id,
            label=body.label,
            idempotency_key=body.idempotency_key,
            time_spent_s=body.time_spent_s,
            next_exclude=next_exclude,
            functions=not tried,
        )
    count_answer(result.replayed)
    return SubmitResponse.of(result)


@router.post("/tasks/{lease_id}/decline", status_code=status.HTTP_204_NO_CONTENT, tags=["annotate"], responses=CHANGES)
async def decline(lease_id: RowId, store: StoreDep, creds: CredentialsDep) -> Response:
    """Skip a held task; the tweet goes back to the pool for someone else."""
    with transaction(store) as session:
        principal = authenticate(session, creds)
        jobs.decline_task(session, principal.worker, lease_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/jobs/{name}/undo", response_model=TaskPublic, tags=["annotate"], responses=CHANGES)
async def undo(name: JobName, store: StoreDep, creds: CredentialsDep) -> TaskPublic:
    """Withdraw the caller's last answer (while its time limit runs) and get that task back."""
    with transaction(store) as session:
        principal = authenticate(session, creds)
        return TaskPublic.of(jobs.undo_last_answer(session, name, principal.worker))


@router.get(
    "/jobs/{name}/stats/me", response_model=AnnotatorStatsPublic | None, tags=["annotate"], responses=ONE_OF_MANY
)
def my_stats(name: JobName, store: StoreDep, creds: CredentialsDep) -> AnnotatorStatsPublic | None:
    """The caller's own count and pace in a job."""
    with caller(store, creds) as call:
        job = jobs.get_job(call.session, name)
        stats = jobs.annotator_stats(call.session, job, worker_id=call.principal.worker.id)
        return AnnotatorStatsPublic.of(stats[0]) if stats else None


@router.get(
    "/jobs/{name}/judgments/mine", response_model=list[JudgmentPublic], tags=["annotate"], responses=ONE_OF_MANY
)
def mine(name: JobName, store: StoreDep, creds: CredentialsDep) -> list[JudgmentPublic]:
    """The caller's own current answers in a job (never anyone else's)."""
    with caller(store, creds) as call:
        job = jobs.get_job(call.session, name)
        return [
            _judgment_public(job, row, external_id)
            for row, external_id in my_judgments(call.session, job, call.principal.worker)
        ]


@router.get("/judgments/{judgment_id}", response_model=JudgmentPublic, tags=["annotate"], responses=ONE_OF_MANY)
def judgment(judgment_id: RowId, store: StoreDep, creds: CredentialsDep) -> JudgmentPublic:
    """One judgment: admins see any; an annotator sees only their own (others are 404)."""
    with caller(store, creds) as call:
        principal = call.principal
        row, job, external_id = visible_judgment(
            call.session, principal.worker, judgment_id, is_admin=principal.is_admin
        )
        return _judgment_public(job, row, external_id)
