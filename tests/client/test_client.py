"""The Python SDK (issue 15, item 2) against a real `groundswell serve` on SQLite and on PostgreSQL: the
README's snippet end to end (upload records, create and start a job, invite annotators who answer every task
through the HTTP API with their invite sessions, wait, labels as a DataFrame), DataFrame and file uploads,
paging, and the API's errors as exceptions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from groundswell import jobs
from groundswell.client import (
    LABEL_COLUMNS,
    AuthenticationError,
    Client,
    ConflictError,
    GroundswellAPIError,
    InvalidRequestError,
    NotFoundError,
)
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from receiver import Receiver
from servers import LiveServer, free_port, start_server, stop_server

TWEETS = {
    "loving the new launch": "positive",
    "worst update ever": "negative",
    "the launch is at noon": "neutral",
    "so happy with this": "positive",
    "it broke my phone": "negative",
    "shipping on tuesday": "neutral",
}


def _admin_key(database_url: str) -> str:
    """A fresh store with an admin, made before the server starts (as `groundswell admin create` would)."""
    engine = make_engine(database_url)
    try:
        prepare_store(engine)
        with transaction(make_session_factory(engine)) as session:
            _, key = jobs.create_admin(session, "boss@example.org")
    finally:
        engine.dispose()
    return key


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    """The server (its invite links pointing at itself) and an admin API key."""
    key = _admin_key(store_url)
    port = free_port()
    live = start_server(store_url, tmp_path, port=port, env={"GROUNDSWELL_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    try:
        yield live, key
    finally:
        stop_server(live)


def _annotate_everything(invite_url: str, job: str) -> int:
    """An annotator opens their invite link, then answers every task the job offers them over the API, as the
    annotator page does (session cookie + CSRF header); returns how many answers they gave."""
    answered = 0
    with httpx.Client(timeout=15) as browser:
        assert browser.post(invite_url).status_code == 303
        page = browser.get(invite_url.split("/invite/")[0] + f"/annotate/{job}")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf, page.text[:300]
        headers = {"X-CSRF-Token": csrf.group(1)}
        base = invite_url.split("/invite/")[0] + "/api/v1"
        while True:
            offered = browser.post(f"{base}/jobs/{job}/tasks/next", json={}, headers=headers)
            assert offered.status_code == 200, offered.text
            task = offered.json()["task"]
            if task is None:
                return answered
            body = {"label": TWEETS[task["item"]["text"]], "idempotency_key": f"{task['lease_id']}"}
            submitted = browser.post(f"{base}/tasks/{task['lease_id']}/submit", json=body, headers=headers)
            assert submitted.status_code == 200, submitted.text
            answered += 1


def test_the_readme_snippet_end_to_end(server: tuple[LiveServer, str], tmp_path: Path) -> None:
    live, key = server
    records = [{"text": text, "id": str(n)} for n, text in enumerate(TWEETS, start=1)]
    with Client(live.url, api_key=key) as gs:
        ds = gs.datasets.create("launch", records, id_column="id")
        assert (ds.name, ds.item_count, ds.gold_item_count) == ("launch", 6, 0)
        assert ds.import_result is not None and ds.import_result.imported == 6
        job = gs.jobs.create(
            "launch-sentiment", dataset="launch", labels=["positive", "negative", "neutral"], workers_per_item=3
        )
        assert (job.state, job.label_names, job.workers_per_item) == ("draft", ["positive", "negative", "neutral"], 3)
        job.start()
        assert job.state == "running"
        progress = job.refresh().progress
        assert progress is not None and (progress.done, progress.total) == (0, 6)
        invite_url = gs.workers.invite("ana@example.org")
        assert invite_url.startswith(f"{live.url}/invite/")
        others = [gs.workers.invite(f"{who}@example.org", team="core") for who in ("ben", "cy")]
        # Three answers per tweet, from three people.
        assert [_annotate_everything(url, job.name) for url in (invite_url, *others)] == [6, 6, 6]
        job.wait(timeout=60, poll=0.2)
        assert job.state == "completed" and job.finished_at is not None
        assert job.progress is not None and str(job.progress).startswith("6 / 6 done")
        df = job.labels(as_="pandas")
        assert list(df.columns) == list(LABEL_COLUMNS)
        assert sorted(df["item_id"]) == ["1", "2", "3", "4", "5", "6"]
        assert dict(zip(df["source"], df["label"], strict=True)) == TWEETS
        assert df["human_annotated"].all() and (df["judgment_count"] == 3).all()
        assert str(df["updated_at"].dtype).startswith("datetime64")
        # The same labels as records, filtered on the server.
        negative = job.labels(label="negative")
        assert sorted(x.source for x in negative) == ["it broke my phone", "worst update ever"]
        assert job.labels(human=False) == []
        # The export, streamed to a file, is the manifest the CLI writes: one line per tweet.
        manifest = job.export(tmp_path / "output.manifest")
        lines = [json.loads(line) for line in manifest.read_text().splitlines()]
        assert sorted(line["source"] for line in lines) == sorted(TWEETS)
        assert job.export(tmp_path / "labels.csv", format="csv").read_text().count("\n") == 7
        workers = {w.email: w for w in gs.workers.list()}
        assert workers["ben@example.org"].teams == ["core"] and workers["boss@example.org"].kind == "admin"
        assert [(t.name, t.members) for t in gs.workers.teams()] == [("core", 2)]
        assert [j.name for j in gs.jobs.list()] == ["launch-sentiment"]
        # The dataset itself back out: an input manifest that names each tweet by its id.
        exported = gs.datasets.export("launch", tmp_path / "launch.manifest").read_text().splitlines()
        assert [json.loads(line) for line in exported] == [{"source": t, "id": i} for i, t in _by_id(records)]


def test_dataframe_and_file_uploads_and_paging(server: tuple[LiveServer, str], tmp_path: Path) -> None:
    live, key = server
    frame = pd.DataFrame(
        {
            "tweet_id": range(1200),
            "tweet": [f"tweet number {i}" for i in range(1200)],
            "gold": ["positive" if i % 3 else None for i in range(1200)],
        }
    )
    csv = tmp_path / "more.csv"
    csv.write_text("id,body\nc1,from a file\nc2,also from a file\n")
    with Client(live.url, api_key=key) as gs:
        ds = gs.datasets.create("big", frame, id_column="tweet_id", label_column="gold")
        assert (ds.item_count, ds.gold_item_count, ds.gold_distribution) == (1200, 800, {"positive": 800})
        items = list(ds.items())  # two pages of 1000
        assert [i.id for i in items] == [str(i) for i in range(1200)]
        assert items[7].text == "tweet number 7" and items[7].gold_label == "positive" and items[6].gold_label is None
        appended = gs.datasets.create("big", csv, text_column="body", id_column="id")
        assert appended.import_result is not None and appended.import_result.format == "csv"
        assert appended.import_result.source == "more.csv" and appended.refresh().item_count == 1202
        assert [(d.name, d.item_count) for d in gs.datasets.list()] == [("big", 1202)]
        assert [i.text for i in gs.datasets.items("big")][-2:] == ["from a file", "also from a file"]


def test_the_api_s_errors_are_exceptions_with_its_message(server: tuple[LiveServer, str], tmp_path: Path) -> None:
    live, key = server
    with Client(live.url, api_key=key) as gs:
        # A bad record refuses the whole upload with 422 and every problem by line; nothing is stored.
        with pytest.raises(InvalidRequestError) as refused:
            gs.datasets.create("launch", [{"text": "fine"}, {"text": "also fine"}, {"text": " "}, {"text": ""}])
        assert refused.value.status == 422
        assert refused.value.errors == [f"launch.jsonl:{n} [source]: text is empty" for n in (3, 4)]
        assert refused.value.message == "launch.jsonl:3 [source]: text is empty (and 1 more problem(s))"
        assert str(refused.value) == f"422: {refused.value.message}"
        bad_csv = tmp_path / "tweets.csv"
        bad_csv.write_bytes(b"tweet_id,body\n1,great launch\n2,\n")
        with pytest.raises(GroundswellAPIError) as from_file:
            gs.datasets.create("launch", bad_csv, text_column="body", id_column="tweet_id")
        assert from_file.value.errors == ["tweets.csv:3 [body]: text is empty"]
        assert gs.datasets.list() == []
        with pytest.raises(NotFoundError) as missing:
            gs.jobs.get("no-such-job")
        assert missing.value.status == 404 and "no-such-job" in missing.value.message
        with pytest.raises(NotFoundError):
            gs.datasets.get("nope")
        gs.datasets.create("launch", [{"source": text} for text in TWEETS])
        job = gs.jobs.create("slow", dataset="launch", labels=["positive", "negative"])
        with pytest.raises(ConflictError):
            gs.jobs.create("slow", dataset="launch", labels=["positive", "negative"])
        with pytest.raises(InvalidRequestError) as invalid:
            gs.jobs.create("bad", dataset="launch", labels=["a", "b"], workers_per_item=10)
        assert "workers_per_item" in invalid.value.message
        # Nobody answers: waiting ends in TimeoutError naming the job and how far it got.
        job.start()
        with pytest.raises(TimeoutError, match=r"job 'slow' did not complete within 0\.5 s: 0 / 6 done"):
            job.wait(timeout=0.5, poll=0.1)
        job.stop()
        with pytest.raises(RuntimeError, match="stopped"):
            job.wait(timeout=5)
    with Client(live.url, api_key="gs_wrong") as stranger, pytest.raises(AuthenticationError):
        stranger.jobs.list()


def test_final_labels_come_out_by_feed_and_by_webhook_from_a_runner_process(
    server: tuple[LiveServer, str], store_url: str, tmp_path: Path
) -> None:
    """Issue 16, item 2 from a client's side: labels polled with ``labels_since`` and POSTed by a real
    `groundswell runner` process to a local receiver, then the runner killed with SIGKILL."""
    live, key = server
    hook = Receiver()
    runner = subprocess.Popen(
        [str(Path(sys.executable).with_name("groundswell")), "runner", "--poll", "0.2"],
        env={**os.environ, "GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(live.url, api_key=key) as gs:
            gs.datasets.create("launch", [{"source": text} for text in TWEETS])
            job = gs.jobs.create(
                "feed", dataset="launch", labels=["positive", "negative", "neutral"], workers_per_item=1,
                webhooks=[hook.url],
            )  # fmt: skip
            hooks, secret = job.webhooks()
            assert [h.url for h in hooks] == [hook.url] and secret is not None
            job.start()
            assert job.labels_since("0").labels == []
            assert _annotate_everything(gs.workers.invite("ana@example.org"), job.name) == 6
            feed = job.labels_since("0")
            assert {x.source: x.label for x in feed.labels} == TWEETS
            assert job.labels_since(feed.next_since).labels == []
            deadline = time.monotonic() + 30
            while len(hook.requests) < 6 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert sorted(line["source"] for line in hook.lines()) == sorted(TWEETS)
            report = job.consolidate("mv")
            assert (report["method"], report["items_labeled"]) == ("mv", 6)
            trained = job.train("feed-model", wait=60)  # the runner process trains it
            assert trained["state"] == "done", trained
            (model,) = job.models()
            assert (model["id"], model["kind"]) == (trained["result"]["model_version_id"], "trained")
            (delivered,), _ = job.webhooks()
            assert (delivered.delivered, delivered.pending, delivered.last_status) == (6, 0, 204)
            job.remove_webhook(delivered.id)
            assert job.webhooks()[0] == []
    finally:
        runner.kill()
        runner.wait(timeout=10)
        hook.close()


def _by_id(records: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(r["id"], r["text"]) for r in records]
