"""Creating labeling jobs and moving them through their states.

States: draft → running ⇄ paused → completed | stopped. A job completes by itself when every item is done;
``stop`` ends it early. Anything else is refused with a ``ConflictError`` that names both states.

A *streaming* job (``settings["streaming"]``, Ground Truth's streaming labeling jobs) never completes by
itself: tweets keep arriving (:mod:`groundswell.jobs.append`), so "nothing open right now" is not "done";
only ``stop`` ends it. Its dataset may be empty, or not exist yet, when it is created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from groundswell.active import AutoLabelSettings
from groundswell.domain import JobState
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError
from groundswell.jobs.gold import mark_gold_items
from groundswell.jobs.job_defaults import resolve_job_request
from groundswell.jobs.job_settings import consolidation_settings, validate_consolidation_settings
from groundswell.jobs.labels import validate_labels
from groundswell.jobs.webhooks import add_webhook, check_webhook_url
from groundswell.store.queries import get_dataset
from groundswell.store.tables import Dataset, Item, Job, JobItem, JobTeam, LabelSchema, Team, utcnow

__all__ = [
    "TRANSITIONS",
    "JobRef",
    "JobSpec",
    "change_state",
    "create_job",
    "get_job",
    "is_streaming",
    "job_labels",
    "list_jobs",
    "maybe_complete",
]

_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
#: Most answers a tweet may get under dynamic redundancy when the job does not say: the cap of strategy C in
#: ``bench/economics.py`` on all 45,615 TweetEval tweets (1 answer, up to 5 while unsure: 1.45 answers per
#: tweet, more accurate than 3 each).
DEFAULT_DYNAMIC_MAX_WORKERS = 5
TRANSITIONS: dict[str, tuple[set[JobState], JobState]] = {
    "start": ({JobState.DRAFT, JobState.PAUSED}, JobState.RUNNING),
    "pause": ({JobState.RUNNING}, JobState.PAUSED),
    "stop": ({JobState.DRAFT, JobState.RUNNING, JobState.PAUSED}, JobState.STOPPED),
}


@dataclass(frozen=True)
class JobSpec:
    """What `groundswell job create` and `POST /api/v1/jobs` accept; limits follow Ground Truth's.

    ``workers_per_item`` left ``None`` and the settings a request leaves out follow from ``accuracy_target``
    and ``preset`` (:mod:`groundswell.jobs.job_defaults`); :meth:`resolved` fills them in, and
    :func:`create_job` stores the resolved spec.
    """

    name: str
    dataset: str
    labels: list[str]
    instructions_md: str = ""
    workers_per_item: int | None = None
    max_workers_per_item: int | None = None
    task_time_limit_s: int = 300
    task_availability_s: int = 30 * 24 * 3600
    max_concurrent_tasks: int | None = None
    label_attribute_name: str | None = None
    teams: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    accuracy_target: float | None = None
    preset: str | None = None
    gold_items: int = 0
    #: Tweets are appended while it runs and it never completes by itself (stored as ``settings["streaming"]``).
    streaming: bool = False
    #: URLs that receive each final label (``jobs.label_feed``); the job's signing secret is made with them.
    webhooks: list[str] = field(default_factory=list)

    def resolved(self) -> JobSpec:
        """This spec with the defaults its request implies (``workers_per_item`` and ``settings`` complete)."""
        per_item, settings = resolve_job_request(
            self.workers_per_item, self.settings, accuracy_target=self.accuracy_target, preset=self.preset
        )
        if self.streaming:
            settings = {**settings, "streaming": True}
        return replace(self, workers_per_item=per_item, settings=settings, accuracy_target=None, preset=None)

    def max_answers(self) -> int:
        """The job's ``max_workers_per_item``: as given; else, under dynamic redundancy,
        :data:`DEFAULT_DYNAMIC_MAX_WORKERS` (at least two above the minimum, at most 9); else the minimum."""
        spec = self.resolved()
        assert spec.workers_per_item is not None
        if spec.max_workers_per_item is not None:
            return spec.max_workers_per_item
        if consolidation_settings(spec.settings).dynamic_redundancy:
            return min(9, max(DEFAULT_DYNAMIC_MAX_WORKERS, spec.workers_per_item + 2))
        return spec.workers_per_item

    def validate(self) -> None:
        """Refuse a request that cannot work, naming the flag; checks the resolved spec."""
        if self.accuracy_target is not None or self.preset is not None or self.workers_per_item is None:
            self.resolved().validate()
            return
        assert self.workers_per_item is not None  # resolved above
        if not 1 <= len(self.name) <= 63 or not _NAME.match(self.name):
            raise InvalidInputError(
                f"job name {self.name!r}: use 1–63 letters, digits and hyphens, starting and ending with a letter "
                "or digit (Ground Truth's rule)"
            )
        validate_labels(self.labels)
        if not 1 <= self.workers_per_item <= 9:
            raise InvalidInputError(f"--workers-per-item must be 1–9, got {self.workers_per_item}")
        maximum = self.max_answers()
        if not self.workers_per_item <= maximum <= 9:
            raise InvalidInputError(f"--max-workers-per-item must be {self.workers_per_item}–9, got {maximum}")
        validate_consolidation_settings(self.settings, self.workers_per_item, maximum)
        AutoLabelSettings.from_mapping(self.settings)  # refuses bad automated-labeling keys
        if not 30 <= self.task_time_limit_s <= 28_800:
            raise InvalidInputError(f"--task-time-limit must be 30–28800 seconds, got {self.task_time_limit_s}")
        if isinstance(self.gold_items, bool) or not isinstance(self.gold_items, int) or self.gold_items < 0:
            raise InvalidInputError(f"--gold-items must be a whole number ≥ 0, got {self.gold_items!r}")
        if self.task_availability_s < 60:
            raise InvalidInputError(f"--task-availability must be at least 60 seconds, got {self.task_availability_s}")
        if not isinstance(self.settings.get("streaming", False), bool):
            raise InvalidInputError(f"streaming must be true or false, got {self.settings['streaming']!r}")
        for url in self.webhooks:
            check_webhook_url(url)
        if self.max_concurrent_tasks is not None and not 1 <= self.max_concurrent_tasks <= 5000:
            raise InvalidInputError(f"--max-concurrent-tasks must be 1–5000, got {self.max_concurrent_tasks}")
        attribute = self.label_attribute_name or self.name
        if attribute in {"source", "source-ref"} or attribute.endswith("-metadata") or not attribute.strip():
            raise InvalidInputError(
                f"label attribute name {attribute!r} is reserved: not 'source', 'source-ref' or '*-metadata'"
            )


def create_job(session: Session, spec: JobSpec) -> Job:
    """A draft job with one routing row per dataset item (inserted in one statement, however many items).

    A streaming job's dataset is created when it does not exist yet: its tweets are to come by appending.
    """
    spec = spec.resolved()
    spec.validate()
    assert spec.workers_per_item is not None
    if session.scalar(select(Job.id).where(Job.name_key == spec.name.lower())) is not None:
        raise ConflictError(f"a job named {spec.name!r} already exists (job names ignore case)")
    streaming = bool(spec.settings.get("streaming"))
    dataset = _streaming_dataset(session, spec.dataset) if streaming else get_dataset(session, spec.dataset)
    teams = []
    for team_name in spec.teams:
        team = session.scalars(select(Team).where(Team.name == team_name)).one_or_none()
        if team is None:
            raise NotFoundError(f"no team named {team_name!r}; invite someone with --team {team_name} first")
        teams.append(team)
    schema = LabelSchema(name=spec.name, labels=validate_labels(spec.labels))
    session.add(schema)
    session.flush()
    job = Job(
        name=spec.name,
        name_key=spec.name.lower(),
        dataset_id=dataset.id,
        label_schema_id=schema.id,
        label_attribute_name=spec.label_attribute_name or spec.name,
        state=JobState.DRAFT,
        instructions_md=spec.instructions_md,
        workers_per_item=spec.workers_per_item,
        max_workers_per_item=spec.max_answers(),
        task_time_limit_s=spec.task_time_limit_s,
        task_availability_s=spec.task_availability_s,
        max_concurrent_tasks=spec.max_concurrent_tasks,
        settings=dict(spec.settings),
    )
    session.add(job)
    session.flush()
    session.add_all(JobTeam(job_id=job.id, team_id=team.id) for team in teams)
    for url in spec.webhooks:
        add_webhook(session, job, url)
    rows = select(
        literal(job.id),
        Item.id,
        literal(0.0),
        literal(spec.workers_per_item),
        literal(0),
        literal(0),
        literal(False),
        literal(False),
        literal(False),
    ).where(Item.dataset_id == dataset.id)
    columns = [
        "job_id",
        "item_id",
        "priority",
        "judgments_wanted",
        "judgments_accepted",
        "leases_active",
        "started",
        "is_gold",
        "is_done",
    ]
    session.execute(insert(JobItem).from_select(columns, rows))
    if not streaming and not session.scalar(select(func.count()).where(JobItem.job_id == job.id)):
        raise InvalidInputError(f"dataset {spec.dataset!r} has no items; import some first")
    if mark_gold_items(session, job, spec.gold_items, list(schema.labels)):
        job.settings = {**job.settings, "gold_items": spec.gold_items}
    return job


def _streaming_dataset(session: Session, name: str) -> Dataset:
    """The named dataset, created empty when there is none (a streaming job's tweets come later)."""
    found = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
    if found is not None:
        return found
    if not name.strip() or len(name) > 200:
        raise InvalidInputError(f"dataset name {name!r}: use 1–200 characters")
    dataset = Dataset(name=name)
    session.add(dataset)
    session.flush()
    return dataset


def is_streaming(job: JobRef) -> bool:
    """Whether tweets are appended to ``job`` while it runs (and so it never completes by itself)."""
    return bool((job.settings or {}).get("streaming"))


def get_job(session: Session, name: str, *, for_update: bool = False) -> Job:
    # populate_existing: the annotator hot path changes job rows with Core statements, past the identity map.
    query = select(Job).where(Job.name_key == name.lower()).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    job = session.scalars(query).one_or_none()
    if job is None:
        raise NotFoundError(f"no job named {name!r}")
    return job


def list_jobs(session: Session) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.created_at, Job.id)))


def job_labels(session: Session, job: Job) -> list[str]:
    schema = session.get(LabelSchema, job.label_schema_id)  # from the session's identity map after the first
    assert schema is not None  # foreign key
    return [str(label) for label in schema.labels]


def change_state(session: Session, name: str, action: str) -> Job:
    """Apply ``start``, ``pause`` or ``stop``; refuse transitions the state machine does not allow."""
    if action not in TRANSITIONS:
        raise InvalidInputError(f"unknown action {action!r}; use start, pause or stop")
    job = get_job(session, name, for_update=True)
    allowed, target = TRANSITIONS[action]
    if job.state not in allowed:
        raise ConflictError(f"job {job.name!r} is {job.state.value}; it cannot {action} (→ {target.value})")
    now = utcnow()
    job.state = target
    if target is JobState.RUNNING and job.started_at is None:
        job.started_at = now
    if target is JobState.STOPPED:
        job.finished_at = now
    return job


class JobRef(Protocol):
    """A job as the hot path holds it: an ORM ``Job`` or the routing's lighter row."""

    @property
    def id(self) -> int: ...

    @property
    def state(self) -> JobState: ...

    @property
    def settings(self) -> dict[str, Any]: ...


def maybe_complete(session: Session, job: JobRef) -> bool:
    """Mark a running job completed once no item is left to do; True when it did. A streaming job never
    completes here: more tweets may be appended at any time."""
    if job.state not in (JobState.RUNNING, JobState.PAUSED) or is_streaming(job):
        return False
    remaining = session.scalar(select(JobItem.item_id).where(JobItem.job_id == job.id, ~JobItem.is_done).limit(1))
    if remaining is not None:
        return False
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.state.in_([JobState.RUNNING, JobState.PAUSED]))
        .values(state=JobState.COMPLETED, finished_at=utcnow())
    )
    return True


def availability_ends(started_at: datetime | None, task_availability_s: int) -> datetime | None:
    """When tasks stop being offered: the availability lifetime counts from the job's first start."""
    return None if started_at is None else started_at + timedelta(seconds=task_availability_s)
