"""Operations: Prometheus metrics at /metrics and JSON logs tied to X-Request-Id, in-process on both databases,
and through `groundswell serve --workers 2` with PROMETHEUS_MULTIPROC_DIR and GROUNDSWELL_LOG_FORMAT=json."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from factories import make_dataset, make_job
from groundswell import jobs
from groundswell.runner.queue import claim
from groundswell.settings import Settings
from groundswell.store.db import transaction
from groundswell.store.queue import enqueue
from groundswell.store.tables import utcnow
from groundswell.telemetry.logs import JsonFormatter
from groundswell.web.app import create_app
from servers import start_server, stop_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _factory(client: TestClient) -> Any:
    return client.app.state.factory  # type: ignore[attr-defined]


def _scrape(client: TestClient | httpx.Client | str) -> tuple[str, Samples]:
    response = httpx.get(f"{client}/metrics") if isinstance(client, str) else client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return response.text, samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _admin(client: TestClient) -> dict[str, str]:
    with transaction(_factory(client)) as session:
        _, key = jobs.create_admin(session, "boss@example.org")
    return {"Authorization": f"Bearer {key}"}


def _annotator(client: TestClient, job: str) -> tuple[TestClient, dict[str, str]]:
    with transaction(_factory(client)) as session:
        _, token = jobs.create_invite(session, "ana@example.org", team=None, valid_for=timedelta(days=1))
    browser = TestClient(client.app)
    assert browser.post(f"/invite/{token}", follow_redirects=False).status_code == 303
    match = re.search(r'name="csrf-token" content="([^"]+)"', browser.get(f"/annotate/{job}").text)
    assert match
    return browser, {"X-CSRF-Token": match.group(1)}


def test_requests_are_counted_and_timed_by_route_template_and_status_class(client: TestClient) -> None:
    admin = _admin(client)
    route = {"method": "GET", "route": "/api/v1/jobs/{name}", "status": "4xx"}
    health = {"method": "GET", "route": "/healthz", "status": "2xx"}
    _, before = _scrape(client)
    for i in range(3):
        assert client.get(f"/api/v1/jobs/private-launch-{i}", headers=admin).status_code == 404
    for _ in range(2):
        assert client.get("/healthz").status_code == 200
    client.get("/invite/a-secret-invite-token")
    text, after = _scrape(client)

    assert _value(after, "groundswell_http_requests_total", **route) - _value(
        before, "groundswell_http_requests_total", **route
    ) == pytest.approx(3)
    for name in ("groundswell_http_request_duration_seconds_count", "groundswell_http_request_duration_seconds_bucket"):
        labels = {**route, "le": "+Inf"} if name.endswith("bucket") else route
        assert _value(after, name, **labels) - _value(before, name, **labels) == pytest.approx(3)
    assert _value(after, "groundswell_http_request_duration_seconds_sum", **route) > _value(
        before, "groundswell_http_request_duration_seconds_sum", **route
    )
    assert _value(after, "groundswell_http_requests_total", **health) - _value(
        before, "groundswell_http_requests_total", **health
    ) == pytest.approx(2)
    assert 'route="/invite/{token}"' in text
    # Templates only: no job name, invite token or email reaches the exposition.
    assert "private-launch" not in text and "a-secret-invite-token" not in text and "@example.org" not in text
    client.get("/no/such/page/for-anyone")
    text, _ = _scrape(client)
    assert 'route="unmatched"' in text and "for-anyone" not in text


def test_accepted_answers_are_counted_once_and_retries_not(client: TestClient) -> None:
    factory = _factory(client)
    make_job(factory, make_dataset(factory, "tweets", count=3), "metrics-job", workers_per_item=1)
    browser, headers = _annotator(client, "metrics-job")
    _, before = _scrape(client)
    for key in ("first", "second"):
        task = browser.post("/api/v1/jobs/metrics-job/tasks/next", json={}, headers=headers).json()["task"]
        body = {"label": "positive", "idempotency_key": key}
        assert browser.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers).status_code == 200
        retry = browser.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=body, headers=headers)
        assert retry.json()["replayed"] is True
    text, after = _scrape(client)
    counted = _value(after, "groundswell_answers_submitted_total") - _value(
        before, "groundswell_answers_submitted_total"
    )
    assert counted == pytest.approx(2)
    assert "tweet 0" not in text and "ana@" not in text


def test_queue_depth_and_runner_lag_are_read_from_the_database(client: TestClient) -> None:
    _, empty = _scrape(client)
    assert _value(empty, "groundswell_work_queue_depth", kind="consolidate", state="queued") == 0
    assert _value(empty, "groundswell_runner_lag_seconds") == 0
    now = utcnow()
    with transaction(_factory(client)) as session:
        enqueue(session, "consolidate", run_after=now - timedelta(seconds=120), dedupe=False)
        enqueue(session, "consolidate", run_after=now - timedelta(seconds=30), dedupe=False)
        enqueue(session, "redundancy_review", run_after=now + timedelta(hours=1))  # a retry waiting its turn
        enqueue(session, "auto_label_round", run_after=now - timedelta(seconds=5))
    with transaction(_factory(client)) as session:
        assert claim(session, "test-runner", kinds=frozenset({"auto_label_round"})) is not None
    _, samples = _scrape(client)
    depth = {
        (kind, state): _value(samples, "groundswell_work_queue_depth", kind=kind, state=state)
        for kind in ("consolidate", "redundancy_review", "auto_label_round")
        for state in ("queued", "running")
    }
    assert depth == {
        ("consolidate", "queued"): 2,
        ("consolidate", "running"): 0,
        ("redundancy_review", "queued"): 1,
        ("redundancy_review", "running"): 0,
        ("auto_label_round", "queued"): 0,
        ("auto_label_round", "running"): 1,
    }
    # The oldest due row waits 120 s; the review due in an hour is not late.
    assert 120 <= _value(samples, "groundswell_runner_lag_seconds") < 120 + 60


def test_metrics_can_be_switched_off(store_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(Settings(database_url=store_url, data_dir=tmp_path, metrics=False))) as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/healthz").headers["x-request-id"]


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the app logs from INFO on, formatted as GROUNDSWELL_LOG_FORMAT=json formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("groundswell")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_log_lines_carry_the_request_id_of_the_response(
    client: TestClient, json_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = _admin(client)
    ok = client.get("/api/v1/jobs", headers=admin)
    proxied = client.get("/api/v1/jobs", headers={**admin, "X-Request-Id": "nginx-0123abcd"})
    forged = client.get("/api/v1/jobs", headers={**admin, "X-Request-Id": 'x" "level": "CRITICAL'})
    assert proxied.headers["x-request-id"] == "nginx-0123abcd"
    assert re.fullmatch(r"[0-9a-f]{16}", forged.headers["x-request-id"])

    def broken(session: Any) -> Any:
        logging.getLogger("groundswell.jobs").warning("about to fail")
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(jobs, "list_jobs", broken)
    failed = TestClient(client.app, raise_server_exceptions=False).get("/api/v1/jobs", headers=admin)
    assert failed.status_code == 500

    records = _records(json_lines)
    assert all({"timestamp", "level", "logger", "message"} <= set(r) for r in records)
    access = {r["request_id"]: r for r in records if r["logger"] == "groundswell.access"}
    for response in (ok, proxied, forged, failed):
        line = access[response.headers["x-request-id"]]
        assert (line["method"], line["route"], line["status"]) == ("GET", "/api/v1/jobs", response.status_code)
        assert line["duration_ms"] >= 0
    request_id = failed.headers["x-request-id"]
    assert request_id in failed.json()["error"]
    inside = [r for r in records if r["message"] == "about to fail"]
    assert [r["request_id"] for r in inside] == [request_id]  # a line from deep inside the handler
    error = [r for r in records if r["level"] == "ERROR"]
    assert [r["request_id"] for r in error] == [request_id]
    assert "secret detail of a bug" in error[0]["exception"] and "Traceback" in error[0]["exception"]
    assert "secret" not in failed.text


def test_several_server_processes_share_their_metrics_and_log_json(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over from an earlier run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    monkeypatch.setenv("GROUNDSWELL_LOG_FORMAT", "json")
    server = start_server(postgres_url, tmp_path, workers=2)
    try:
        assert not (metrics_dir / "counter_1.db").exists()
        ids = set()
        for _ in range(20):  # a new connection each: the kernel spreads them over both processes
            response = httpx.get(f"{server.url}/healthz")
            assert response.status_code == 200
            ids.add(response.headers["x-request-id"])
        # Whichever process answers the scrape, it reports all processes' requests.
        for _ in range(4):
            _, samples = _scrape(server.url)
            health = _value(samples, "groundswell_http_requests_total", method="GET", route="/healthz", status="2xx")
            assert health == 20 + 1  # and start_server's own readiness check
            assert _value(samples, "groundswell_work_queue_depth", kind="consolidate", state="queued") == 0
        pids = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
        assert len(pids) == 2
    finally:
        stop_server(server)
    log = (tmp_path / f"server-{server.url.rsplit(':', 1)[1]}.log").read_text()
    records = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is one JSON object
    access = {r["request_id"]: r for r in records if r["logger"] == "groundswell.access"}
    assert ids <= set(access)
    assert {(access[i]["route"], access[i]["status"]) for i in ids} == {("/healthz", 200)}
    assert any(r["message"].startswith("Serving on http://") for r in records)
