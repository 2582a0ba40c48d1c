"""The SDK's review of labels against a real `groundswell serve` on SQLite and on PostgreSQL: a label's detail,
an admin's correction and its revert, and the label browser's new filters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from factories import answer, make_workers, take
from groundswell import jobs
from groundswell.client import Client, ConflictError, InvalidRequestError, NotFoundError
from groundswell.jobs import NoTask
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from servers import LiveServer, start_server, stop_server

TWEETS = ["50% off the launch", "500 reasons to wait", "launch_day is here", "launchXday tomorrow"]


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    engine = make_engine(store_url)
    try:
        prepare_store(engine)
        with transaction(make_session_factory(engine)) as session:
            _, key = jobs.create_admin(session, "boss@example.org", "Boss")
    finally:
        engine.dispose()
    live = start_server(store_url, tmp_path)
    try:
        yield live, key
    finally:
        stop_server(live)


def _answer_everything(store_url: str, job: str, labels: list[str]) -> None:
    """Two annotators answer every tweet, the second with ``labels`` in order (the first: always positive)."""
    engine = make_engine(store_url)
    try:
        factory = make_session_factory(engine)
        for worker, given in zip(make_workers(factory, 2), [["positive"] * len(labels), labels], strict=True):
            for label in given:
                task = take(factory, job, worker)
                assert not isinstance(task, NoTask), task
                answer(factory, worker, task, label)
    finally:
        engine.dispose()


def test_labels_are_reviewed_corrected_and_reverted_through_the_sdk(
    server: tuple[LiveServer, str], store_url: str
) -> None:
    live, key = server
    with Client(live.url, api_key=key) as gs:
        gs.datasets.create("launch", [{"text": text, "id": f"n{n}"} for n, text in enumerate(TWEETS)], id_column="id")
        job = gs.jobs.create("review", dataset="launch", labels=["positive", "negative", "neutral"], workers_per_item=2)
        job.start()
        _answer_everything(store_url, job.name, ["positive", "negative", "positive", "positive"])

        detail = job.label("n1")
        assert detail.label is not None and detail.label.agreement == 0.5 and not detail.adjudicated
        assert [(a.worker, a.label) for a in detail.answers] == [("w0-none", "positive"), ("w1-none", "negative")]
        assert detail.labels == ["positive", "negative", "neutral"] and detail.history == []
        corrected = job.correct("n1", "negative", note="no launch to wait for")
        assert (corrected.label, corrected.method, corrected.adjudicated, corrected.confidence) == (
            "negative", "adjudicated", True, 1.0,
        )  # fmt: skip
        after = job.label("n1")
        assert after.adjudicated and after.history[0].worker == "Boss"
        assert after.history[0].note == "no launch to wait for" and after.history[0].created_at.tzinfo is not None

        assert [x.item_id for x in job.labels(adjudicated=True)] == ["n1"]
        assert [x.item_id for x in job.labels(disagreement=True)] == ["n1"]
        assert [x.item_id for x in job.labels(text="50%")] == ["n0"]
        assert [x.item_id for x in job.labels(text="LAUNCH_DAY")] == ["n2"]
        frame = job.labels(as_="pandas", adjudicated=False)
        assert list(frame["item_id"]) == ["n0", "n2", "n3"] and list(frame["agreement"]) == [1.0, 1.0, 1.0]
        assert not frame["adjudicated"].any()

        with pytest.raises(InvalidRequestError, match="not one of the labels"):
            job.correct("n1", "angry")
        with pytest.raises(NotFoundError):
            job.label("nope")
        restored = job.revert_correction("n1")
        assert restored is not None and restored.method == "mv" and not restored.adjudicated
        with pytest.raises(ConflictError):
            job.revert_correction("n1")
        assert job.labels(adjudicated=True) == []
