"""`/healthz` asks the database: 200 while it answers, 503 in the documented error shape when it does not."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient

from groundswell.settings import Settings
from groundswell.web.app import create_app

DOWN = {"ok": False, "error": "database unreachable", "errors": ["database unreachable"], "status": 503}


def test_healthz_answers_ok_and_stays_out_of_the_api_schema(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})
    assert "/healthz" not in client.get("/openapi.json").json()["paths"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_healthz_is_503_when_postgres_does_not_answer(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://groundswell@127.0.0.1:{_free_port()}/nowhere"
    with TestClient(create_app(Settings(database_url=url, data_dir=tmp_path), migrate=False)) as client:
        response = client.get("/healthz")
    assert (response.status_code, response.json()) == (503, DOWN)
    assert "127.0.0.1" not in response.text


def test_healthz_is_503_while_the_sqlite_file_cannot_be_opened_and_recovers_after(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    database.mkdir()  # a folder where the database file should be
    settings = Settings(database_url=f"sqlite:///{database}", data_dir=tmp_path)
    with TestClient(create_app(settings, migrate=False)) as client:
        response = client.get("/healthz")
        assert (response.status_code, response.json()) == (503, DOWN)
        database.rmdir()
        assert client.get("/healthz").status_code == 200
