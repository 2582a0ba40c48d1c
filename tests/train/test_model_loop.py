"""The model loop (issue 16, item 3, second half) on each database: the runner retrains a job's model as its
human labels grow, promotes a candidate only if it scores at least as well as the served one on a fixed
held-out set, records every version, and restores one on request (CLI and API)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from groundswell import jobs
from groundswell.cli import app as cli
from groundswell.ml import CARD_FILE
from groundswell.runner import make_handlers, run_pending
from groundswell.settings import Settings
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Dataset, Item, Job, JobItem, ModelVersion, utcnow
from groundswell.train.loop import RETRAIN_WORK, _held_out, retrain_job, schedule_retrains, set_model_loop
from groundswell.web.app import create_app

LABELS = ["negative", "neutral", "positive"]
TEMPLATES = [
    ["hate this {}", "awful {} today", "so angry about the {}", "worst {} ever", "terrible {} again"],
    ["the {} is on tv at 9", "new {} announced", "reading about the {}", "the {} starts monday", "{} update out"],
    ["love this {}", "great {} today", "so happy with the {}", "best {} ever", "awesome {} again"],
]
THINGS = ["phone", "movie", "game", "match", "album", "show", "laptop", "song", "team", "book", "car", "series"]


def _labeled_job(factory: sessionmaker[Session], served: Path) -> tuple[int, dict[str, int]]:
    """A streaming-free job over 180 toy tweets, every one labeled by people; its model loop serves ``served``."""
    pairs = [(t.format(x), c) for c, group in enumerate(TEMPLATES) for t in group for x in THINGS]
    with transaction(factory) as session:
        dataset = Dataset(name="toy")
        session.add(dataset)
        session.flush()
        session.add_all(
            Item(dataset_id=dataset.id, external_id=str(i), text=t, content_hash=f"{i:032d}")
            for i, (t, _) in enumerate(pairs)
        )
    with transaction(factory) as session:
        job = jobs.create_job(session, jobs.JobSpec(name="loop", dataset="toy", labels=LABELS, workers_per_item=1))
        truth = dict(pairs)
        for item_id, text in session.execute(select(Item.id, Item.text)).all():
            session.execute(update(JobItem).where(JobItem.item_id == item_id).values(is_done=True))
            session.execute(
                insert(ConsolidatedLabel).values(
                    job_id=job.id, item_id=item_id, label=LABELS[truth[text]], class_index=truth[text],
                    confidence=1.0, method="mv", human_annotated=True, judgment_count=1, updated_at=utcnow(),
                )
            )  # fmt: skip
        set_model_loop(session, job, served, every=100)
        return job.id, truth


def test_the_runner_retrains_promotes_what_is_not_worse_and_a_version_can_be_restored(
    store_url: str, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    served = tmp_path / "served"
    job_id, truth = _labeled_job(factory, served)
    handlers = make_handlers(artifact_dir=tmp_path / "models")
    first = [o for o in run_pending(factory, handlers=handlers) if o.kind == RETRAIN_WORK]
    assert [o.state.value for o in first] == ["done"], first
    assert first[0].result is not None and first[0].result["promoted"] and (served / CARD_FILE).exists()
    assert first[0].result["reason"] == "runner: no model served yet"
    with transaction(factory) as session:
        assert schedule_retrains(session) == 0  # no new labels since
    promoted_card = (served / CARD_FILE).read_bytes()

    # People now disagree with the past on every tweet the loop trains on (not the held-out ones): the next
    # candidate learns the wrong labels, scores worse on the held-out tweets and is not promoted.
    with transaction(factory) as session:
        rows = session.execute(select(Item.id, Item.text)).all()
        held = _held_out([t for _, t in rows])
        for (item_id, text), is_held in zip(rows, held, strict=True):
            if not is_held:
                wrong = (truth[text] + 1) % 3
                session.execute(
                    update(ConsolidatedLabel)
                    .where(ConsolidatedLabel.item_id == item_id)
                    .values(label=LABELS[wrong], class_index=wrong)
                )
    worse = retrain_job(factory, job_id)
    assert not worse.promoted and worse.current_score is not None and worse.candidate_score < worse.current_score
    assert (served / CARD_FILE).read_bytes() == promoted_card

    env = {"GROUNDSWELL_DATABASE_URL": store_url, "GROUNDSWELL_DATA_DIR": str(tmp_path)}
    listed = CliRunner().invoke(cli, ["job", "models", "loop"], env=env)
    out = " ".join(listed.output.split())
    assert listed.exit_code == 0 and "│ 0.000 │ 1.000 │ no │" in out and "│ 1.000 │ – │ yes │" in out, out
    assert "kept the served model: the candidate is worse (0.0000 < 1.0000)" in out, out
    with TestClient(create_app(Settings(database_url=store_url, data_dir=tmp_path))) as client:
        with transaction(client.app.state.factory) as session:  # type: ignore[attr-defined]
            _, key = jobs.create_admin(session, "boss@example.org")
        headers = {"Authorization": f"Bearer {key}"}
        versions: list[dict[str, Any]] = client.get("/api/v1/jobs/loop/models", headers=headers).json()
        assert [(v["kind"], v["metrics"]["promoted"]) for v in versions] == [("loop", False), ("loop", True)]
        (served / CARD_FILE).unlink()  # as if someone broke the served folder
        restored = client.post(f"/api/v1/jobs/loop/models/{versions[1]['id']}/restore", headers=headers)
        assert restored.status_code == 200, restored.text
        assert restored.json()["metrics"]["restored_from"] == versions[1]["id"]
        assert client.post("/api/v1/jobs/loop/models/99999/restore", headers=headers).status_code == 404
    assert (served / CARD_FILE).read_bytes() == promoted_card
    with factory() as session:
        kinds = session.scalars(select(ModelVersion.purpose).order_by(ModelVersion.id)).all()
    assert kinds == ["loop", "loop", "restore"]


def test_models_trained_from_a_job_over_the_api_as_background_work(
    store_url: str, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 15's model and consolidation routes: POST /jobs/{name}/models queues a training run the runner
    does; /work/{id} follows it; the job's models and one model's card are listed; consolidation runs now."""
    _labeled_job(factory, tmp_path / "served")
    with TestClient(create_app(Settings(database_url=store_url, data_dir=tmp_path))) as client:
        with transaction(client.app.state.factory) as session:  # type: ignore[attr-defined]
            _, key = jobs.create_admin(session, "boss@example.org")
        headers = {"Authorization": f"Bearer {key}"}
        queued = client.post("/api/v1/jobs/loop/models", json={"name": "first"}, headers=headers)
        assert queued.status_code == 202, queued.text
        work = queued.json()
        assert (work["kind"], work["state"], work["payload"]) == (
            "train",
            "queued",
            {"name": "first", "model_type": "tfidf-linear"},
        )
        outcomes = run_pending(factory, handlers=make_handlers(artifact_dir=tmp_path / "models"))
        assert "done" in {o.state.value for o in outcomes if o.kind == "train"}
        done = client.get(f"/api/v1/work/{work['id']}", headers=headers).json()
        assert done["state"] == "done" and done["result"]["artifact_uri"].endswith("models/trained/first")
        version = done["result"]["model_version_id"]
        listed = client.get("/api/v1/jobs/loop/models", headers=headers).json()
        assert [(m["id"], m["kind"]) for m in listed if m["kind"] == "trained"] == [(version, "trained")]
        detail = client.get(f"/api/v1/models/{version}", headers=headers).json()
        assert detail["card"]["labels"] == LABELS and detail["card"]["model_type"] == "tfidf-linear"
        assert detail["metrics"] == detail["card"]["metrics"]
        bad = client.post("/api/v1/jobs/loop/models", json={"model_type": "gpt"}, headers=headers)
        assert bad.status_code == 422
        assert client.get("/api/v1/work/999999", headers=headers).status_code == 404
        assert client.get("/api/v1/models/99999", headers=headers).status_code == 404
        report = client.post("/api/v1/jobs/loop/consolidate", json={"method": "mv"}, headers=headers)
        assert report.status_code == 200, report.text
        assert (report.json()["method"], report.json()["items_labeled"]) == ("mv", 0)  # no answers: labels are set


def test_a_schedule_retrains_a_slow_stream_once_its_interval_passed(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    job_id, _ = _labeled_job(factory, tmp_path / "served")
    retrain_job(factory, job_id)  # the first candidate has seen all 180 labels
    with transaction(factory) as session:
        job = session.get(Job, job_id)
        assert job is not None
        set_model_loop(session, job, tmp_path / "served", every=1000, interval_s=3600)
        later = utcnow() + timedelta(hours=2)
        assert schedule_retrains(session, now=later) == 0  # time passed, but no new label
        dataset_id = session.scalars(select(Dataset.id)).one()
        item = Item(dataset_id=dataset_id, external_id="new", text="love this new phone", content_hash="n" * 32)
        session.add(item)
        session.flush()
        session.add(JobItem(job_id=job_id, item_id=item.id, judgments_wanted=1, is_done=True))
        session.add(
            ConsolidatedLabel(
                job_id=job_id, item_id=item.id, label="positive", class_index=2, confidence=1.0, method="mv",
                human_annotated=True, judgment_count=1,
            )
        )  # fmt: skip
    with transaction(factory) as session:
        assert schedule_retrains(session) == 0  # one new label, 999 short, and the hour has not passed
        assert schedule_retrains(session, now=later) == 1  # the hour has passed
        assert schedule_retrains(session, now=later) == 0  # already queued
