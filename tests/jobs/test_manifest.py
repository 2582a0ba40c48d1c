"""Job export: Ground Truth's output manifest line by line, CSV/Parquet, worker-response files, gold left out,
S3, and the `job consolidate` / `job export` commands."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from factories import LABELS, answer, make_job, make_workers, take
from groundswell.jobs import Task, get_job
from groundswell.jobs.consolidation import consolidate_job
from groundswell.jobs.exports import FLAT_COLUMNS, export_job
from groundswell.store.db import transaction
from groundswell.store.tables import Dataset, Item, JobItem

CREATION_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
METADATA_KEYS = ["class-name", "confidence", "type", "job-name", "human-annotated", "creation-date"]


def _dataset(factory: sessionmaker[Session], name: str = "launch") -> str:
    """Four tweets with pass-through attributes; the third is stored by reference (source-ref)."""
    with transaction(factory) as session:
        dataset = Dataset(name=name, id_column="tweet_id")
        session.add(dataset)
        session.flush()
        for i in range(4):
            attributes: dict[str, Any] = {"tweet_id": f"id-{i}", "lang": "en"}
            if i == 2:
                attributes["source-ref"] = "s3://bucket/texts/2.txt"
            session.add(
                Item(
                    dataset_id=dataset.id,
                    external_id=f"id-{i}",
                    text=f"tweet número {i} 🚀",
                    content_hash=f"{i:032d}",
                    attributes=attributes,
                )
            )
    return name


def _answer_all(factory: sessionmaker[Session], job: str, workers: list[Any], skip: set[int]) -> dict[int, str]:
    """Workers answer every item except the ``skip``-th ones (by position); returns item id → label given."""
    given: dict[int, str] = {}
    with factory() as session:
        the_job = get_job(session, job)
        ids = sorted(r.item_id for r in session.query(JobItem).filter(JobItem.job_id == the_job.id))
    wanted = {item_id for position, item_id in enumerate(ids) if position not in skip}
    for worker in workers:
        held = []
        while isinstance(task := take(factory, job, worker, exclude=frozenset(t.lease_id for t in held)), Task):
            if task.item_id not in wanted:
                held.append(task)
                if len(held) >= 2:
                    break
                continue
            label = LABELS[ids.index(task.item_id) % 3]
            given[task.item_id] = label
            answer(factory, worker, task, label=label)
    return given


@pytest.fixture
def labeled(factory: sessionmaker[Session]) -> tuple[str, dict[int, str]]:
    """A two-per-item job over the four tweets; the last tweet is left unanswered; consolidated."""
    job = make_job(factory, _dataset(factory), name="Launch-Sentiment", workers_per_item=2, label_attribute_name="mood")
    given = _answer_all(factory, job, make_workers(factory, 2, team=None), skip={3})
    with transaction(factory) as session:
        consolidate_job(session, get_job(session, job), method="mv")
    return job, given


def test_manifest_lines_round_trip_into_exactly_the_documented_shape(
    factory: sessionmaker[Session], labeled: tuple[str, dict[int, str]], tmp_path: Path
) -> None:
    job, given = labeled
    out = tmp_path / "output.manifest"
    report = export_job(factory, job, str(out))
    assert (report.items, report.labeled) == (4, 3)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 4
    first = lines[0]
    # The input line first, then the label keys (PostgreSQL's JSONB does not keep the attributes' order).
    assert next(iter(first)) == "source" and list(first)[-2:] == ["mood", "mood-metadata"]
    assert set(first) == {"source", "tweet_id", "lang", "mood", "mood-metadata"}
    assert first["source"] == "tweet número 0 🚀" and first["tweet_id"] == "id-0" and first["lang"] == "en"
    assert first["mood"] == 0 and isinstance(first["mood"], int)
    metadata = first["mood-metadata"]
    assert list(metadata) == METADATA_KEYS
    assert metadata["class-name"] == "positive"
    assert metadata["confidence"] == 1.0 and isinstance(metadata["confidence"], float)
    assert metadata["type"] == "groundtruth/text-classification"
    assert metadata["job-name"] == "labeling-job/launch-sentiment"
    assert metadata["human-annotated"] == "yes"
    assert CREATION_DATE.match(metadata["creation-date"])
    assert lines[1]["mood"] == 1 and lines[1]["mood-metadata"]["class-name"] == "negative"
    # The stored-by-reference tweet keeps its source-ref and gets no inline source.
    assert "source" not in lines[2] and lines[2]["source-ref"] == "s3://bucket/texts/2.txt"
    assert lines[2]["mood-metadata"]["class-name"] == "neutral"
    # The unanswered tweet is its input line, verbatim.
    assert lines[3] == {"source": "tweet número 3 🚀", "tweet_id": "id-3", "lang": "en"}
    assert sorted(given.values()) == ["negative", "neutral", "positive"]


def test_one_judgment_per_item_reports_confidence_zero(factory: sessionmaker[Session], tmp_path: Path) -> None:
    job = make_job(factory, _dataset(factory, "single"), name="single", workers_per_item=1)
    _answer_all(factory, job, make_workers(factory, 1, team=None), skip=set())
    with transaction(factory) as session:
        report = consolidate_job(session, get_job(session, job))
    assert report.method == "mv"
    out = tmp_path / "single.manifest"
    export_job(factory, job, str(out))
    confidences = [json.loads(line)["single-metadata"]["confidence"] for line in out.read_text().splitlines()]
    assert confidences == [0.0, 0.0, 0.0, 0.0]


def test_csv_and_parquet_carry_the_same_labels(
    factory: sessionmaker[Session], labeled: tuple[str, dict[int, str]], tmp_path: Path
) -> None:
    job, _ = labeled
    export_job(factory, job, str(tmp_path / "labels.csv"), fmt="csv")
    export_job(factory, job, str(tmp_path / "labels.parquet"), fmt="parquet")
    table_csv = pd.read_csv(tmp_path / "labels.csv", keep_default_na=False)
    table_pq = pd.read_parquet(tmp_path / "labels.parquet")
    for table in (table_csv, table_pq):
        assert list(table.columns) == list(FLAT_COLUMNS)
        assert list(table["id"]) == ["id-0", "id-1", "id-2", "id-3"]
        assert list(table["label"][:3]) == ["positive", "negative", "neutral"]
        assert json.loads(table["attributes"][0]) == {"lang": "en", "tweet_id": "id-0"}
    assert pd.isna(table_pq["label"][3]) and table_csv["label"][3] == ""
    assert table_pq["class_index"][:3].tolist() == [0, 1, 2]


def test_gold_items_are_left_out_of_every_output(factory: sessionmaker[Session], tmp_path: Path) -> None:
    job = make_job(factory, _dataset(factory, "gold"), name="gold", workers_per_item=1)
    with transaction(factory) as session:
        the_job = get_job(session, job)
        gold_row = min(session.query(JobItem).filter(JobItem.job_id == the_job.id), key=lambda r: r.item_id)
        gold_row.is_gold = True
        gold_id = gold_row.item_id
    _answer_all(factory, job, make_workers(factory, 1, team=None), skip=set())
    with transaction(factory) as session:
        consolidate_job(session, get_job(session, job))
    out = tmp_path / "gold.manifest"
    report = export_job(factory, job, str(out), worker_responses_dir=str(tmp_path / "gt"))
    assert report.items == 3 and report.worker_response_files == 3
    assert "id-0" not in out.read_text()
    folders = sorted(p.name for p in (tmp_path / "gt/annotations/worker-response/iteration-1").iterdir())
    assert folders == ["1", "2", "3"] and gold_id is not None


def test_worker_response_files_follow_ground_truths_layout(
    factory: sessionmaker[Session], labeled: tuple[str, dict[int, str]], tmp_path: Path
) -> None:
    job, _ = labeled
    export_job(
        factory, job, str(tmp_path / "out/manifests/output/output.manifest"), worker_responses_dir=str(tmp_path / "out")
    )
    files = sorted((tmp_path / "out/annotations/worker-response/iteration-1").glob("*/*.json"))
    assert [f.parent.name for f in files] == ["0", "1", "2"]
    assert all(re.match(r"^\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.json$", f.name) for f in files)
    document = json.loads(files[0].read_text())
    assert len(document["answers"]) == 2
    assert document["answers"][0]["answerContent"] == {"crowd-classifier": {"label": "positive"}}
    assert (tmp_path / "out/manifests/output/output.manifest").exists()


@pytest.mark.s3
def test_export_to_s3(sqlite_url: str, s3_bucket: tuple[str, dict[str, object]], tmp_path: Path) -> None:
    from groundswell.store import make_engine, make_session_factory, upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    try:
        job = make_job(factory, _dataset(factory), name="s3-job", workers_per_item=1)
        _answer_all(factory, job, make_workers(factory, 1, team=None), skip=set())
        with transaction(factory) as session:
            consolidate_job(session, get_job(session, job))
        bucket, options = s3_bucket
        report = export_job(
            factory,
            job,
            f"s3://{bucket}/out/output.manifest",
            worker_responses_dir=f"s3://{bucket}/out",
            storage_options=dict(options),
        )
        with fsspec.open(f"s3://{bucket}/out/output.manifest", "r", **options) as handle:
            lines = [json.loads(line) for line in handle]
        fs = fsspec.filesystem("s3", **options)
        assert (
            report.worker_response_files == 4
            and len(fs.glob(f"{bucket}/out/annotations/worker-response/*/*/*.json")) == 4
        )
        assert [line["s3-job"] for line in lines] == [0, 1, 2, 0]
    finally:
        engine.dispose()


def test_job_consolidate_and_export_commands(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from groundswell.cli.job import app as job_app
    from groundswell.store import make_engine, make_session_factory, upgrade

    engine = make_engine(sqlite_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    try:
        job = make_job(factory, _dataset(factory), name="cli-job", workers_per_item=1)
        _answer_all(factory, job, make_workers(factory, 1, team=None), skip=set())
    finally:
        engine.dispose()
    app = typer.Typer()
    app.add_typer(job_app, name="job")
    monkeypatch.setenv("GROUNDSWELL_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    result = runner.invoke(app, ["job", "consolidate", "cli-job", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["items_labeled"] == 4
    out = tmp_path / "cli.manifest"
    result = runner.invoke(app, ["job", "export", "cli-job", "--out", str(out), "--format", "manifest"])
    assert result.exit_code == 0, result.output
    assert "4 labeled" in result.output and len(out.read_text().splitlines()) == 4
    bad = runner.invoke(app, ["job", "export", "cli-job", "--out", str(out), "--format", "xml"])
    assert bad.exit_code == 2 and "unknown format" in bad.output
    missing = runner.invoke(app, ["job", "consolidate", "nope"])
    assert missing.exit_code == 2
