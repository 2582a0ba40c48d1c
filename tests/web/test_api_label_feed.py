"""Labels out over the API (issue 16, item 2), in-process on both databases: ``labels?since=`` as a feed
of final labels, webhooks created with the job and through their own endpoints, and deliveries of labels
answered through the annotators' hot path (on PostgreSQL its functions) signed with the job's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from factories import make_dataset
from groundswell import jobs
from groundswell.runner.webhooks import EVENT_HEADER, SIGNATURE_HEADER, WebhookSender, deliver_pending
from groundswell.store.db import transaction
from receiver import Receiver


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def admin(client: TestClient, receiver: Receiver) -> dict[str, str]:
    make_dataset(_factory(client), "tweets", count=4)
    with transaction(_factory(client)) as session:
        _, key = jobs.create_admin(session, "boss@example.org")
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "name": "feed",
        "dataset": "tweets",
        "labels": ["pos", "neg"],
        "workers_per_item": 1,
        "webhooks": [receiver.url],
    }
    assert client.post("/api/v1/jobs", json=body, headers=headers).status_code == 201
    assert client.post("/api/v1/jobs/feed/start", headers=headers).status_code == 200
    return headers


def _annotate(client: TestClient, labels: list[str]) -> None:
    """An annotator signed in through an invite answers one task per label through the API (the hot path)."""
    with transaction(_factory(client)) as session:
        _, token = jobs.create_invite(session, "ana@example.org", team=None, valid_for=timedelta(days=1))
    browser = TestClient(client.app)
    assert browser.post(f"/invite/{token}", follow_redirects=False).status_code == 303
    match = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/annotate/feed").text)
    assert match
    headers = {"X-CSRF-Token": match.group(1)}
    for i, label in enumerate(labels):
        task = browser.post("/api/v1/jobs/feed/tasks/next", json={}, headers=headers).json()["task"]
        body = {"label": label, "idempotency_key": f"k{i}"}
        assert browser.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers).status_code == 200


def test_labels_since_is_a_feed_of_final_labels_and_webhooks_get_them_signed(
    client: TestClient, admin: dict[str, str], receiver: Receiver
) -> None:
    _annotate(client, ["neg", "pos"])
    page = client.get("/api/v1/jobs/feed/labels", params={"since": "0"}, headers=admin).json()
    assert [row["label"] for row in page["labels"]] == ["neg", "pos"] and page["next_cursor"] is None
    again = client.get("/api/v1/jobs/feed/labels", params={"since": page["next_since"]}, headers=admin).json()
    assert again["labels"] == [] and again["next_since"] == page["next_since"]
    only_pos = client.get("/api/v1/jobs/feed/labels", params={"since": "0", "label": "pos"}, headers=admin).json()
    assert [row["label"] for row in only_pos["labels"]] == ["pos"] and only_pos["next_since"] == page["next_since"]
    both = client.get("/api/v1/jobs/feed/labels", params={"since": "0", "cursor": "1"}, headers=admin).json()
    assert both == page  # the feed: cursor is not used with since
    assert client.get("/api/v1/jobs/feed/labels", params={"since": "x"}, headers=admin).status_code == 422

    listed = client.get("/api/v1/jobs/feed/webhooks", headers=admin).json()
    secret = listed["secret"]
    assert [h["url"] for h in listed["webhooks"]] == [receiver.url] and len(secret) == 64
    with WebhookSender(timeout=5) as sender:
        assert all(o.delivered for o in deliver_pending(_factory(client), sender))
    # Sent a few at once, they may arrive in any order: X-Groundswell-Event is each one's place in the feed.
    in_feed_order = sorted(receiver.requests, key=lambda request: int(request[0][EVENT_HEADER]))
    assert [json.loads(body)["feed-metadata"]["class-name"] for _, body in in_feed_order] == ["neg", "pos"]
    for headers, body in receiver.requests:
        assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    (hook,) = client.get("/api/v1/jobs/feed/webhooks", headers=admin).json()["webhooks"]
    assert (hook["delivered"], hook["pending"], hook["last_status"]) == (2, 0, 204)


def test_webhooks_are_added_checked_and_removed_over_the_api(client: TestClient, admin: dict[str, str]) -> None:
    bad = client.post("/api/v1/jobs/feed/webhooks", json={"url": "ftp://example.org/x"}, headers=admin)
    assert bad.status_code == 422 and "url" in bad.json()["error"]
    created = client.post("/api/v1/jobs/feed/webhooks", json={"url": "https://example.org/hook"}, headers=admin)
    assert created.status_code == 201
    hook = created.json()
    assert hook["secret"] == client.get("/api/v1/jobs/feed/webhooks", headers=admin).json()["secret"]
    assert client.delete(f"/api/v1/jobs/feed/webhooks/{hook['id']}", headers=admin).status_code == 204
    assert client.delete(f"/api/v1/jobs/feed/webhooks/{hook['id']}", headers=admin).status_code == 404
    assert len(client.get("/api/v1/jobs/feed/webhooks", headers=admin).json()["webhooks"]) == 1
    assert client.get("/api/v1/jobs/nope/webhooks", headers=admin).status_code == 404
