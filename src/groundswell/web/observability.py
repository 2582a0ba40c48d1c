"""The web app's operations surface: request telemetry on every route, ``GET /metrics`` for Prometheus, the
answers counter, and the work queue's depth and lag read from the database at scrape time.

Why ``/metrics`` takes no credentials: Prometheus scrapes with none by default, and what it shows is counts and
timings by route template, plus queue counts by kind: no tweet text, no names or emails, no ids. An operator
who does not want it public blocks ``/metrics`` at the reverse proxy and scrapes the processes' own address,
or turns it off with ``GROUNDSWELL_METRICS=false``.

Why the queue is read at scrape time and not counted as work is queued: rows are queued and claimed by other
processes (runners on other machines, any web process), so only the database knows the depth; one grouped,
indexed query per scrape costs the annotators' requests nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from fastapi import FastAPI, Response
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import WorkState
from groundswell.jobs.autolabel import AUTO_LABEL_WORK
from groundswell.jobs.consolidation import CONSOLIDATE_WORK
from groundswell.jobs.redundancy import REVIEW_WORK
from groundswell.store.db import transaction
from groundswell.store.queue import pending_work
from groundswell.store.tables import utcnow
from groundswell.telemetry.http import CONTENT_TYPE, RequestTelemetry, exposition

__all__ = ["ANSWERS", "QueueCollector", "count_answer", "install_observability"]

_log = logging.getLogger(__name__)

ANSWERS = Counter(
    "groundswell_answers_submitted", "Answers accepted from annotators (retries with a known key not counted)."
)

#: Kinds reported even when none is queued, so their series do not vanish (an alert on a missing series
#: cannot tell "empty" from "broken").
_KNOWN_KINDS = (CONSOLIDATE_WORK, AUTO_LABEL_WORK, REVIEW_WORK)
_STATES = (WorkState.QUEUED, WorkState.RUNNING)


def count_answer(replayed: bool) -> None:
    """Count one accepted answer; a replayed retry was counted when it first arrived."""
    if not replayed:
        ANSWERS.inc()


class QueueCollector(Collector):
    """``groundswell_work_queue_depth{kind,state}`` and ``groundswell_runner_lag_seconds``, from the database."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self, now: datetime | None = None) -> Iterator[GaugeMetricFamily]:
        try:
            with transaction(self.factory) as session:
                pending = pending_work(session)
        except SQLAlchemyError:  # the request metrics still answer; the database's own check is /healthz
            _log.warning("metrics: could not read the work queue", exc_info=True)
            return
        now = now or utcnow()
        depth = GaugeMetricFamily(
            "groundswell_work_queue_depth",
            "Background work items not finished, by kind and state (queued includes retries waiting their turn).",
            labels=["kind", "state"],
        )
        counts = {(kind, state.value): 0 for kind in _KNOWN_KINDS for state in _STATES}
        counts.update({(p.kind, p.state.value): p.count for p in pending})
        for (kind, state), count in sorted(counts.items()):
            depth.add_metric([kind, state], count)
        yield depth
        due = [p.earliest_run_after for p in pending if p.state == WorkState.QUEUED and p.earliest_run_after <= now]
        lag = (now - min(due)).total_seconds() if due else 0.0
        yield GaugeMetricFamily(
            "groundswell_runner_lag_seconds",
            "How long the oldest queued work item has been due without a runner taking it (0 when none waits).",
            value=lag,
        )


def install_observability(app: FastAPI, factory: sessionmaker[Session], *, metrics: bool) -> None:
    """Wrap ``app`` in the request telemetry and, with ``metrics``, serve ``GET /metrics``."""
    app.add_middleware(RequestTelemetry)
    if not metrics:
        return
    queue = QueueCollector(factory)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        # Synchronous on purpose: FastAPI runs it on a worker thread, so the queue query never blocks the loop.
        return Response(exposition([queue]), media_type=CONTENT_TYPE)
