"""An admin's corrections over the API, in-process on both databases: a label's detail (answers, the model's
vote, history), its correction (PUT) and revert (DELETE), the label browser's new filters (text search with
LIKE's wildcards taken literally, disagreement, adjudicated) and agreement, and who may do what."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from factories import answer, make_job, make_workers, take
from groundswell import jobs
from groundswell.jobs import Task
from groundswell.store.db import transaction
from groundswell.store.tables import Dataset, Item

TEXTS = ["50% off today", "500 off today", "snake_case rocks", "SnakeXcase rocks", "a/b test", "ab test"]
LABELS = "/api/v1/jobs/job/labels"


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    """An admin key, and job ``job`` over the tweets of :data:`TEXTS` (ids i0…i5) answered by two workers:
    i0 with two different labels, i1…i4 by both alike, i5 by nobody."""
    factory = _factory(client)
    with transaction(factory) as session:
        dataset = Dataset(name="tweets")
        session.add(dataset)
        session.flush()
        session.add_all(
            Item(dataset_id=dataset.id, external_id=f"i{n}", text=text, content_hash=f"{n:032d}")
            for n, text in enumerate(TEXTS)
        )
        _, key = jobs.create_admin(session, "boss@example.org", "Boss")
    make_job(factory, "tweets", "job", workers_per_item=2)
    for worker, first in zip(make_workers(factory, 2), ["positive", "negative"], strict=True):
        for n in range(5):
            task = take(factory, "job", worker)
            assert isinstance(task, Task) and task.external_id == f"i{n}"
            answer(factory, worker, task, first if n == 0 else "positive")
    return {"Authorization": f"Bearer {key}"}


def test_a_label_is_reviewed_corrected_and_reverted(client: TestClient, admin: dict[str, str]) -> None:
    before = client.get(f"{LABELS}/i0", headers=admin).json()
    assert (before["item_id"], before["source"], before["adjudicated"]) == ("i0", "50% off today", False)
    assert before["labels"] == ["positive", "negative", "neutral"] and before["history"] == []
    assert [(a["worker"], a["label"]) for a in before["answers"]] == [("w0-none", "positive"), ("w1-none", "negative")]
    assert before["label"]["agreement"] == 0.5 and before["label"]["method"] == "mv"
    assert before["model_vote"] is None

    body = {"label": "neutral", "note": "neither: a price"}
    corrected = client.put(f"{LABELS}/i0", json=body, headers=admin)
    assert corrected.status_code == 200, corrected.text
    label = corrected.json()
    assert (label["label"], label["class_index"], label["confidence"], label["method"]) == (
        "neutral", 2, 1.0, "adjudicated",
    )  # fmt: skip
    assert (label["adjudicated"], label["agreement"], label["judgment_count"]) == (True, 0.0, 2)
    after = client.get(f"{LABELS}/i0", headers=admin).json()
    assert after["adjudicated"] and after["label"] == label
    (entry,) = after["history"]
    assert (entry["worker"], entry["label"], entry["note"]) == ("Boss", "neutral", "neither: a price")
    assert (entry["previous_label"], entry["previous_method"]) == (before["label"]["label"], "mv")

    reverted = client.delete(f"{LABELS}/i0/correction", headers=admin)
    assert reverted.status_code == 200, reverted.text
    assert {k: reverted.json()[k] for k in ("label", "method", "adjudicated", "agreement")} == {
        "label": before["label"]["label"], "method": "mv", "adjudicated": False, "agreement": 0.5,
    }  # fmt: skip
    again = client.delete(f"{LABELS}/i0/correction", headers=admin)
    assert again.status_code == 409 and "no correction to revert" in again.json()["error"]
    # A tweet nobody answered had no label: its revert answers 204, and it has none again.
    assert client.get(f"{LABELS}/i5", headers=admin).json()["label"] is None
    assert client.put(f"{LABELS}/i5", json={"label": "negative"}, headers=admin).status_code == 200
    gone = client.delete(f"{LABELS}/i5/correction", headers=admin)
    assert gone.status_code == 204 and gone.content == b""
    assert client.get(f"{LABELS}/i5", headers=admin).json()["label"] is None


def test_bad_corrections_are_refused(client: TestClient, admin: dict[str, str]) -> None:
    unknown = client.put(f"{LABELS}/i0", json={"label": "angry"}, headers=admin)
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "label 'angry' is not one of the labels of job 'job': positive, negative, neutral"
    for body in ({"label": "positive", "extra": 1}, {"note": "x"}, {"label": ""}, {"label": "a\nb"}):
        assert client.put(f"{LABELS}/i0", json=body, headers=admin).status_code == 422, body
    assert client.put(f"{LABELS}/i0", json={"label": "positive", "note": "x" * 2001}, headers=admin).status_code == 422
    assert client.put(f"{LABELS}/nope", json={"label": "positive"}, headers=admin).status_code == 404
    assert client.get(f"{LABELS}/nope", headers=admin).status_code == 404
    assert client.get("/api/v1/jobs/nojob/labels/i0", headers=admin).status_code == 404
    assert client.delete(f"{LABELS}/nope/correction", headers=admin).status_code == 404
    assert client.get(f"{LABELS}/i0", headers=admin).json()["history"] == []


def _ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    page = client.get(LABELS, params=params, headers=headers)
    assert page.status_code == 200, page.text
    return [row["item_id"] for row in page.json()["labels"]]


def test_the_label_browser_searches_text_and_filters_disagreement_and_corrections(
    client: TestClient, admin: dict[str, str]
) -> None:
    assert _ids(client, admin) == ["i0", "i1", "i2", "i3", "i4"]
    assert _ids(client, admin, q="50%") == ["i0"]  # % is the character, not LIKE's "anything"
    assert _ids(client, admin, q="snake_case") == ["i2"]  # and _ is not "any one character"
    assert _ids(client, admin, q="SNAKE") == ["i2", "i3"]  # any case
    assert _ids(client, admin, q="a/b") == ["i4"]  # the escape character is a plain one too
    assert _ids(client, admin, q="no such text") == []
    assert _ids(client, admin, disagreement="true") == ["i0"]
    assert _ids(client, admin, disagreement="false") == ["i1", "i2", "i3", "i4"]
    rows = client.get(LABELS, headers=admin).json()["labels"]
    assert [(row["agreement"], row["adjudicated"]) for row in rows] == [(0.5, False)] + [(1.0, False)] * 4

    assert client.put(f"{LABELS}/i3", json={"label": "neutral"}, headers=admin).status_code == 200
    assert client.put(f"{LABELS}/i5", json={"label": "negative"}, headers=admin).status_code == 200
    assert _ids(client, admin, adjudicated="true") == ["i3", "i5"]
    assert _ids(client, admin, adjudicated="false", q="off") == ["i0", "i1"]
    assert _ids(client, admin, adjudicated="true", disagreement="false", q="rocks") == ["i3"]
    (corrected,) = [row for row in client.get(LABELS, headers=admin).json()["labels"] if row["item_id"] == "i5"]
    assert (corrected["agreement"], corrected["adjudicated"], corrected["judgment_count"]) == (None, True, 0)
    # The feed (`since`) takes the same filters; agreement is not computed there.
    feed = client.get(LABELS, params={"since": "0", "adjudicated": "true"}, headers=admin).json()["labels"]
    # i3 came when it became final and again when corrected (as it is now, both times); i5 when corrected.
    assert [(row["item_id"], row["label"], row["agreement"]) for row in feed] == [
        ("i3", "neutral", None), ("i3", "neutral", None), ("i5", "negative", None),
    ]  # fmt: skip
    feed = client.get(LABELS, params={"since": "0", "disagreement": "true", "q": "%"}, headers=admin).json()
    # Once on both databases, though the answer that finished i0 also changed its label (a tie: to the second).
    assert [row["item_id"] for row in feed["labels"]] == ["i0"]


def test_only_admins_may_correct_and_a_read_only_key_only_reads(client: TestClient, admin: dict[str, str]) -> None:
    with transaction(_factory(client)) as session:
        _, reader = jobs.create_admin(session, "dash@example.org", role=jobs.READ_ONLY_ROLE)
        _, token = jobs.create_invite(session, "ana@example.org", team=None, valid_for=timedelta(days=1))
    read_only = {"Authorization": f"Bearer {reader}"}
    assert client.get(f"{LABELS}/i0", headers=read_only).status_code == 200
    for method, path in (("PUT", f"{LABELS}/i0"), ("DELETE", f"{LABELS}/i0/correction")):
        refused = client.request(method, path, json={"label": "neutral"}, headers=read_only)
        assert refused.status_code == 403 and "read-only" in refused.json()["error"], (method, refused.text)
    browser = TestClient(client.app)
    assert browser.post(f"/invite/{token}", follow_redirects=False).status_code == 303
    match = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/annotate/job").text)
    assert match
    csrf = {"X-CSRF-Token": match.group(1)}
    for method, path in (("GET", f"{LABELS}/i0"), ("PUT", f"{LABELS}/i0"), ("DELETE", f"{LABELS}/i0/correction")):
        refused = browser.request(method, path, json={"label": "neutral"}, headers=csrf)
        assert refused.status_code == 403 and refused.json()["error"] == "this needs an admin", (method, refused.text)
    assert client.get(f"{LABELS}/i0", headers=admin).json()["adjudicated"] is False
