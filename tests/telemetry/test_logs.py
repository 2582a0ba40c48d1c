"""JSON logs: the formatter's shape, configuring twice, and `groundswell runner` logging one JSON object per
line with GROUNDSWELL_LOG_FORMAT=json."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from groundswell.store.queue import enqueue
from groundswell.telemetry.logs import REQUEST_ID, JsonFormatter, configure_logging


def _format(record: logging.LogRecord) -> dict[str, object]:
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("groundswell.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_line_has_the_fields_extras_and_the_request_id() -> None:
    entry = _format(_record("took %d ms\nthen more \u2028 and ünïcode", 12, route="/x/{id}", status=200))
    assert entry["message"] == "took 12 ms\nthen more \u2028 and ünïcode"
    assert (entry["level"], entry["logger"], entry["route"], entry["status"]) == (
        "WARNING",
        "groundswell.test",
        "/x/{id}",
        200,
    )
    assert str(entry["timestamp"]).endswith("Z") and "request_id" not in entry
    token = REQUEST_ID.set("abc123")
    try:
        assert _format(_record("in a request"))["request_id"] == "abc123"
        assert _format(_record("handed in", request_id="explicit"))["request_id"] == "explicit"
    finally:
        REQUEST_ID.reset(token)


def test_an_exception_is_one_field_of_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("g", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = _format(record)
    assert "Traceback" in str(entry["exception"]) and "ValueError: boom" in str(entry["exception"])


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("groundswell")
    saved = (list(root.handlers), root.level, ours.level)
    yield
    configure_logging("text")
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    ours.setLevel(saved[2])


def test_configuring_again_replaces_the_handler_and_text_removes_it(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    before = len(logging.getLogger().handlers)
    configure_logging("json")
    configure_logging("json")
    assert len(logging.getLogger().handlers) == before + 1
    logging.getLogger("groundswell.anything").info("hello %s", "there")
    logging.getLogger("some.library").info("too chatty")  # other libraries from WARNING only
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["hello there"]
    configure_logging("text")
    assert len(logging.getLogger().handlers) == before


def test_the_runner_logs_json_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    prepare_store(engine)
    with transaction(make_session_factory(engine)) as session:
        enqueue(session, "consolidate")  # of no job: it fails, and says so
    engine.dispose()
    env = {**os.environ, "GROUNDSWELL_DATABASE_URL": url, "GROUNDSWELL_LOG_FORMAT": "json"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("groundswell")), "runner", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines()]
    failed = [r for r in records if r["logger"] == "groundswell.runner.loop"]
    assert len(failed) == 1 and failed[0]["level"] == "WARNING" and "no longer exists" in failed[0]["message"]
    assert records[-1]["message"].startswith("Ran 1 item(s); queue:")
