"""The model endpoint's request ids and /metrics: counted by route, never by the text asked about."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from groundswell.serve import Predictor
from groundswell.serve.app import make_app


def test_the_endpoint_counts_requests_by_route_without_their_text(model_dir: Path) -> None:
    with TestClient(make_app(Predictor.from_dir(model_dir))) as client:
        answer = client.post("/invocations", json={"instances": ["love this phone"]})
        assert answer.status_code == 200 and answer.headers["x-request-id"]
        assert client.get("/predict", params={"text": "my private words"}).status_code == 200
        text = client.get("/metrics").text
    assert 'groundswell_http_requests_total{method="POST",route="/invocations",status="2xx"}' in text
    assert 'route="/predict"' in text and "private" not in text and "love" not in text


def test_the_endpoint_can_leave_metrics_out(model_dir: Path) -> None:
    with TestClient(make_app(Predictor.from_dir(model_dir), metrics=False)) as client:
        assert client.get("/metrics").status_code == 404
