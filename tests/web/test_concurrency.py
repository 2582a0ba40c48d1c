"""Exactly-N under real concurrency: two server processes on one database, 32 annotators at once."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from factories import make_dataset
from groundswell import jobs
from groundswell.jobs.answers import effective_judgments_query
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.tables import JobItem, Judgment
from servers import start_server, stop_server

ANNOTATORS = 32
ITEMS = 120
PER_ITEM = 3


def _annotate(base: str, token: str, seed: int) -> list[tuple[int, bool]]:
    """One annotator working until no work is left; returns (judgment id, replayed) of acknowledged submits."""
    rng = random.Random(seed)
    acknowledged: list[tuple[int, bool]] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.post(f"/invite/{token}").status_code == 303  # signed in; the cookie is in the jar
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/annotate/crowd").text)
        assert csrf
        headers = {"X-CSRF-Token": csrf.group(1)}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            response = client.post("/api/v1/jobs/crowd/tasks/next", json={"exclude": []}, headers=headers)
            response.raise_for_status()
            task = response.json()["task"]
            if task is None:
                if "completed" in response.json()["reason"]:
                    return acknowledged
                # Every free slot is held by someone right now; a skip may free one later.
                time.sleep(0.05)
                continue
            if rng.random() < 0.1:
                assert client.post(f"/api/v1/tasks/{task['lease_id']}/decline", headers=headers).status_code == 204
                continue
            body = {
                "label": rng.choice(["positive", "negative", "neutral"]),
                "idempotency_key": f"{seed}-{task['lease_id']}",
            }
            for _ in range(2 if rng.random() < 0.2 else 1):  # some clients retry a submit that succeeded
                answer = client.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers)
                assert answer.status_code == 200, answer.text
                acknowledged.append((answer.json()["judgment_id"], answer.json()["replayed"]))
        raise AssertionError("the job did not complete within 240 s")


@pytest.mark.slow
def test_two_processes_and_32_annotators_never_over_assign(store_url: str, tmp_path: Path) -> None:
    engine = make_engine(store_url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    make_dataset(factory, "crowd-tweets", count=ITEMS)
    with transaction(factory) as session:
        jobs.create_job(
            session, jobs.JobSpec(name="crowd", dataset="crowd-tweets", labels=["positive", "negative", "neutral"])
        )
        jobs.change_state(session, "crowd", "start")
        tokens = [
            jobs.create_invite(session, f"a{i}@example.org", team=None, valid_for=timedelta(days=1))[1]
            for i in range(ANNOTATORS)
        ]
    server = start_server(store_url, tmp_path, workers=2)
    try:
        with ThreadPoolExecutor(ANNOTATORS) as pool:
            results = list(pool.map(_annotate, [server.url] * ANNOTATORS, tokens, range(ANNOTATORS)))
    finally:
        stop_server(server)

    acknowledged = [ack for per_worker in results for ack in per_worker]
    first_time = {judgment_id for judgment_id, replayed in acknowledged if not replayed}
    replays = {judgment_id for judgment_id, replayed in acknowledged if replayed}
    with factory() as session:
        job = jobs.get_job(session, "crowd")
        stored = session.scalars(select(Judgment.id).where(Judgment.job_id == job.id)).all()
        effective = session.execute(
            effective_judgments_query(job.id).with_only_columns(Judgment.item_id, Judgment.worker_id)
        ).all()
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job.id)).all()
        state = jobs.get_job(session, "crowd").state.value
        assert session.scalar(select(func.count()).select_from(JobItem).where(JobItem.leases_active != 0)) == 0
    # Every acknowledged answer is stored exactly once; retries returned the original row.
    assert sorted(stored) == sorted(first_time)
    assert replays <= first_time
    # No item above its count, no worker twice on an item, every item finished.
    per_item = Counter(item for item, _ in effective)
    assert max(per_item.values()) == PER_ITEM and len(per_item) == ITEMS
    assert len(set(effective)) == len(effective)
    assert all(r.judgments_accepted == PER_ITEM and r.is_done for r in rows)
    assert state == "completed"
    engine.dispose()
