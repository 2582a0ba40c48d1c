"""Use cases of labeling jobs: create and run jobs, route tasks, record answers, report progress, export.

The web app and the CLI call these functions and nothing below them; they take a SQLAlchemy session and
plain values, and raise the errors of ``groundswell.errors``.
"""

from groundswell.jobs.annotate.routing import NoTask, SubmitResult, Task, next_task, submit_answer
from groundswell.jobs.annotate.take_back import decline_task, undo_last_answer
from groundswell.jobs.labels import parse_label_config, parse_labels
from groundswell.jobs.lifecycle import JobSpec, change_state, create_job, get_job, job_labels, list_jobs
from groundswell.jobs.people import (
    READ_ONLY_ROLE,
    api_key_holder,
    create_admin,
    create_invite,
    create_web_session,
    ensure_team,
    may_work_on,
    redeem_invite,
    worker_for_api_key,
    worker_for_session,
)
from groundswell.jobs.progress import AnnotatorStats, JobProgress, annotator_stats, job_progress
from groundswell.jobs.quality import JobQuality, job_quality

__all__ = [
    "READ_ONLY_ROLE",
    "AnnotatorStats",
    "JobProgress",
    "JobQuality",
    "JobSpec",
    "NoTask",
    "SubmitResult",
    "Task",
    "annotator_stats",
    "api_key_holder",
    "change_state",
    "create_admin",
    "create_invite",
    "create_job",
    "create_web_session",
    "decline_task",
    "ensure_team",
    "get_job",
    "job_labels",
    "job_progress",
    "job_quality",
    "list_jobs",
    "may_work_on",
    "next_task",
    "parse_label_config",
    "parse_labels",
    "redeem_invite",
    "submit_answer",
    "undo_last_answer",
    "worker_for_api_key",
    "worker_for_session",
]
