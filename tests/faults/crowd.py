"""Simulated annotators for the fault tests, and the invariants checked in the database afterwards.

Each annotator is a thread with its own httpx client, signed in by an invite link as a person is (session
cookie + CSRF header, so on PostgreSQL its answers take the one-statement hot path). It works as a careful
client should against a service that may crash: every answer carries an idempotency key, and a request that
ends in a connection error or a 5xx is sent again, the same answer with the same key, until it gets a
definite reply. Half the annotators ask for their next task inside the answer (as the web UI does), half ask
separately; now and then one repeats an answer that already succeeded (a double click, a retry after a lost
reply).

:func:`check_invariants` then reads the tables directly: what the clients were told (the tally) against what
the database holds.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from factories import LABELS, make_dataset
from groundswell import jobs
from groundswell.domain import JobState, LeaseState
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.tables import JobItem, Judgment, TaskLease

JOB = "faults"
PER_ITEM = 3


def prepare_job(database_url: str, *, items: int, annotators: int) -> list[str]:
    """A fresh store with ``items`` tweets, a running job asking 3 answers each, and one invite token per
    annotator."""
    engine = make_engine(database_url)
    try:
        prepare_store(engine)
        factory = make_session_factory(engine)
        make_dataset(factory, "fault-tweets", count=items)
        with transaction(factory) as session:
            jobs.create_job(
                session, jobs.JobSpec(name=JOB, dataset="fault-tweets", labels=LABELS, workers_per_item=PER_ITEM)
            )
            jobs.change_state(session, JOB, "start")
            return [
                jobs.create_invite(session, f"crowd{i}@example.org", team=None, valid_for=timedelta(days=1))[1]
                for i in range(annotators)
            ]
    finally:
        engine.dispose()


@dataclass
class Tally:
    """What the clients saw, filled in by every annotator thread under one lock."""

    #: (annotator, idempotency key) → judgment id of every answer that got a 200.
    acknowledged: dict[tuple[int, str], int] = field(default_factory=dict)
    #: Answers acknowledged again with a *different* judgment id (a duplicate: must stay empty).
    mismatched: list[tuple[int, str, int, int]] = field(default_factory=list)
    replays: int = 0
    transport_errors: int = 0
    #: Every 5xx: (status, headers, body).
    server_errors: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    #: Any other reply that was not the expected one: (method path, status, body). Must stay empty.
    refusals: list[tuple[str, int, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def summary(self) -> str:
        """For failure messages: what the clients saw so far."""
        with self.lock:
            return (
                f"{len(self.acknowledged)} answers acknowledged ({self.replays} replays), "
                f"{self.transport_errors} connection errors, {len(self.server_errors)} 5xx "
                f"(last: {self.server_errors[-1:]}), refusals {self.refusals[-3:]}, failures {self.failures}"
            )


def wait_for(condition: Callable[[], object], what: str, *, deadline: float, crowd: Crowd | None = None) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail naming ``what`` (and what the crowd saw) at
    ``deadline`` (a ``time.monotonic()`` value)."""
    while not condition():
        if crowd is not None and crowd.failed.is_set():
            raise AssertionError(f"an annotator failed while waiting for {what}; {crowd.tally.summary()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"; {crowd.tally.summary()}" if crowd else ""))
        time.sleep(0.01)


class Crowd:
    """``len(tokens)`` annotators working on :data:`JOB` at ``url`` until it completes (or ``deadline_s``)."""

    def __init__(self, url: str, tokens: list[str], *, deadline_s: float = 120.0) -> None:
        self.url = url
        self.tokens = tokens
        self.tally = Tally()
        self.deadline = time.monotonic() + deadline_s
        self._signed_in = threading.Barrier(len(tokens) + 1)
        #: Set when an annotator fails: the others stop too (the job could not complete without it).
        self.failed = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i, token), name=f"annotator-{i}", daemon=True)
            for i, token in enumerate(tokens)
        ]

    def start(self) -> None:
        """Start every annotator and return once all are signed in (invite links are single-use: a sign-in
        must not be cut by a fault, so faults come after this)."""
        for thread in self._threads:
            thread.start()
        self._signed_in.wait(timeout=60)

    def wait_answered(self, share: float, total: int) -> None:
        """Return once ``share`` of ``total`` answers are acknowledged."""
        wanted = share * total
        wait_for(lambda: self.tally.answered() >= wanted, f"{share:.0%} answered", deadline=self.deadline, crowd=self)

    def join(self) -> Tally:
        for thread in self._threads:
            thread.join(timeout=max(1.0, self.deadline - time.monotonic() + 15))
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"annotators still working after the deadline: {alive}; {self.tally.summary()}"
        assert not self.tally.failures, self.tally.summary()
        return self.tally

    # --- one annotator ------------------------------------------------------------------------------------

    def _run(self, index: int, token: str) -> None:
        try:
            self._annotate(index, token)
        except BaseException as exc:  # reported by join(), in the test's own thread
            with self.tally.lock:
                self.tally.failures.append(f"annotator {index}: {type(exc).__name__}: {exc}")
            self.failed.set()
            self._signed_in.abort()

    def _annotate(self, index: int, token: str) -> None:
        rng = random.Random(index)
        combined = index % 2 == 0
        with httpx.Client(base_url=self.url, timeout=15) as client:
            assert client.post(f"/invite/{token}").status_code == 303
            page = client.get(f"/annotate/{JOB}")
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
            assert csrf, page.text[:300]
            headers = {"X-CSRF-Token": csrf.group(1)}
            self._signed_in.wait(timeout=60)
            task: dict[str, Any] | None = None
            while not self.failed.is_set():
                if task is None:
                    response = self._call(client, f"/api/v1/jobs/{JOB}/tasks/next", {"exclude": []}, headers)
                    task, reason = response.json()["task"], response.json()["reason"]
                    if task is None:
                        if reason and "completed" in reason:
                            return
                        time.sleep(0.05)  # every open slot is held by someone else right now
                        continue
                lease = task["lease_id"]
                body: dict[str, Any] = {"label": rng.choice(LABELS), "idempotency_key": f"a{index}-{lease}"}
                if combined:
                    body["next"] = {"exclude": []}
                task = None
                for _ in range(2 if rng.random() < 0.1 else 1):  # now and then, the same answer twice
                    response = self._call(client, f"/api/v1/tasks/{lease}/submit", body, headers)
                    task = self._acknowledge(index, body["idempotency_key"], response, combined)

    def _call(self, client: httpx.Client, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        """POST until a reply other than a connection error or a 5xx, and return it if it is a 200. Anything
        else (a 4xx) is recorded and ends this annotator: no fault here may make the service refuse an
        answer or a task, and retrying a refusal would only spin until the deadline."""
        pause = 0.02
        last: object = None
        while not self.failed.is_set():
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"POST {path}: no answer before the deadline; last status {last}")
            try:
                response = client.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                last = exc
                with self.tally.lock:
                    self.tally.transport_errors += 1
            else:
                last = response.status_code
                if response.status_code < 500:
                    if response.status_code != 200:
                        with self.tally.lock:
                            self.tally.refusals.append((path, response.status_code, response.text[:300]))
                        raise AssertionError(f"POST {path}: {response.status_code} {response.text[:300]}")
                    return response
                with self.tally.lock:
                    self.tally.server_errors.append((response.status_code, dict(response.headers), response.text[:500]))
            time.sleep(pause)
            pause = min(pause * 2, 0.25)
        raise RuntimeError("stopped: another annotator failed")

    def _acknowledge(self, index: int, key: str, response: httpx.Response, combined: bool) -> dict[str, Any] | None:
        answer = response.json()
        with self.tally.lock:
            known = self.tally.acknowledged.setdefault((index, key), answer["judgment_id"])
            if known != answer["judgment_id"]:
                self.tally.mismatched.append((index, key, known, answer["judgment_id"]))
            self.tally.replays += bool(answer["replayed"])
        if combined and answer.get("next"):
            task: dict[str, Any] | None = answer["next"]["task"]
            return task
        return None


# --- invariants ---------------------------------------------------------------------------------------------


def assert_all_unavailable(tally: Tally) -> None:
    """Every 5xx the clients saw is a 503 in the documented error shape, asking them to retry: the service
    says "not now", never "bug" (a 500) or a bare proxy page."""
    assert tally.server_errors, "the clients never saw the fault"
    for status, headers, body in tally.server_errors:
        assert status == 503, body
        parsed = json.loads(body)
        assert set(parsed) == {"ok", "error", "errors", "status"} and parsed["ok"] is False, parsed
        assert parsed["status"] == 503 and parsed["errors"] == [parsed["error"]], parsed
        assert "unavailable" in parsed["error"] and int(headers["retry-after"]) > 0, (parsed, headers)
        assert "sqlite" not in body.lower() and "127.0.0.1" not in body  # the driver's detail stays in the log


def check_invariants(database_url: str, tally: Tally) -> None:
    """Acknowledged answers all stored, none twice, no tweet over its count, counters equal to the rows.

    * every answer a client got a 200 for is stored under its key, with the id it was told, and nothing else
      is stored (a client retries until it hears back, so an answer committed before a crash is acknowledged
      by the replay of its retry);
    * one judgment per (annotator, idempotency key), per lease, and per (tweet, annotator);
    * per tweet: accepted + reserved ≤ wanted (the CHECK constraint's rule, read back), ``judgments_accepted``
      equal to its stored answers and ``leases_active`` to its active leases; every lease answered has
      exactly one answer and is closed;
    * the job completed: every tweet has its 3 answers and nothing is still reserved;
    * on SQLite, ``PRAGMA integrity_check`` finds the file sound.
    """
    assert not tally.mismatched, f"one key acknowledged as two judgments: {tally.mismatched[:5]}"
    assert not tally.refusals, f"answers or next-task requests refused: {tally.refusals[:5]}"
    engine = make_engine(database_url)
    try:
        factory: sessionmaker[Session] = make_session_factory(engine)
        with factory() as session:
            job = jobs.get_job(session, JOB)
            assert job.state is JobState.COMPLETED
            stored = session.execute(
                select(Judgment.id, Judgment.idempotency_key, Judgment.item_id, Judgment.worker_id, Judgment.lease_id)
                .where(Judgment.job_id == job.id)
                .order_by(Judgment.id)
            ).all()
            counters = {
                row.item_id: row for row in session.scalars(select(JobItem).where(JobItem.job_id == job.id)).all()
            }
            active = Counter(
                session.scalars(
                    select(TaskLease.item_id).where(TaskLease.job_id == job.id, TaskLease.state == LeaseState.ACTIVE)
                ).all()
            )
            submitted = set(
                session.scalars(
                    select(TaskLease.id).where(TaskLease.job_id == job.id, TaskLease.state == LeaseState.SUBMITTED)
                ).all()
            )
            over = session.scalar(
                select(func.count())
                .select_from(JobItem)
                .where(JobItem.judgments_accepted + JobItem.leases_active > JobItem.judgments_wanted)
            )
            if engine.dialect.name == "sqlite":  # a write killed half-way left no damage in the file
                assert session.execute(text("PRAGMA integrity_check")).all() == [("ok",)]
    finally:
        engine.dispose()

    acknowledged_ids = sorted(tally.acknowledged.values())
    stored_ids = [row.id for row in stored]
    lost = set(acknowledged_ids) - set(stored_ids)
    assert not lost, f"{len(lost)} acknowledged answers are not stored: {sorted(lost)[:10]}"
    assert len(set(acknowledged_ids)) == len(acknowledged_ids), "two keys acknowledged as one judgment"
    assert stored_ids == acknowledged_ids, f"stored but never acknowledged: {sorted(set(stored_ids) - lost)[:10]}"
    stored_keys = {row.id: row.idempotency_key for row in stored}
    assert all(stored_keys[judgment] == key for (_, key), judgment in tally.acknowledged.items())
    assert len({(row.worker_id, row.idempotency_key) for row in stored}) == len(stored)
    assert len({row.lease_id for row in stored}) == len(stored) and {row.lease_id for row in stored} == submitted
    assert len({(row.item_id, row.worker_id) for row in stored}) == len(stored), "an annotator answered twice"

    per_item = Counter(row.item_id for row in stored)
    assert over == 0
    assert {item: row.judgments_accepted for item, row in counters.items()} == {i: per_item[i] for i in counters}
    assert {item: row.leases_active for item, row in counters.items()} == {i: active[i] for i in counters}
    assert all(row.judgments_accepted == PER_ITEM and row.is_done for row in counters.values())
    assert not active, f"leases still active after the job completed: {dict(active)}"
