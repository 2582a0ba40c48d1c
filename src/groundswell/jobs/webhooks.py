"""A job's webhooks: where its final labels are POSTed (``jobs.label_feed`` owes them, ``runner.webhooks``
sends them), and the secret that signs them.

One secret per job, made with its first webhook: a receiver that takes several of a team's jobs checks each
job's deliveries with that job's key. A webhook receives the labels that become final after it was added;
earlier ones are in the feed (``GET /api/v1/jobs/{name}/labels?since=0``) and the export.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from groundswell.errors import InvalidInputError, NotFoundError
from groundswell.store.tables import Job, Webhook, WebhookDelivery

__all__ = ["WebhookInfo", "add_webhook", "check_webhook_url", "list_webhooks", "remove_webhook", "webhook_info"]

_MAX_URL = 2048


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook and how its deliveries stand."""

    id: int
    url: str
    created_at: datetime
    delivered: int
    pending: int
    last_status: int | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "delivered": self.delivered,
            "pending": self.pending,
            "last_status": self.last_status,
            "last_error": self.last_error,
        }


def check_webhook_url(url: str) -> str:
    """The URL as given when it can receive POSTs (http or https, with a host), else ``InvalidInputError``."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError("webhook url must be an http:// or https:// URL")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"webhook url must be an http:// or https:// URL with a host, got {url!r}")
    if len(url) > _MAX_URL:
        raise InvalidInputError(f"webhook url is longer than {_MAX_URL} characters")
    return url


def add_webhook(session: Session, job: Job, url: str) -> tuple[WebhookInfo, str]:
    """Send the job's final labels from now on to ``url``. Returns the webhook and the job's signing secret
    (made with the first webhook; every webhook of the job signs with it)."""
    url = check_webhook_url(url)
    if job.webhook_secret is None:
        job.webhook_secret = secrets.token_hex(32)
    hook = Webhook(job_id=job.id, url=url)
    session.add(hook)
    session.flush()
    return _info(session, [hook])[0], job.webhook_secret


def list_webhooks(session: Session, job: Job) -> list[WebhookInfo]:
    """The job's webhooks, oldest first, with their delivery counts."""
    hooks = session.scalars(select(Webhook).where(Webhook.job_id == job.id).order_by(Webhook.id)).all()
    return _info(session, list(hooks))


def webhook_info(session: Session, job: Job, webhook_id: int) -> WebhookInfo:
    """One webhook of the job, or ``NotFoundError``."""
    hook = session.scalar(select(Webhook).where(Webhook.job_id == job.id, Webhook.id == webhook_id))
    if hook is None:
        raise NotFoundError(f"job {job.name!r} has no webhook {webhook_id}")
    return _info(session, [hook])[0]


def remove_webhook(session: Session, job: Job, webhook_id: int) -> None:
    """Stop sending to a webhook; what it was still owed is dropped with it."""
    hook = session.scalar(select(Webhook).where(Webhook.job_id == job.id, Webhook.id == webhook_id))
    if hook is None:
        raise NotFoundError(f"job {job.name!r} has no webhook {webhook_id}")
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id))
    session.delete(hook)


def _info(session: Session, hooks: Sequence[Webhook]) -> list[WebhookInfo]:
    if not hooks:
        return []
    ids = [h.id for h in hooks]
    counts = {
        (hook_id, done): int(n)
        for hook_id, done, n in session.execute(
            select(
                WebhookDelivery.webhook_id,
                WebhookDelivery.delivered_at.is_not(None),
                func.count(),
            )
            .where(WebhookDelivery.webhook_id.in_(ids))
            .group_by(WebhookDelivery.webhook_id, WebhookDelivery.delivered_at.is_not(None))
        )
    }
    last: dict[int, tuple[int | None, str | None]] = {}
    latest = (
        select(WebhookDelivery.webhook_id, func.max(WebhookDelivery.id).label("id"))
        .where(WebhookDelivery.webhook_id.in_(ids), WebhookDelivery.attempts > 0)
        .group_by(WebhookDelivery.webhook_id)
        .subquery()
    )
    for hook_id, status, error in session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.last_status, WebhookDelivery.last_error).join(
            latest, latest.c.id == WebhookDelivery.id
        )
    ):
        last[hook_id] = (status, error)
    return [
        WebhookInfo(
            h.id,
            h.url,
            h.created_at,
            counts.get((h.id, True), 0),
            counts.get((h.id, False), 0),
            *last.get(h.id, (None, None)),
        )
        for h in hooks
    ]
