"""Labels out as they become final (issue 16, item 2): the feed and its cursor, webhooks signed, retried from a
durable outbox, on each database."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from factories import answer, make_dataset, make_job, make_workers, take
from groundswell import jobs
from groundswell.errors import InvalidInputError, NotFoundError
from groundswell.jobs import NoTask, Task
from groundswell.jobs.annotate import routing_sql
from groundswell.jobs.label_feed import feed_page, parse_since, sequence_events
from groundswell.jobs.setup import prepare_store
from groundswell.jobs.webhooks import add_webhook, list_webhooks, remove_webhook
from groundswell.runner.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    deliver_pending,
)
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, JobItem, LabelEvent, WebhookDelivery, utcnow
from receiver import Receiver
from servers import free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def client() -> Iterator[WebhookSender]:
    with WebhookSender(timeout=5) as sender:
        yield sender


def _label_all(factory: sessionmaker[Session], job: str, workers: list[Any], label: str = "positive") -> list[str]:
    """Each worker answers every task it can get; the external ids of the items answered, in order."""
    order = []
    for worker in workers:
        while not isinstance(task := take(factory, job, worker), NoTask):
            answer(factory, worker, task, label)
            order.append(task.external_id)
    return order


def _feed(factory: sessionmaker[Session], job: str, since: int = 0, **kwargs: Any) -> tuple[list[str], int]:
    with transaction(factory) as session:
        page = feed_page(session, jobs.get_job(session, job), since=since, **kwargs)
        return [row.item.external_id for row in page.rows], page.next_since


def test_a_label_enters_the_feed_once_when_its_item_is_done_and_the_cursor_moves_past_it(
    factory: sessionmaker[Session], dataset: str
) -> None:
    job = make_job(factory, dataset, "two", workers_per_item=2)
    first, second = make_workers(factory, 2)
    assert _label_all(factory, job, [first])  # one answer each: nothing is final yet
    assert _feed(factory, job) == ([], 0)
    done = _label_all(factory, job, [second])
    ids, cursor = _feed(factory, job)
    assert ids == done and len(ids) == 10
    assert _feed(factory, job, since=cursor) == ([], cursor)  # nothing new: the same cursor back
    head, middle = _feed(factory, job, limit=4)
    assert head == done[:4]
    assert _feed(factory, job, since=middle)[0] == done[4:]


def test_a_final_label_that_changes_is_a_new_event_and_one_that_only_changes_confidence_is_not(
    factory: sessionmaker[Session], job: str, workers: list[Any]
) -> None:
    _label_all(factory, job, workers)
    _, cursor = _feed(factory, job)
    with transaction(factory) as session:
        row = session.scalars(select(ConsolidatedLabel).order_by(ConsolidatedLabel.item_id).limit(1)).one()
        row.confidence = 0.5
    assert _feed(factory, job, since=cursor) == ([], cursor)
    with transaction(factory) as session:
        session.execute(
            update(ConsolidatedLabel)
            .where(ConsolidatedLabel.item_id == row.item_id)
            .values(label="negative", class_index=0)
        )
    with transaction(factory) as session:
        page = feed_page(session, jobs.get_job(session, job), since=cursor)
        assert [(r.item.id, r.label.label) for r in page.rows] == [(row.item_id, "negative")]
        line = page.rows[0].manifest_line(jobs.get_job(session, job))
        assert line["job"] == 0 and line["job-metadata"]["class-name"] == "negative"


@pytest.mark.parametrize("functions", [True, False], ids=["functions", "general"])
def test_a_final_answer_that_changes_the_vote_is_one_event_with_the_final_label(
    factory: sessionmaker[Session], dataset: str, functions: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third of three answers both finishes the item and turns its vote from A to B: one event, for B (on
    PostgreSQL, through the submit function and through the general path alike)."""
    job = make_job(factory, dataset, "three", workers_per_item=3)
    workers = make_workers(factory, 3)
    tasks = [take(factory, job, worker) for worker in workers]
    assert all(isinstance(task, Task) for task in tasks)
    item_id = tasks[0].item_id
    assert {task.item_id for task in tasks} == {item_id}
    # Two answers tie; the tie goes to the tied label at position item id mod 2 (answer_vote's rule): that's A.
    a, b = ("positive", "negative") if item_id % 2 == 0 else ("negative", "positive")
    for worker, task, label in zip(workers[:2], tasks[:2], [a, b], strict=True):
        answer(factory, worker, task, label, functions=functions)
    with factory() as session:
        assert session.scalars(select(ConsolidatedLabel.label).where(ConsolidatedLabel.item_id == item_id)).one() == a
    assert _feed(factory, job) == ([], 0)

    if functions and factory.kw["bind"].dialect.name == "postgresql":  # the answer must take the function
        monkeypatch.setattr(routing_sql, "submit_reads", lambda *args: pytest.fail("the general path ran"))
    answer(factory, workers[2], tasks[2], b, functions=functions)
    monkeypatch.undo()

    with factory() as session:
        events = session.scalars(select(LabelEvent.item_id).where(LabelEvent.job_id == jobs.get_job(session, job).id))
        assert events.all() == [item_id]
    with transaction(factory) as session:
        page = feed_page(session, jobs.get_job(session, job), since=0)
        assert [(row.item.id, row.label.label) for row in page.rows] == [(item_id, b)]


def test_the_cursor_is_checked(factory: sessionmaker[Session], job: str) -> None:
    assert parse_since(None) == 0 and parse_since("17") == 17
    for bad in ("x", "-1", "1.5"):
        with pytest.raises(InvalidInputError, match="since"):
            parse_since(bad)


def test_a_webhook_gets_each_final_label_signed_with_the_jobs_secret(
    factory: sessionmaker[Session], job: str, workers: list[Any], receiver: Receiver, client: WebhookSender
) -> None:
    with transaction(factory) as session:
        info, secret = add_webhook(session, jobs.get_job(session, job), receiver.url)
    done = _label_all(factory, job, workers)
    outcomes = deliver_pending(factory, client)
    assert len(outcomes) == 10 and all(o.delivered for o in outcomes)
    # Sent concurrently, they may arrive in any order; X-Groundswell-Event gives each one's place in the feed.
    # Three answers per tweet: each is final at its third answer, the third worker's, in that worker's order.
    in_feed_order = sorted(receiver.requests, key=lambda request: int(request[0][EVENT_HEADER]))
    assert [json.loads(body)["source"] for _, body in in_feed_order] == [f"tweet {i}" for i in _numbers(done[-10:])]
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER] == expected
        assert headers["Content-Type"] == "application/json"
    assert len({h[DELIVERY_HEADER] for h, _ in receiver.requests}) == 10
    assert deliver_pending(factory, client) == []  # delivered once
    with factory() as session:
        (listed,) = list_webhooks(session, jobs.get_job(session, job))
    assert (listed.id, listed.delivered, listed.pending, listed.last_status) == (info.id, 10, 0, 204)


def _numbers(external_ids: list[str]) -> list[int]:
    with_numbers = []
    for external_id in external_ids:
        with_numbers.append(int(external_id.rsplit("-", 1)[-1]) if "-" in external_id else int(external_id[1:]))
    return with_numbers


def test_a_failed_delivery_is_retried_with_backoff_until_the_receiver_answers(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], client: WebhookSender
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    receiver = Receiver(fail_first=3)
    try:
        with transaction(factory) as session:
            add_webhook(session, jobs.get_job(session, job), receiver.url)
        task = take(factory, job, workers[0])
        assert not isinstance(task, NoTask)
        answer(factory, workers[0], task, "neutral")
        clock = utcnow()
        first = deliver_pending(factory, client, clock=lambda: clock)
        assert [(o.delivered, o.status) for o in first] == [(False, 503)]
        assert deliver_pending(factory, client, clock=lambda: clock) == []  # not due again yet
        waits = []
        for _ in range(2):
            due = _next_attempt(factory)
            waits.append((due - clock).total_seconds())
            clock = due
            assert [o.status for o in deliver_pending(factory, client, clock=lambda at=due: at)] == [503]
        clock = _next_attempt(factory)
        assert [(o.delivered, o.status) for o in deliver_pending(factory, client, clock=lambda: clock)] == [(True, 204)]
        assert len(receiver.requests) == 1 and receiver.lines()[0]["one-metadata"]["class-name"] == "neutral"
        assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # doubling, with jitter
    finally:
        receiver.close()


def _next_attempt(factory: sessionmaker[Session]) -> Any:
    with factory() as session:
        return session.scalars(select(WebhookDelivery.next_attempt_at)).one()


def test_a_closed_port_is_retried_and_the_outbox_survives_a_restart(
    store_url: str, engine: Engine, factory: sessionmaker[Session], job: str, workers: list[Any], client: WebhookSender
) -> None:
    port = free_port()
    with transaction(factory) as session:
        add_webhook(session, jobs.get_job(session, job), f"http://127.0.0.1:{port}/hook")
    _label_all(factory, job, workers)
    failed = deliver_pending(factory, client)
    assert len(failed) == 10 and not any(o.delivered for o in failed) and "Connect" in (failed[0].error or "")
    engine.dispose()  # the process goes away; the outbox is rows
    again = make_engine(store_url)
    try:
        receiver = Receiver(port=port)
        later = utcnow() + timedelta(minutes=10)
        delivered = deliver_pending(make_session_factory(again), client, clock=lambda: later)
        assert len(delivered) == 10 and all(o.delivered for o in delivered)
        assert len(receiver.lines()) == 10
        receiver.close()
    finally:
        again.dispose()


def test_a_delivery_claimed_by_a_sender_that_died_is_sent_after_its_lease(
    factory: sessionmaker[Session], dataset: str, workers: list[Any], receiver: Receiver, client: WebhookSender
) -> None:
    job = make_job(factory, dataset, "one", workers_per_item=1)
    with transaction(factory) as session:
        add_webhook(session, jobs.get_job(session, job), receiver.url)
    task = take(factory, job, workers[0])
    assert not isinstance(task, NoTask)
    answer(factory, workers[0], task)
    now = utcnow()

    class Died(Exception):
        pass

    def die(request: httpx.Request) -> httpx.Response:
        raise Died

    with WebhookSender(transport=httpx.MockTransport(die)) as dying, pytest.raises(Died):
        deliver_pending(factory, dying, clock=lambda: now)
    assert deliver_pending(factory, client, clock=lambda: now + timedelta(seconds=30)) == []  # still leased
    sent = deliver_pending(factory, client, clock=lambda: now + timedelta(seconds=61))
    assert [o.delivered for o in sent] == [True] and len(receiver.requests) == 1


def test_webhooks_are_checked_listed_and_removed(factory: sessionmaker[Session], job: str) -> None:
    with transaction(factory) as session:
        the_job = jobs.get_job(session, job)
        for bad in ("ftp://x.org/h", "http:///nohost", "", "x" * 10):
            with pytest.raises(InvalidInputError, match="webhook url"):
                add_webhook(session, the_job, bad)
        one, secret = add_webhook(session, the_job, "https://example.org/a")
        _, same = add_webhook(session, the_job, "https://example.org/b")
        assert secret == same and len(secret) == 64
        remove_webhook(session, the_job, one.id)
        assert [h.url for h in list_webhooks(session, the_job)] == ["https://example.org/b"]
        with pytest.raises(NotFoundError):
            remove_webhook(session, the_job, one.id)


def test_a_job_created_with_webhooks_owes_them_its_labels(factory: sessionmaker[Session], dataset: str) -> None:
    job = make_job(factory, dataset, "hooked", workers_per_item=1, webhooks=["http://127.0.0.1:9/x"])
    _label_all(factory, job, make_workers(factory, 1))
    with transaction(factory) as session:
        assert sequence_events(session) == 10
        assert len(session.scalars(select(WebhookDelivery.id)).all()) == 10
        assert sequence_events(session) == 0
        seqs = session.scalars(select(LabelEvent.seq).order_by(LabelEvent.id)).all()
    assert seqs == sorted(seqs) and len(set(seqs)) == 10


def test_an_event_that_commits_between_the_sequencers_statements_is_numbered_and_owed(postgres_url: str) -> None:
    """PostgreSQL (READ COMMITTED: each statement its own snapshot): an event with a lower id that commits after
    the sequencer read the unnumbered ids, but before it numbers them, is numbered and owed to the webhook too."""
    engine = make_engine(postgres_url)
    prepare_store(engine)
    factory = make_session_factory(engine)
    try:
        job = make_job(factory, make_dataset(factory), "late", workers_per_item=1, webhooks=["http://127.0.0.1:9/h"])
        with factory() as session:
            job_id = jobs.get_job(session, job).id
            first, second = session.scalars(select(JobItem.item_id).order_by(JobItem.item_id).limit(2)).all()
        late = engine.connect()
        late_transaction = late.begin()
        _finalize(late, job_id, first)  # its event gets the lower id, and stays uncommitted for now
        with transaction(factory) as session:
            _finalize(session, job_id, second)

        def commit_late(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE LABEL_EVENTS") and late_transaction.is_active:
                late_transaction.commit()

        event.listen(engine, "before_cursor_execute", commit_late)
        try:
            with transaction(factory) as session:
                assert sequence_events(session) == 2
        finally:
            event.remove(engine, "before_cursor_execute", commit_late)
            late.close()
        with factory() as session:
            owed = session.scalars(select(LabelEvent.item_id).join(WebhookDelivery).order_by(LabelEvent.seq)).all()
        assert owed == [first, second]  # both owed; one transaction numbers them together, in id order
    finally:
        engine.dispose()


def _finalize(connection: Any, job_id: int, item_id: int) -> None:
    connection.execute(update(JobItem).where(JobItem.item_id == item_id).values(is_done=True))
    connection.execute(
        insert(ConsolidatedLabel).values(
            job_id=job_id, item_id=item_id, label="positive", class_index=2, confidence=1.0, method="mv",
            human_annotated=True, judgment_count=1, updated_at=utcnow(),
        )
    )  # fmt: skip


def test_a_receiver_that_is_down_pauses_its_webhook_and_not_the_others(
    factory: sessionmaker[Session], dataset: str, receiver: Receiver, client: WebhookSender
) -> None:
    job = make_job(factory, dataset, "two-hooks", workers_per_item=1)
    with transaction(factory) as session:
        the_job = jobs.get_job(session, job)
        dead, _ = add_webhook(session, the_job, f"http://127.0.0.1:{free_port()}/gone")
        add_webhook(session, the_job, receiver.url)
    (worker,) = make_workers(factory, 1)
    while not isinstance(task := take(factory, job, worker), NoTask):
        answer(factory, worker, task)
    now = utcnow()
    first = deliver_pending(factory, client, limit=4, clock=lambda: now)  # two labels, to each webhook
    assert sorted(o.delivered for o in first) == [False, False, True, True]
    # The dead webhook's other eight wait with the failed ones; the live one's keep going out meanwhile.
    rest = []
    while sent := deliver_pending(factory, client, limit=4, clock=lambda: now):
        rest += sent
    assert len(rest) == 8 and all(o.delivered for o in rest) and len(receiver.requests) == 10
    with factory() as session:
        waiting = session.scalars(
            select(WebhookDelivery.next_attempt_at).where(
                WebhookDelivery.webhook_id == dead.id, WebhookDelivery.delivered_at.is_(None)
            )
        ).all()
    assert len(waiting) == 10 and min(waiting) > now
