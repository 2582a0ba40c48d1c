"""The endpoint contract over real HTTP: each content type, each error status, capture, batching, model swap."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import groundswell.serve as serve
from groundswell.serve import ModelHolder, Predictor, make_app
from groundswell.train import TrainingData, train_model

LiveServer = Any

ISO_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture
def server(model_dir: Path, live_server: Any, tmp_path: Path) -> LiveServer:
    return live_server(make_app(Predictor.from_dir(model_dir), capture_dir=tmp_path / "capture")).start()


def post(server: LiveServer, body: bytes | str, content_type: str, **headers: str) -> httpx.Response:
    data = body.encode() if isinstance(body, str) else body
    return httpx.post(server.url + "/invocations", content=data, headers={"content-type": content_type, **headers})


class TestInvocations:
    def test_ping_is_200_with_an_empty_body(self, server: LiveServer) -> None:
        response = httpx.get(server.url + "/ping")
        assert response.status_code == 200 and response.content == b""

    def test_json_instances(self, server: LiveServer) -> None:
        body = json.dumps({"instances": ["love this phone", {"source": "awful game today :("}]})
        response = post(server, body, "application/json")
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        first, second = response.json()["predictions"]
        assert (first["label"], first["class_index"]) == ("positive", 2)
        assert (second["label"], second["class_index"]) == ("negative", 0)
        assert set(first["probabilities"]) == {"negative", "neutral", "positive"}
        assert sum(first["probabilities"].values()) == pytest.approx(1.0)
        assert first["confidence"] == max(first["probabilities"].values())

    def test_json_single_source(self, server: LiveServer) -> None:
        response = post(server, json.dumps({"source": "new album announced"}), "application/json; charset=utf-8")
        assert response.json()["predictions"][0]["label"] == "neutral"

    def test_jsonlines_echo_lines_with_output_manifest_attributes(self, server: LiveServer) -> None:
        lines = [{"source": "love this phone", "id": "a", "extra": {"k": 1}}, {"source": "hate this movie", "id": "b"}]
        body = "\n".join(json.dumps(x) for x in lines) + "\n"
        response = post(server, body, "application/jsonlines")
        assert response.status_code == 200 and response.headers["content-type"] == "application/jsonlines"
        out = [json.loads(x) for x in response.text.splitlines()]
        assert [o["id"] for o in out] == ["a", "b"] and out[0]["extra"] == {"k": 1}
        assert out[0]["sentiment"] == 2 and out[1]["sentiment"] == 0
        meta = out[0]["sentiment-metadata"]
        assert meta["class-name"] == "positive" and 0 < meta["confidence"] <= 1
        assert meta["type"] == "groundtruth/text-classification" and meta["human-annotated"] == "no"
        assert meta["job-name"] == "labeling-job/toy" and ISO_MICROS.match(meta["creation-date"])

    def test_csv_rows(self, server: LiveServer) -> None:
        response = post(server, 'love this phone\n"hate this movie, really"\n', "text/csv")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = [line.split(",") for line in response.text.splitlines()]
        assert [r[:2] for r in rows] == [["positive", "2"], ["negative", "0"]]
        assert sum(float(x) for x in rows[0][2:]) == pytest.approx(1.0, abs=1e-5)

    def test_accept_json_for_csv_input(self, server: LiveServer) -> None:
        response = post(server, "love this phone\n", "text/csv", accept="application/json")
        assert response.json()["predictions"][0]["label"] == "positive"

    @pytest.mark.parametrize(
        ("body", "content_type", "message"),
        [
            ("{not json", "application/json", "not valid JSON"),
            ('{"instances": []}', "application/json", "non-empty list"),
            ('{"instances": ["ok", "  "]}', "application/json", "instances[1]: empty text"),
            ('{"text": "wrong key"}', "application/json", "expected"),
            ('{"source": "ok"}\n[1]\n', "application/jsonlines", "line 2: expected a JSON object"),
            ('{"id": 1}\n', "application/jsonlines", "line 1: expected a string"),
            ("", "text/csv", "empty body"),
            (b"\xff\xfe", "text/csv", "not UTF-8"),
        ],
    )
    def test_malformed_bodies_are_400_with_a_message(
        self, server: LiveServer, body: str | bytes, content_type: str, message: str
    ) -> None:
        response = post(server, body, content_type)
        assert response.status_code == 400
        error = response.json()
        assert error["ok"] is False and error["status"] == 400 and message in error["error"]

    def test_unknown_content_type_is_415(self, server: LiveServer) -> None:
        response = post(server, "hello", "application/xml")
        assert response.status_code == 415 and "application/jsonlines" in response.json()["error"]

    def test_over_6_mb_is_413(self, server: LiveServer) -> None:
        body = json.dumps({"instances": ["x" * 1000] * 6400})
        assert len(body) > 6 * 1024 * 1024
        assert post(server, body, "application/json").status_code == 413

    def test_execution_parameters(self, server: LiveServer) -> None:
        assert httpx.get(server.url + "/execution-parameters").json()["MaxPayloadInMB"] == 6


class TestPredictRoute:
    def test_get_and_post(self, server: LiveServer) -> None:
        response = httpx.get(server.url + "/predict", params={"text": "love this phone"})
        assert response.json()["label"] == "positive" and response.json()["text"] == "love this phone"
        many = httpx.post(server.url + "/predict", json={"texts": ["love it", "hate it"]}).json()
        assert [m["text"] for m in many] == ["love it", "hate it"]
        assert httpx.get(server.url + "/predict").status_code == 400


def test_data_capture_writes_sagemaker_style_lines(server: LiveServer, tmp_path: Path) -> None:
    post(
        server,
        json.dumps({"instances": ["love this phone"]}),
        "application/json",
        **{"x-amzn-sagemaker-inference-id": "req-1"},
    )
    post(server, "hate this\n", "text/csv")
    files = list((tmp_path / "capture").rglob("*.jsonl"))
    assert len(files) == 1 and re.search(r"capture/\d{4}/\d\d/\d\d/\d\d/", files[0].as_posix())
    first, second = [json.loads(x) for x in files[0].read_text().splitlines()]
    assert first["eventMetadata"]["eventId"] == "req-1" and first["eventVersion"] == "0"
    captured = first["captureData"]
    assert captured["endpointInput"]["mode"] == "INPUT" and captured["endpointInput"]["encoding"] == "JSON"
    assert json.loads(captured["endpointOutput"]["data"])["predictions"][0]["label"] == "positive"
    assert second["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": "hate this\n",
        "encoding": "CSV",
    }


def test_ping_is_503_until_a_model_loads(tmp_path: Path, model_dir: Path) -> None:
    holder = ModelHolder(tmp_path / "empty")
    app = make_app(holder)
    transport = httpx.ASGITransport(app=app)

    async def calls() -> list[int]:
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as client:
            before = (await client.get("/ping")).status_code
            busy = (await client.post("/invocations", json={"source": "hi"})).status_code
            holder.swap(model_dir)
            after = (await client.get("/ping")).status_code
            return [before, busy, after]

    assert asyncio.run(calls()) == [503, 503, 200]


def test_concurrent_requests_share_micro_batches(model_dir: Path) -> None:
    app = make_app(Predictor.from_dir(model_dir))
    endpoint = app.state.endpoint
    transport = httpx.ASGITransport(app=app)

    async def burst() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as client:
            responses = await asyncio.gather(
                *[client.post("/invocations", json={"instances": [f"love this phone {i}"]}) for i in range(40)]
            )
        await endpoint.batcher.close()
        return [r.json() for r in responses]

    results = asyncio.run(burst())
    assert all(r["predictions"][0]["label"] == "positive" for r in results)
    assert endpoint.batcher.requests == 40 and endpoint.batcher.batches < 40


def test_model_swap_without_downtime(
    model_dir: Path, live_server: Any, tmp_path: Path, make_toy_data: Callable[[], TrainingData]
) -> None:
    served = tmp_path / "served"
    shutil.copytree(model_dir, served)
    server = live_server(make_app(served, reload_interval_s=0.05)).start()
    before = httpx.get(server.url + "/model").json()["version"]
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                statuses.append(client.post(server.url + "/invocations", json={"source": "love it"}).status_code)

    worker = threading.Thread(target=hammer)
    worker.start()
    data = make_toy_data()
    data.texts.append("one more tweet to change the hash")
    data.targets.append(1)
    train_model(data, served, validation_fraction=0.2)
    deadline = 200
    while httpx.get(server.url + "/model").json()["version"] == before and deadline:
        deadline -= 1
        threading.Event().wait(0.05)
    stop.set()
    worker.join()
    assert httpx.get(server.url + "/model").json()["version"] != before
    assert statuses and set(statuses) == {200}


def test_public_names_match_all() -> None:
    modules = {"app", "batch", "batcher", "capture", "codecs", "predictor", "ray_engine", "review", "server"}
    assert {n for n in vars(serve) if not n.startswith("_")} - modules == set(serve.__all__)


@pytest.mark.slow
def test_endpoint_serve_command_in_a_subprocess(model_dir: Path, tmp_path: Path) -> None:
    """The real command path: Typer → run_endpoint → uvicorn factory in a fresh process → /ping and /invocations."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "import typer; from groundswell.cli import endpoint; app = typer.Typer(); endpoint.register(app);"
        "app.callback()(lambda: None); app()"
    )
    args = ["endpoint", "serve", str(model_dir), "--port", str(port), "--capture-dir", str(tmp_path / "cap")]
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        response = httpx.post(f"http://127.0.0.1:{port}/invocations", json={"instances": ["love this phone"]})
        assert response.json()["predictions"][0]["label"] == "positive"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "Serving tfidf-linear" in output
    assert list((tmp_path / "cap").rglob("*.jsonl"))


def test_router_mounts_under_a_prefix_in_another_app(model_dir: Path) -> None:
    from fastapi import FastAPI

    host = FastAPI()
    host.include_router(serve.make_router(Predictor.from_dir(model_dir)), prefix="/models/sentiment")
    transport = httpx.ASGITransport(app=host)

    async def call() -> tuple[int, str]:
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as client:
            ping = await client.get("/models/sentiment/ping")
            answer = await client.post("/models/sentiment/invocations", json={"source": "hate this movie"})
            return ping.status_code, answer.json()["predictions"][0]["label"]

    assert asyncio.run(call()) == (200, "negative")


def test_json_nested_too_deeply_is_a_400_in_the_documented_shape(model_dir: Path) -> None:
    transport = httpx.ASGITransport(app=make_app(Predictor.from_dir(model_dir)))
    deep = "[" * 100_000 + "]" * 100_000

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as client:
            headers = {"content-type": "application/json"}
            return [
                await client.post("/invocations", content=deep, headers=headers),
                await client.post("/invocations", content=deep, headers={"content-type": "application/jsonlines"}),
                await client.post("/predict", content=deep, headers=headers),
            ]

    for response in asyncio.run(calls()):
        assert response.status_code == 400
        assert response.json() == {
            "ok": False,
            "error": "JSON nested too deeply",
            "errors": ["JSON nested too deeply"],
            "status": 400,
        }


def test_an_unexpected_error_is_a_500_with_a_request_id_and_no_details(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(Predictor.from_dir(model_dir))

    async def broken(texts: Any) -> Any:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(app.state.endpoint, "predict", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://endpoint") as client:
            return await client.post("/invocations", json={"source": "hi"})

    response = asyncio.run(call())
    request_id = response.headers["x-request-id"]
    message = f"internal error; quote request id {request_id} to the operator"
    assert response.status_code == 500
    assert response.json() == {"ok": False, "error": message, "errors": [message], "status": 500}
