"""The model in the loop (issue 16, item 3, first half) on each database: the endpoint answers at once and
appends the tweets it is unsure of to a streaming job, each once however often it is asked; a batch job or a
bad threshold is refused before serving."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import make_dataset, make_job
from groundswell.cli import app as cli
from groundswell.errors import InvalidInputError, UsageError
from groundswell.serve import Predictor, make_app
from groundswell.serve.review import ReviewQueue, review_id
from groundswell.store.tables import Item, JobItem


def _items(factory: sessionmaker[Session]) -> dict[str, str]:
    with factory() as session:
        rows = session.execute(select(Item.external_id, Item.text).join(JobItem, JobItem.item_id == Item.id)).all()
    return {str(external_id): str(text) for external_id, text in rows}


def test_unsure_predictions_are_appended_to_the_streaming_job_once(
    store_url: str, factory: sessionmaker[Session], model_dir: Path
) -> None:
    make_job(factory, "stream", "brand-watch", streaming=True, workers_per_item=1)
    app = make_app(Predictor.from_dir(model_dir), review_job="brand-watch", review_below=0.9, database_url=store_url)
    sure, unsure = "love this phone", "the weather in the phone album at noon"
    with TestClient(app) as client:
        queue = client.app.state.endpoint.review  # type: ignore[attr-defined]
        assert isinstance(queue, ReviewQueue)
        answer = client.post("/invocations", json={"instances": [sure, unsure]})
        assert answer.status_code == 200
        confidences = [p["confidence"] for p in answer.json()["predictions"]]
        assert confidences[0] >= 0.9 > confidences[1], confidences  # the toy model is sure of one only
        client.post("/invocations", json={"instances": [unsure]})  # asked again: still one tweet to review
        queue.flush()
        assert client.get("/predict", params={"text": unsure}).status_code == 200
        queue.flush()
        assert queue.appended == 1
    assert _items(factory) == {review_id(unsure): unsure}


def test_a_batch_job_or_a_bad_threshold_is_refused(
    store_url: str, factory: sessionmaker[Session], model_dir: Path, tmp_path: Path
) -> None:
    make_job(factory, make_dataset(factory), "batch")
    with pytest.raises(UsageError, match="not a streaming job"):
        ReviewQueue(factory, "batch", 0.8)
    make_job(factory, "stream", "live", streaming=True)
    with pytest.raises(InvalidInputError, match="review-below"):
        ReviewQueue(factory, "live", 0.0)
    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(cli, ["endpoint", "serve", str(model_dir), "--review-job", "batch"], env=env)
    assert result.exit_code != 0 and "not a streaming job" in result.output, result.output
