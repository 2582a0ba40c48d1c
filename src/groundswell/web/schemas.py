"""Request and response bodies of the JSON API (`/api/v1`); converted from use-case results at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from groundswell.jobs import AnnotatorStats, JobProgress, NoTask, SubmitResult, Task

__all__ = [
    "JOB_NAME_PATTERN",
    "MAX_DB_ID",
    "AnnotatorStatsPublic",
    "ApiError",
    "DbId",
    "JobCreate",
    "JobProgressPublic",
    "JobPublic",
    "JudgmentPublic",
    "MePublic",
    "NextTaskRequest",
    "NextTaskResponse",
    "PlainText",
    "SubmitRequest",
    "SubmitResponse",
    "TaskPublic",
    "error_responses",
    "has_control_characters",
]


#: The largest row id the API takes: the largest integer every JSON client holds exactly (JavaScript's
#: ``Number.MAX_SAFE_INTEGER``; the databases' BIGINT goes to 2**63 - 1, and no row id gets near either). A
#: larger one is a 422 at the edge, never a cast error in SQL; and the OpenAPI bound is one that schema tools,
#: which read JSON numbers as doubles, cannot overshoot (2**63 - 1 rounds up to 2**63 there).
MAX_DB_ID = 2**53 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
#: A job's name (Ground Truth's rule, as ``groundswell.jobs.JobSpec.validate`` checks it).
JOB_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a NUL or another control character (C0 or DEL)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _no_control_characters(value: str) -> str:
    if has_control_characters(value):
        raise ValueError("must not contain control characters (NUL, newlines, tabs, ...)")
    return value


#: Text that names or keys something (labels, idempotency keys, names): no NUL or other control character,
#: which PostgreSQL refuses in text and no one means to type.
PlainText = Annotated[
    str,
    AfterValidator(_no_control_characters),
    # The same rule in the OpenAPI document (the validator above words the error).
    Field(json_schema_extra={"pattern": "^[^\\u0000-\\u001f\\u007f]*$"}),
]


class JobCreate(BaseModel):
    """Either ``labels`` or Ground Truth's ``label_config`` ({"document-version", "labels": [{"label"}]})."""

    # The schema says what the server accepts: exactly one of the two (``oneOf``), so a client generated from
    # the OpenAPI document cannot build a body the server refuses.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["labels"], "properties": {"labels": {"type": "array"}}},
                {"required": ["label_config"], "properties": {"label_config": {"type": "object"}}},
            ]
        },
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=JOB_NAME_PATTERN,
        description="Letters, digits and hyphens, starting and ending with a letter or digit (Ground Truth's rule).",
        examples=["launch-sentiment"],
    )
    dataset: PlainText = Field(min_length=1, max_length=200, examples=["launch"])
    labels: list[PlainText] | None = None
    label_config: dict[str, Any] | None = None
    instructions_md: str = Field(default="", max_length=100_000)
    workers_per_item: int | None = Field(
        default=None, ge=1, le=9, description="Answers per tweet to start with (3; with accuracy_target alone: 1)."
    )
    max_workers_per_item: int | None = Field(default=None, ge=1, le=9)
    task_time_limit_s: int = Field(default=300, ge=30, le=28_800)
    task_availability_s: int = Field(default=30 * 24 * 3600, ge=60, le=2**31 - 1)
    max_concurrent_tasks: int | None = Field(default=None, ge=1, le=5000)
    label_attribute_name: str | None = None
    teams: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    accuracy_target: float | None = Field(
        default=None,
        description="Accuracy every final label must meet; alone, it turns on everything that meets it cheaply "
        "(one answer to start, more where they pay, certified machine labels, active learning).",
        examples=[0.9],
    )
    preset: str | None = Field(
        default=None, description="'ground-truth': Ground Truth's behaviour (3 answers, machine labels at 95 %)."
    )
    gold_items: int = Field(
        default=0,
        ge=0,
        le=2**31 - 1,
        description="Random tweets with a gold label in the dataset to serve as hidden test questions: they "
        "measure the workers and correct the job's accuracy estimate.",
        examples=[200],
    )
    streaming: bool = Field(
        default=False,
        description="A streaming job: tweets are appended while it runs (POST /jobs/{name}/items) and it never "
        "completes by itself (stop ends it); its dataset may be empty, and is created if it does not exist.",
    )
    webhooks: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="URLs that receive each final label (see POST /jobs/{name}/webhooks); the job's signing "
        "secret is in GET /jobs/{name}/webhooks.",
    )


class JobProgressPublic(BaseModel):
    items: int
    done: int
    in_progress: int
    open: int
    judgments: int
    judgments_wanted: int
    active_leases: int
    active_annotators: int
    percent_done: float

    @classmethod
    def of(cls, progress: JobProgress) -> JobProgressPublic:
        return cls(**{**progress.__dict__, "percent_done": round(progress.percent_done, 2)})


class AccuracyEstimatePublic(BaseModel):
    accuracy: float
    low: float
    high: float
    items: int
    gold_items: int


class JobQualityPublic(BaseModel):
    """The job's estimated accuracy (95 % interval) and its cost in human answers."""

    estimated_accuracy: AccuracyEstimatePublic | None
    basis: str
    accuracy_target: float | None
    labeled: int
    machine_labeled: int
    items: int
    answers_spent: int
    answers_projected: int


class JobPublic(BaseModel):
    name: str
    dataset: str
    labels: list[str]
    state: str
    label_attribute_name: str
    workers_per_item: int
    max_workers_per_item: int
    task_time_limit_s: int
    task_availability_s: int
    max_concurrent_tasks: int | None
    teams: list[str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    streaming: bool = False
    progress: JobProgressPublic | None = None
    quality: JobQualityPublic | None = None


class AnnotatorStatsPublic(BaseModel):
    worker_id: int
    name: str
    judgments: int
    median_seconds: float | None
    per_hour: float | None
    last_answer: datetime | None

    @classmethod
    def of(cls, stats: AnnotatorStats) -> AnnotatorStatsPublic:
        return cls(**stats.__dict__)


class TaskItem(BaseModel):
    id: str
    text: str


class TaskPublic(BaseModel):
    lease_id: int
    job: str
    item: TaskItem
    labels: list[str]
    leased_at: datetime
    expires_at: datetime
    previous_label: str | None = None

    @classmethod
    def of(cls, task: Task) -> TaskPublic:
        return cls(
            lease_id=task.lease_id,
            job=task.job,
            item=TaskItem(id=task.external_id, text=task.text),
            labels=task.labels,
            leased_at=task.leased_at,
            expires_at=task.expires_at,
            previous_label=task.previous_label,
        )


class NextTaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Leases the client already holds (the tweet on screen, the prefetched one): do not hand those back.
    exclude: list[DbId] = Field(default_factory=list, max_length=16)


class NextTaskResponse(BaseModel):
    task: TaskPublic | None
    reason: str | None = None

    @classmethod
    def of(cls, result: Task | NoTask) -> NextTaskResponse:
        if isinstance(result, NoTask):
            return cls(task=None, reason=result.reason)
        return cls(task=TaskPublic.of(result))


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: PlainText = Field(min_length=1, max_length=256)
    idempotency_key: PlainText = Field(min_length=1, max_length=128)
    time_spent_s: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    #: Also hand out the next task in the same round trip (what the annotator UI does on every keystroke).
    next: NextTaskRequest | None = None


class SubmitResponse(BaseModel):
    judgment_id: int
    lease_id: int
    label: str
    revision: int
    submitted_at: datetime
    replayed: bool
    next: NextTaskResponse | None = None

    @classmethod
    def of(cls, result: SubmitResult) -> SubmitResponse:
        return cls(
            judgment_id=result.judgment_id,
            lease_id=result.lease_id,
            label=result.label,
            revision=result.revision,
            submitted_at=result.submitted_at,
            replayed=result.replayed,
            next=None if result.next is None else NextTaskResponse.of(result.next),
        )


class JudgmentPublic(BaseModel):
    id: int
    job: str
    item_id: str
    worker_id: int
    label: str | None
    revision: int
    time_spent_s: float | None
    submitted_at: datetime


class MeJob(BaseModel):
    name: str
    labels: list[str]
    state: str


class MePublic(BaseModel):
    worker_id: int
    name: str
    is_admin: bool
    jobs: list[MeJob]


class ApiError(BaseModel):
    """The one error body of the API (:func:`groundswell.errors.error_body`), whatever the status."""

    ok: Literal[False] = False
    error: str = Field(description="What went wrong, in one sentence.", examples=["no job named 'launch'"])
    errors: list[str] = Field(description="Every problem found (the first is ``error``).")
    status: int = Field(description="The HTTP status, repeated for clients that only see the body.")


#: Why an operation answers each error status; :func:`error_responses` picks the ones it can.
_ERROR_DESCRIPTIONS: dict[int, str] = {
    401: "No credentials, an expired session, or an unknown API key.",
    403: "Signed in, but not allowed: an admin operation without an admin key, someone else's task, or a "
    "missing CSRF token on a session request.",
    404: "No such job, dataset, task or answer (or not one of yours).",
    409: "Not now: the job's state, a lease that expired or was already used, a name already taken.",
    400: "The body is not JSON.",
    415: "The body is neither JSON nor multipart/form-data.",
    503: "The database cannot take the request just now (restarting, unreachable, its disk full, a lock held too "
    "long): nothing was stored; send it again after ``Retry-After`` seconds (an answer with the same "
    "idempotency key is safe to repeat).",
    422: "The request breaks the schema or a rule (the message names the field).",
    429: "Too many failed sign-ins or API keys from this address or key prefix; retry after ``Retry-After`` seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with :class:`ApiError`'s schema; always with 503,
    which any operation answers while its database cannot take it (``web.errors``)."""
    codes = sorted({*statuses, 503})
    return {code: {"model": ApiError, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}
