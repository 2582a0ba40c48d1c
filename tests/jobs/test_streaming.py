"""Streaming jobs (issue 16, item 1): created on an empty dataset, tweets appended while they run (all or
nothing, idempotent by id), never completing by themselves; on each database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from factories import LABELS, answer, make_dataset, make_job, make_workers, take, write_jsonl
from groundswell import jobs
from groundswell.domain import JobState
from groundswell.errors import ConflictError, RejectedInputError
from groundswell.ingest import ReadOptions
from groundswell.ingest.importer import ImportReport, import_into
from groundswell.jobs import NoTask
from groundswell.jobs.append import append_to_job
from groundswell.jobs.consolidation import consolidate_job
from groundswell.jobs.exports import export_job
from groundswell.store.db import transaction
from groundswell.store.tables import Item, JobItem


def _append(factory: sessionmaker[Session], job: str, path: Path, **options: Any) -> Report:
    """What `job append` does: the job's checks and items around the importer, in one transaction."""
    with transaction(factory) as session:
        result = append_to_job(
            session,
            job,
            lambda dataset: import_into(
                session, str(path), name=dataset.name, options=ReadOptions(**options).with_optional_id(None)
            ),
        )
    return Report(result.appended, result.report)


@dataclass(frozen=True)
class Report:
    appended: int
    imported: ImportReport

    def __getattr__(self, name: str) -> Any:
        return getattr(self.imported, name)


def _state(factory: sessionmaker[Session], job: str) -> JobState:
    with factory() as session:
        return jobs.get_job(session, job).state


def _label_everything(factory: sessionmaker[Session], job: str, workers: list[Any]) -> int:
    """Answer every open task with each worker in turn until none is left; how many answers."""
    given = 0
    for worker in workers:
        while not isinstance(task := take(factory, job, worker), NoTask):
            answer(factory, worker, task, "positive")
            given += 1
    return given


@pytest.fixture
def stream(factory: sessionmaker[Session]) -> str:
    """A running streaming job, one answer per tweet, over a dataset that does not exist yet."""
    return make_job(factory, "firehose", "brand-watch", streaming=True, workers_per_item=1)


def test_a_streaming_job_starts_on_a_missing_dataset_and_a_batch_job_does_not(factory: sessionmaker[Session]) -> None:
    make_job(factory, "firehose", "brand-watch", streaming=True)
    with factory() as session:
        job = jobs.get_job(session, "brand-watch")
        assert job.state is JobState.RUNNING and job.settings["streaming"] is True
        assert jobs.job_progress(session, job).items == 0
    make_dataset(factory, "empty", count=0)
    with pytest.raises(Exception, match="has no items"), transaction(factory) as session:
        jobs.create_job(session, jobs.JobSpec(name="batch", dataset="empty", labels=LABELS))


def test_appended_tweets_are_labeled_and_the_job_stays_running_until_stopped(
    factory: sessionmaker[Session], stream: str, tmp_path: Path
) -> None:
    workers = make_workers(factory, 2)
    first = write_jsonl(tmp_path / "a.jsonl", [{"source": f"tweet {i}", "id": f"a{i}"} for i in range(3)])
    report = _append(factory, stream, first)
    assert (report.appended, report.rows_read, report.duplicate_ids) == (3, 3, 0)
    assert _label_everything(factory, stream, workers) == 3
    assert _state(factory, stream) is JobState.RUNNING  # every item done, yet not completed
    with factory() as session:
        progress = jobs.job_progress(session, jobs.get_job(session, stream))
        assert (progress.items, progress.done, progress.open) == (3, 3, 0)

    second = write_jsonl(tmp_path / "b.jsonl", [{"source": "later tweet", "id": "b0"}, {"source": "one more"}])
    assert _append(factory, stream, second).appended == 2
    with factory() as session:  # appending reopened work, and the figures grew with it
        progress = jobs.job_progress(session, jobs.get_job(session, stream))
        assert (progress.items, progress.done, progress.open) == (5, 3, 2)
        assert jobs.job_quality(session, jobs.get_job(session, stream)).items == 5
    assert _label_everything(factory, stream, workers) == 2
    assert _state(factory, stream) is JobState.RUNNING

    with transaction(factory) as session:
        consolidate_job(session, jobs.get_job(session, stream))
    export_job(factory, stream, str(tmp_path / "out.manifest"))
    lines = [json.loads(line) for line in (tmp_path / "out.manifest").read_text().splitlines()]
    assert sorted(line["source"] for line in lines) == ["later tweet", "one more", "tweet 0", "tweet 1", "tweet 2"]
    assert all(line["brand-watch"] == LABELS.index("positive") for line in lines)

    with transaction(factory) as session:
        jobs.change_state(session, stream, "stop")
    with pytest.raises(ConflictError, match="stopped"):
        _append(factory, stream, second)


def test_a_repeated_id_is_skipped_and_reported_so_a_retry_appends_nothing_twice(
    factory: sessionmaker[Session], stream: str, tmp_path: Path
) -> None:
    rows = [{"source": "hello", "id": 1}, {"source": "no id here"}]
    batch = write_jsonl(tmp_path / "batch.jsonl", rows)
    assert _append(factory, stream, batch).appended == 2
    retry = _append(factory, stream, batch)  # the same request again: both ids (one from the text) known
    assert (retry.appended, retry.duplicate_ids) == (0, 2)
    assert sorted(d.external_id for d in retry.duplicates if d.same_id)[0] == "1"
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(JobItem)) == 2
        assert session.scalar(select(func.count()).select_from(Item)) == 2


def test_a_bad_row_appends_nothing_and_is_named_by_line(
    factory: sessionmaker[Session], stream: str, tmp_path: Path
) -> None:
    batch = write_jsonl(tmp_path / "bad.jsonl", [{"source": "fine", "id": "x1"}, {"source": "   ", "id": "x2"}])
    with pytest.raises(RejectedInputError) as refused:
        _append(factory, stream, batch)
    assert [str(p) for p in refused.value.problems] == [f"{batch}:2 [source]: text is empty"]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
        assert session.scalar(select(func.count()).select_from(JobItem)) == 0


def test_appending_to_a_batch_job_is_refused(factory: sessionmaker[Session], job: str, tmp_path: Path) -> None:
    batch = write_jsonl(tmp_path / "a.jsonl", [{"source": "hello"}])
    with pytest.raises(ConflictError, match="not a streaming job"):
        _append(factory, job, batch)


def test_appended_items_start_with_the_jobs_answers_per_tweet(factory: sessionmaker[Session], tmp_path: Path) -> None:
    make_job(factory, "firehose", "dyn", streaming=True, workers_per_item=2, settings={"dynamic_redundancy": True})
    _append(factory, "dyn", write_jsonl(tmp_path / "a.jsonl", [{"source": "hi"}]))
    with factory() as session:
        wanted = session.scalars(select(JobItem.judgments_wanted)).all()
    assert wanted == [2]
