"""The API's datasets, labels and workers routes (issue 15, item 1 in part), in-process on both databases:
imports by upload and by path with the CLI's validation, cursor paging, label filters, exports byte-identical
to ``groundswell job export``, invites, and 403 for annotators on every admin operation in the OpenAPI
document."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from factories import make_dataset, make_job
from groundswell import jobs
from groundswell.jobs.exports import export_job
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Item, Job, utcnow


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    with transaction(_factory(client)) as session:
        _, key = jobs.create_admin(session, "boss@example.org")
    return {"Authorization": f"Bearer {key}"}


def _upload(client: TestClient, headers: dict[str, str], name: str, filename: str, data: bytes, **fields: str) -> Any:
    return client.post(
        "/api/v1/datasets", files={"file": (filename, io.BytesIO(data))}, data={"name": name, **fields}, headers=headers
    )


def _all_pages(client: TestClient, headers: dict[str, str], path: str, key: str, **params: Any) -> list[Any]:
    rows: list[Any] = []
    cursor = None
    while True:
        page = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        rows.extend(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def test_an_upload_with_a_bad_line_is_refused_naming_the_line_and_nothing_is_stored(
    client: TestClient, admin: dict[str, str]
) -> None:
    bad = b"tweet_id,body\n1,great launch\n2,\n3,fine\n"
    response = _upload(client, admin, "launch", "tweets.csv", bad, text_column="body", id_column="tweet_id")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["ok"] is False and body["errors"] == ["tweets.csv:3 [body]: text is empty"]
    assert client.get("/api/v1/datasets", headers=admin).json() == []
    assert client.get("/api/v1/datasets/launch", headers=admin).status_code == 404
    # Neither JSON nor a form: 415 in the error shape.
    other = client.post("/api/v1/datasets", content=b"x", headers={**admin, "Content-Type": "text/plain"})
    assert other.status_code == 415 and other.json()["status"] == 415


def test_an_uploaded_dataset_pages_through_every_item_exactly_once(
    client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    rows = "".join(f"{i},tweet number {i},{'positive' if i % 3 else 'negative'}\n" for i in range(23))
    data = ("tweet_id,body,gold\n" + rows).encode()
    response = _upload(
        client, admin, "launch", "tweets.csv", data, text_column="body", id_column="tweet_id", label_column="gold"
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["imported"], report["created_dataset"], report["format"]) == (23, True, "csv")
    items = _all_pages(client, admin, "/api/v1/datasets/launch/items", "items", limit=5)
    assert [i["id"] for i in items] == [str(i) for i in range(23)]
    assert items[4]["text"] == "tweet number 4" and items[4]["gold_label"] == "positive"
    shown = client.get("/api/v1/datasets/launch", headers=admin).json()
    assert (shown["items"], shown["gold_items"], shown["gold_distribution"]) == (
        23,
        23,
        {"positive": 15, "negative": 8},
    )
    # The items were stored as coming from the file the client named, not the server's temporary copy.
    with _factory(client)() as session:
        assert set(session.scalars(select(Item.source_uri))) == {"tweets.csv"}
    # From a server path, with the CLI's options; appending repeats nothing.
    manifest = tmp_path / "more.jsonl"
    manifest.write_text("".join(json.dumps({"source": f"more {i}", "tid": f"m{i}"}) + "\n" for i in range(4)))
    body = {"name": "launch", "uri": str(manifest), "id_column": "tid"}
    appended = client.post("/api/v1/datasets", json=body, headers=admin)
    assert appended.status_code == 201 and appended.json()["imported"] == 4, appended.text
    listed = client.get("/api/v1/datasets", headers=admin).json()
    assert [(d["name"], d["items"]) for d in listed] == [("launch", 27)]
    again = _all_pages(client, admin, "/api/v1/datasets/launch/items", "items", limit=1000)
    assert len(again) == len({i["id"] for i in again}) == 27
    missing = client.post("/api/v1/datasets", json={**body, "uri": str(tmp_path / "nope.csv")}, headers=admin)
    assert missing.status_code == 400 and "no such file" in missing.json()["error"]


def _job_with_labels(client: TestClient) -> None:
    factory = _factory(client)
    make_dataset(factory, "tweets", count=12)
    make_job(factory, "tweets", "labeled")
    with transaction(factory) as session:
        job = session.scalars(select(Job).where(Job.name == "labeled")).one()
        items = list(session.scalars(select(Item).order_by(Item.id)))
        for n, item in enumerate(items[:10]):
            label = ["positive", "negative"][n % 2]
            session.add(
                ConsolidatedLabel(
                    job_id=job.id,
                    item_id=item.id,
                    label=label,
                    class_index=n % 2,
                    confidence=0.5 + n / 20,
                    method="mv" if n < 6 else "auto",
                    human_annotated=n < 6,
                    judgment_count=3 if n < 6 else 0,
                    updated_at=utcnow(),
                )
            )


def test_labels_filter_and_page(client: TestClient, admin: dict[str, str]) -> None:
    _job_with_labels(client)
    path = "/api/v1/jobs/labeled/labels"
    every = _all_pages(client, admin, path, "labels", limit=3)
    assert [x["item_id"] for x in every] == [f"t{i}" for i in range(10)]
    assert every[7]["confidence"] == pytest.approx(0.85) and every[7]["human_annotated"] is False
    machine = _all_pages(client, admin, path, "labels", human="false", limit=2)
    assert [x["item_id"] for x in machine] == ["t6", "t7", "t8", "t9"]
    negative_sure = _all_pages(client, admin, path, "labels", label="negative", min_confidence=0.6, max_confidence=0.8)
    assert [x["item_id"] for x in negative_sure] == ["t3", "t5"]
    assert client.get(path, params={"min_confidence": 2}, headers=admin).status_code == 422
    assert client.get("/api/v1/jobs/nope/labels", headers=admin).status_code == 404


@pytest.mark.parametrize("fmt", ["manifest", "csv", "parquet"])
def test_the_export_is_byte_identical_to_the_cli_s(
    client: TestClient, admin: dict[str, str], tmp_path: Path, fmt: str
) -> None:
    _job_with_labels(client)
    out = tmp_path / f"cli.{fmt}"
    export_job(_factory(client), "labeled", str(out), fmt=fmt)
    response = client.get("/api/v1/jobs/labeled/export", params={"format": fmt}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.content == out.read_bytes()
    if fmt == "manifest":
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in response.text.splitlines()]
        assert len(lines) == 12 and lines[0]["labeled-metadata"]["human-annotated"] == "yes"
    default = client.get("/api/v1/jobs/labeled/export", headers=admin)
    assert default.status_code == 200 and default.headers["content-type"].startswith("application/x-ndjson")


def test_invites_workers_teams_and_deactivation(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/api/v1/workers/invites", json={"email": "Ana@Example.org", "team": "core"}, headers=admin)
    assert response.status_code == 201, response.text
    invite = response.json()
    assert invite["email"] == "ana@example.org" and invite["team"] == "core"
    # GROUNDSWELL_PUBLIC_URL is not set: the link starts with the address the request came to.
    token = re.fullmatch(r"http://testserver/invite/([\w-]+)", invite["invite_url"])
    assert token is not None
    ana = TestClient(client.app)
    assert ana.post(f"/invite/{token.group(1)}", follow_redirects=False).status_code == 303
    assert ana.get("/api/v1/me").status_code == 200
    listed = {w["email"]: w for w in client.get("/api/v1/workers", headers=admin).json()}
    assert listed["ana@example.org"]["teams"] == ["core"] and listed["boss@example.org"]["kind"] == "admin"
    assert client.get("/api/v1/teams", headers=admin).json()[0] | {"created_at": None} == {
        "name": "core",
        "members": 1,
        "created_at": None,
    }
    gone = client.post(f"/api/v1/workers/{invite['worker_id']}/deactivate", headers=admin)
    assert gone.status_code == 200 and gone.json()["is_active"] is False
    assert ana.get("/api/v1/me").status_code == 401  # signed out everywhere
    me = listed["boss@example.org"]["id"]
    assert client.post(f"/api/v1/workers/{me}/deactivate", headers=admin).status_code == 409
    assert client.post("/api/v1/workers/999999/deactivate", headers=admin).status_code == 404
    bad = client.post("/api/v1/workers/invites", json={"email": "not an email"}, headers=admin)
    assert bad.status_code == 422


def _example(parameter: dict[str, Any]) -> str:
    return {"name": "launch-sentiment", "lease_id": "1", "judgment_id": "1", "worker_id": "1"}.get(
        parameter["name"], "1"
    )


def test_an_annotator_gets_403_on_every_admin_operation_in_the_openapi_document(client: TestClient) -> None:
    """Enumerated from the document, so a new admin route is covered without touching this test: every
    operation not tagged ``annotate`` refuses an annotator's session before it reads the body."""
    with transaction(_factory(client)) as session:
        _, token = jobs.create_invite(session, "ann@example.org", team=None, valid_for=timedelta(days=1))
    browser = TestClient(client.app)
    assert browser.post(f"/invite/{token}", follow_redirects=False).status_code == 303
    with _factory(client)() as session:
        csrf = session.scalars(select(jobs.people.WebSession.csrf_token)).one()  # type: ignore[attr-defined]
    document = client.get("/openapi.json").json()
    checked = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "annotate" in operation.get("tags", []):
                continue
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    url = url.replace("{" + parameter["name"] + "}", _example(parameter))
            response = browser.request(method.upper(), url, json={}, headers={"X-CSRF-Token": csrf})
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"] == "this needs an admin"
            checked.append(f"{method.upper()} {path}")
    assert {"POST /api/v1/datasets", "GET /api/v1/jobs/{name}/export", "POST /api/v1/workers/invites"} <= set(checked)
    assert len(checked) >= 17


def test_invite_links_start_with_the_public_url_when_it_is_set(sqlite_url: str, tmp_path: Path) -> None:
    from groundswell.settings import Settings
    from groundswell.web.app import create_app

    settings = Settings(database_url=sqlite_url, data_dir=tmp_path, public_url="https://label.example.org/")
    with TestClient(create_app(settings)) as client:
        with transaction(_factory(client)) as session:
            _, key = jobs.create_admin(session, "boss@example.org")
        response = client.post(
            "/api/v1/workers/invites", json={"email": "ana@example.org"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["invite_url"].startswith("https://label.example.org/invite/")


def test_a_dataset_exports_as_the_cli_writes_it_and_reimports_to_the_same_items(
    client: TestClient, admin: dict[str, str], tmp_path: Path
) -> None:
    from groundswell.ingest import export_dataset

    body = "".join(json.dumps({"source": f"tweet {i} ☕", "id": f"d{i}", "lang": "en"}) + "\n" for i in range(7))
    assert _upload(client, admin, "cafe", "cafe.jsonl", body.encode(), id_column="id").status_code == 201
    response = client.get("/api/v1/datasets/cafe/export", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert 'filename="cafe.manifest"' in response.headers["content-disposition"]
    out = tmp_path / "cli.manifest"
    export_dataset(_factory(client), "cafe", str(out))
    assert response.content == out.read_bytes()
    again = _upload(client, admin, "cafe-again", "again.jsonl", response.content, id_column="id")
    assert again.status_code == 201 and again.json()["imported"] == 7
    first = client.get("/api/v1/datasets/cafe/items", headers=admin).json()["items"]
    second = client.get("/api/v1/datasets/cafe-again/items", headers=admin).json()["items"]
    assert [(i["id"], i["text"], i["attributes"]) for i in first] == [
        (i["id"], i["text"], i["attributes"]) for i in second
    ]
    assert client.get("/api/v1/datasets/nope/export", headers=admin).status_code == 404
