"""Read-only API keys (issue 15): everything an admin reads, nothing changed, on both databases.

The operations are enumerated from the OpenAPI document, so a new route is covered without touching this test.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from groundswell import jobs
from groundswell.cli import app as cli_app
from groundswell.store.db import transaction
from groundswell.store.tables import ApiKey, Job

_READS = {"get", "head"}


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


def _keys(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    """Headers of a full admin key and of a read-only key, with a dataset and a job to read."""
    with transaction(_factory(client)) as session:
        _, admin = jobs.create_admin(session, "boss@example.org")
        _, reader = jobs.create_admin(session, "dashboard@example.org", role=jobs.READ_ONLY_ROLE)
    full = {"Authorization": f"Bearer {admin}"}
    body = "".join(f'{{"source": "tweet {i}"}}\n' for i in range(5))
    upload = client.post(
        "/api/v1/datasets",
        files={"file": ("launch.jsonl", body, "application/x-ndjson")},
        data={"name": "launch"},
        headers=full,
    )
    assert upload.status_code == 201, upload.text
    job = {"name": "launch-sentiment", "dataset": "launch", "labels": ["negative", "neutral", "positive"]}
    assert client.post("/api/v1/jobs", json=job, headers=full).status_code == 201
    return full, {"Authorization": f"Bearer {reader}"}


def _url(path: str, operation: dict[str, Any]) -> str:
    values = {"name": "launch-sentiment", "lease_id": "1", "judgment_id": "1", "worker_id": "1"}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = parameter["name"]
            value = "launch" if name == "name" and path.startswith("/api/v1/datasets") else values.get(name, "1")
            url = path.replace("{" + name + "}", value)
            path = url
    return path


def test_a_read_only_key_reads_what_an_admin_reads_and_changes_nothing(client: TestClient) -> None:
    full, reader = _keys(client)
    document = client.get("/openapi.json").json()
    reads, refused = [], []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            url = _url(path, operation)
            # A body that passes validation, so what answers is the key's role, not the schema.
            body = {"label": "positive", "idempotency_key": "k"} if path.endswith("/submit") else {}
            answer = client.request(method.upper(), url, json=body, headers=reader)
            if method in _READS:
                # Whatever the admin key gets, the read-only key gets too (a 404 for a made-up id is the same).
                assert answer.status_code == client.request(method.upper(), url, headers=full).status_code, (path,)
                assert answer.status_code != 403, (method, path, answer.text)
                reads.append(path)
            else:
                assert answer.status_code == 403, (method, path, answer.text)
                assert "read-only" in answer.json()["error"]
                refused.append(f"{method.upper()} {path}")
    assert {"/api/v1/jobs", "/api/v1/jobs/{name}", "/api/v1/datasets/{name}/items"} <= set(reads)
    assert {"POST /api/v1/jobs", "POST /api/v1/jobs/{name}/start", "POST /api/v1/datasets"} <= set(refused)
    with _factory(client)() as session:
        job = session.scalars(select(Job)).one()
        assert job.state.value == "draft"  # nothing the read-only key sent changed it
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def test_a_read_only_key_cannot_sign_in_to_the_console(client: TestClient) -> None:
    _, reader = _keys(client)
    key = reader["Authorization"].removeprefix("Bearer ")
    answer = client.post("/admin/login", data={"api_key": key}, follow_redirects=False)
    assert answer.status_code == 403 and "read-only" in answer.text
    assert "gs_session" not in answer.cookies


def test_the_cli_makes_read_only_keys(tmp_path: Any) -> None:
    env = {"GROUNDSWELL_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli_app, ["admin", "create", "dash@example.org", "--read-only"], env=env)
    assert result.exit_code == 0, result.output
    assert "Read-only API key" in result.output
    from groundswell.settings import Settings
    from groundswell.store import make_engine, make_session_factory

    engine = make_engine(Settings(data_dir=tmp_path).database_url)
    with make_session_factory(engine)() as session:
        assert session.scalars(select(ApiKey.role)).all() == ["read-only"]
    engine.dispose()
