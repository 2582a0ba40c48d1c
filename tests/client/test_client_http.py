"""The SDK's HTTP layer without a server (httpx's MockTransport): what it sends (key, paths, query, upload
bodies) and how it reads what comes back (error bodies of every kind, paging), where a live server cannot be
made to misbehave on purpose."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from groundswell.client import (
    API_KEY_ENV,
    Client,
    GroundswellAPIError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
)

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **kwargs: object) -> tuple[Client, httpx.Client]:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return Client("http://gs.test/", api_key="gs_key", http_client=http, **kwargs), http  # type: ignore[arg-type]


def test_an_error_body_becomes_the_exception_for_its_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer gs_key"
        assert request.url.path == "/api/v1/jobs/launch-sentiment"
        body = {"ok": False, "error": "no job named 'launch-sentiment'", "errors": ["a", "b"], "status": 404}
        return httpx.Response(404, json=body, headers={"X-Request-Id": "req-1"})

    gs, _ = _client(handler)
    with pytest.raises(NotFoundError) as caught:
        gs.jobs.get("launch-sentiment")
    error = caught.value
    assert isinstance(error, GroundswellAPIError)
    assert (error.status, error.message, error.errors, error.request_id) == (
        404,
        "no job named 'launch-sentiment'",
        ["a", "b"],
        "req-1",
    )


@pytest.mark.parametrize(
    ("response", "kind", "message", "retry_after"),
    [
        (httpx.Response(502, text="<html>Bad Gateway</html>"), ServerError, "HTTP 502 Bad Gateway: <html>", None),
        (httpx.Response(500), ServerError, "HTTP 500 Internal Server Error", None),
        (
            httpx.Response(503, json={"error": "the database is restarting"}, headers={"Retry-After": "2"}),
            ServiceUnavailableError,
            "the database is restarting",
            2.0,
        ),
        (httpx.Response(429, json={"error": "slow"}, headers={"Retry-After": "soon"}), RateLimitedError, "slow", None),
        (httpx.Response(418, json=["not", "the", "shape"]), GroundswellAPIError, "HTTP 418", None),
    ],
)
def test_other_failures_still_raise_with_what_answered(
    response: httpx.Response, kind: type[GroundswellAPIError], message: str, retry_after: float | None
) -> None:
    gs, _ = _client(lambda request: response)
    with pytest.raises(kind) as caught:
        gs.datasets.list()
    assert caught.value.message.startswith(message) and caught.value.retry_after == retry_after
    assert caught.value.errors == [caught.value.message]


def test_paging_follows_next_cursor_and_sends_the_filters() -> None:
    seen: list[dict[str, str]] = []
    row = {
        "item_id": "t1",
        "source": "hi",
        "label": "positive",
        "class_index": 0,
        "confidence": 0.9,
        "human_annotated": True,
        "method": "mv",
        "judgment_count": 3,
        "updated_at": "2024-05-01T12:00:00Z",
        "added_later": "ignored",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        if request.url.path == "/api/v1/jobs/j":
            return httpx.Response(200, json=_job())
        following = {None: "a", "a": "b", "b": None}[params.get("cursor")]
        return httpx.Response(200, json={"labels": [{**row, "item_id": f"t{len(seen)}"}], "next_cursor": following})

    gs, _ = _client(handler)
    job = gs.jobs.get("j")
    labels = job.labels(human=False, min_confidence=0.5)
    assert [x.item_id for x in labels] == ["t2", "t3", "t4"]
    assert labels[0].updated_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert seen[1] == {"human": "false", "min_confidence": "0.5", "limit": "1000"}
    assert [s.get("cursor") for s in seen[1:]] == [None, "a", "b"]
    frame = job.labels(as_="pandas", label="none")
    assert len(frame) == 3 and frame["confidence"].tolist() == [0.9] * 3


def test_an_empty_label_frame_still_has_the_columns() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/labels"):
            return httpx.Response(200, json={"labels": [], "next_cursor": None})
        return httpx.Response(200, json=_job())

    gs, _ = _client(handler)
    frame = gs.jobs.get("j").labels(as_="pandas")
    assert frame.empty and list(frame.columns)[:3] == ["item_id", "source", "label"]


def _job() -> dict[str, object]:
    return {
        "name": "j",
        "dataset": "d",
        "labels": ["positive", "negative"],
        "state": "draft",
        "label_attribute_name": "j",
        "workers_per_item": 3,
        "max_workers_per_item": 3,
        "task_time_limit_s": 300,
        "task_availability_s": 60,
        "max_concurrent_tasks": None,
        "teams": [],
        "created_at": "2024-05-01T12:00:00+00:00",
        "started_at": None,
        "finished_at": None,
    }


def _uploaded(request: httpx.Request) -> tuple[dict[str, str], str, bytes]:
    """The form fields, file name and file bytes of a multipart request."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    fields: dict[str, str] = {}
    filename, content = "", b""
    for part in request.content.split(b"--" + boundary)[1:-1]:
        head, _, body = part[2:-2].partition(b"\r\n\r\n")  # each part is CRLF, headers, blank line, body, CRLF
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        if b"filename=" in head:
            filename, content = head.split(b'filename="')[1].split(b'"')[0].decode(), body
        else:
            fields[name] = body.decode()
    return fields, filename, content


_IMPORTED = {
    "dataset": "d",
    "source": "d.jsonl",
    "format": "jsonl",
    "created_dataset": True,
    "rows_read": 1,
    "imported": 1,
    "rejected": 0,
    "duplicate_ids": 0,
    "duplicate_texts": 0,
    "duplicates": [{"line": 2, "item_id": "x", "first_seen": "d.jsonl:1", "same_id": True}],
    "problems": [],
}


def _capture(sent: list[tuple[dict[str, str], str, bytes]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            sent.append(_uploaded(request))
            return httpx.Response(201, json=_IMPORTED)
        return httpx.Response(200, json={"name": "d", "items": 1, "gold_items": 0, "created_at": "2024-05-01T12:00Z"})

    return handler


def test_records_and_frames_are_sent_as_json_lines_with_the_text_as_source(tmp_path: Path) -> None:
    sent: list[tuple[dict[str, str], str, bytes]] = []
    gs, _ = _client(_capture(sent))
    gs.datasets.create("d", [{"tweet": "hi ✓", "n": 1}, {"tweet": "yo", "n": 2}], id_column="n", skip_invalid=True)
    gs.datasets.create("d", [{"body": "hi", "lang": "en"}], text_column="body")
    when = pd.to_datetime(pd.Series(["2024-05-01", None]))
    frame = pd.DataFrame({"text": ["a", "b"], "when": when, "score": [1.5, None]})
    gs.datasets.create("d", frame)
    (tmp_path / "t.csv").write_bytes(b"text\nhello\n")
    gs.datasets.create("d", tmp_path / "t.csv", format="csv")
    records, renamed, from_frame, from_file = sent
    assert records[0] == {"name": "d", "id_column": "n", "skip_invalid": "true"} and records[1] == "d.jsonl"
    assert [json.loads(x) for x in records[2].decode().splitlines()] == [
        {"source": "hi ✓", "n": 1},
        {"source": "yo", "n": 2},
    ]
    assert json.loads(renamed[2]) == {"lang": "en", "source": "hi"}
    assert renamed[0] == {"name": "d"}  # JSON Lines take no text_column: the text is 'source'
    lines = [json.loads(x) for x in from_frame[2].decode().splitlines()]
    assert lines[0]["source"] == "a" and lines[0]["when"].startswith("2024-05-01") and lines[1]["score"] is None
    assert from_file == ({"name": "d", "format": "csv"}, "t.csv", b"text\nhello\n")


def test_what_is_not_records_is_refused_before_anything_is_sent() -> None:
    gs, _ = _client(lambda request: pytest.fail("nothing should be sent"))
    with pytest.raises(TypeError, match="iterable of mappings"):
        gs.datasets.create("d", {"text": "one dict"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="record 2 is a list"):
        gs.datasets.create("d", [{"text": "ok"}, ["not", "a", "dict"]])  # type: ignore[list-item]
    # JSON Lines take the text from 'source', so a 'source' besides the named text column would be lost.
    with pytest.raises(ValueError, match="both 'body'"):
        gs.datasets.create("d", [{"body": "hi", "source": "web"}], text_column="body")
    with pytest.raises(ValueError, match="both 'body'"):
        gs.datasets.create("d", pd.DataFrame({"body": ["hi"], "source": ["web"]}), text_column="body")


def test_the_key_from_the_environment_and_who_closes_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "gs_from_env")
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("authorization"))
        return httpx.Response(200, json=[])

    given = httpx.Client(transport=httpx.MockTransport(handler))
    with Client("http://gs.test", http_client=given) as gs:
        assert gs.workers.list() == []
    assert keys == ["Bearer gs_from_env"] and not given.is_closed  # the caller's client stays theirs
    owned = Client("http://gs.test")
    owned.close()
    assert owned._http._client.is_closed
