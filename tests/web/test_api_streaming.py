"""``POST /api/v1/jobs`` with ``streaming: true`` and ``POST /api/v1/jobs/{name}/items`` (issue 16, item 1),
in-process on both databases: JSON array and JSON Lines bodies, retry safety by id, all-or-nothing with
problems named by item or line, 409 for a batch job, annotating appended tweets through the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from factories import answer, make_dataset, make_job, make_workers, take
from groundswell import jobs
from groundswell.jobs import NoTask
from groundswell.store.db import transaction


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    with transaction(_factory(client)) as session:
        _, key = jobs.create_admin(session, "boss@example.org")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def stream(client: TestClient, admin: dict[str, str]) -> str:
    body = {"name": "brand-watch", "dataset": "firehose", "labels": ["pos", "neg"], "streaming": True}
    created = client.post("/api/v1/jobs", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["streaming"] is True and created.json()["progress"]["items"] == 0
    assert client.post("/api/v1/jobs/brand-watch/start", headers=admin).status_code == 200
    return "brand-watch"


def test_items_appended_as_an_array_then_as_json_lines_and_a_retry_adds_nothing(
    client: TestClient, admin: dict[str, str], stream: str
) -> None:
    items = [{"source": "love it", "id": "t1"}, {"source": "hate it", "id": 2}, {"source": "no id"}]
    first = client.post(f"/api/v1/jobs/{stream}/items", json=items, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "job": stream,
        "dataset": "firehose",
        "rows_read": 3,
        "appended": 3,
        "duplicates": [],
        "repeated_texts": 0,
    }
    retry = client.post(f"/api/v1/jobs/{stream}/items", json=items, headers=admin).json()
    assert retry["appended"] == 0 and len(retry["duplicates"]) == 3
    assert {"t1", "2"} < set(retry["duplicates"])

    lines = b'{"source": "more", "id": "t3"}\n\n{"source": "love it", "id": "t1"}\n'
    headers = {**admin, "Content-Type": "application/x-ndjson"}
    more = client.post(f"/api/v1/jobs/{stream}/items", content=lines, headers=headers).json()
    assert (more["appended"], more["duplicates"], more["rows_read"]) == (1, ["t1"], 2)
    progress = client.get(f"/api/v1/jobs/{stream}", headers=admin).json()["progress"]
    assert (progress["items"], progress["open"]) == (4, 4)

    factory = _factory(client)
    workers = make_workers(factory, 3)
    for worker in workers:  # three answers per tweet (the default), one from each
        while not isinstance(task := take(factory, stream, worker), NoTask):
            answer(factory, worker, task, "pos")
    shown = client.get(f"/api/v1/jobs/{stream}", headers=admin).json()
    assert shown["state"] == "running" and shown["progress"]["done"] == 4  # all done, still running
    again = client.post(f"/api/v1/jobs/{stream}/items", json=[{"source": "fresh", "id": "t9"}], headers=admin)
    assert again.json()["appended"] == 1
    assert isinstance(take(factory, stream, workers[0]), jobs.Task)  # appending reopened work


def test_a_bad_item_appends_nothing_and_the_error_names_it(
    client: TestClient, admin: dict[str, str], stream: str
) -> None:
    items = [{"source": "fine", "id": "a"}, {"text": "wrong key", "id": "b"}, {"source": "x", "source-ref": "/etc/x"}]
    refused = client.post(f"/api/v1/jobs/{stream}/items", json=items, headers=admin)
    assert refused.status_code == 422, refused.text
    assert "items:3 [source-ref]" in json.dumps(refused.json())
    refused = client.post(f"/api/v1/jobs/{stream}/items", json=items[:2], headers=admin)
    assert refused.status_code == 422 and "items:2: has neither 'source' nor 'source-ref'" in refused.text
    headers = {**admin, "Content-Type": "application/x-ndjson"}
    refused = client.post(f"/api/v1/jobs/{stream}/items", content=b'{"source": "ok"}\nnot json\n', headers=headers)
    assert refused.status_code == 422 and "body:2: invalid JSON" in refused.text
    nul = client.post(f"/api/v1/jobs/{stream}/items", json=[{"source": "a\u0000b"}], headers=admin)
    assert nul.status_code == 422 and "NUL" in nul.text
    progress = client.get(f"/api/v1/jobs/{stream}", headers=admin).json()["progress"]
    assert progress["items"] == 0


def test_a_batch_job_answers_409_and_other_bodies_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    factory = _factory(client)
    make_job(factory, make_dataset(factory, "launch", count=3), "launch-sentiment")
    conflict = client.post("/api/v1/jobs/launch-sentiment/items", json=[{"source": "hi"}], headers=admin)
    assert conflict.status_code == 409 and "not a streaming job" in conflict.text
    assert client.post("/api/v1/jobs/nope/items", json=[{"source": "hi"}], headers=admin).status_code == 404
    assert client.post("/api/v1/jobs/launch-sentiment/items", json={"source": "hi"}, headers=admin).status_code == 422
    plain = client.post(
        "/api/v1/jobs/launch-sentiment/items", content=b"hi", headers={**admin, "Content-Type": "text/plain"}
    )
    assert plain.status_code == 415
