"""A job with only an accuracy target, answered by simulated crowds: its measured accuracy lands near the target,
with fewer answers than three per tweet, and its own estimate is honest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from factories import write_jsonl
from groundswell.ingest import ReadOptions, import_dataset
from groundswell.jobs import JobSpec, create_job, get_job, job_quality
from groundswell.sim import parametric_pool, simulate_job
from groundswell.store import make_session_factory, upgrade
from groundswell.store.db import transaction

LABELS = ["negative", "neutral", "positive"]
#: How far the measured accuracy may fall from the target (points of accuracy): the estimate is a mean of
#: calibrated probabilities over 600 tweets (its 95 % interval is about ±2.5 points), and the job stops as
#: soon as it crosses the target.
TOLERANCE = 0.04


def _store(tmp_path: Path) -> sessionmaker[Session]:
    engine = create_engine(f"sqlite:///{tmp_path}/store.db")
    upgrade(engine)
    return make_session_factory(engine)


@pytest.mark.parametrize(("accuracy", "spammers", "target"), [(0.75, 0.0, 0.85), (0.85, 0.2, 0.85)])
def test_a_target_alone_is_met_within_tolerance_and_cheaper_than_three_votes(
    tmp_path: Path, accuracy: float, spammers: float, target: float
) -> None:
    rng = np.random.default_rng(0)
    truth = rng.choice(LABELS, size=600, p=[0.3, 0.45, 0.25])
    data = write_jsonl(tmp_path / "t.jsonl", [{"source": f"tweet {i}", "label": str(t)} for i, t in enumerate(truth)])
    factory = _store(tmp_path)
    import_dataset(factory, str(data), name="t", options=ReadOptions(label_column="label"))
    with transaction(factory) as session:
        create_job(session, JobSpec(name="j", dataset="t", labels=LABELS, accuracy_target=target))
    pool = parametric_pool(LABELS, 30, accuracy_mean=accuracy, accuracy_sd=0.08, spammer_share=spammers)
    report = simulate_job(factory, "j", pool, random_state=1)
    assert report.labeled == 600 and report.accuracy is not None
    assert abs(report.accuracy - target) <= TOLERANCE, report
    assert report.judgments_per_item < 3.0
    with factory() as session:
        quality = job_quality(session, get_job(session, "j"))
    assert quality.estimate is not None and quality.target == target
    assert quality.estimate.accuracy >= target - 0.005  # it stopped because its estimate met the target
    assert quality.estimate.low - TOLERANCE <= report.accuracy <= quality.estimate.high + TOLERANCE
    assert quality.answers_spent == report.human_judgments == quality.answers_projected


def _target_job(tmp_path: Path, name: str) -> sessionmaker[Session]:
    rng = np.random.default_rng(0)
    truth = rng.choice(LABELS, size=400, p=[0.3, 0.45, 0.25])
    folder = tmp_path / name
    folder.mkdir()
    data = write_jsonl(folder / "t.jsonl", [{"source": f"tweet {i}", "label": str(t)} for i, t in enumerate(truth)])
    factory = _store(folder)
    import_dataset(factory, str(data), name="t", options=ReadOptions(label_column="label"))
    with transaction(factory) as session:
        create_job(session, JobSpec(name="j", dataset="t", labels=LABELS, accuracy_target=0.85))
    return factory


def _full_consolidations(factory: sessionmaker[Session]) -> int:
    from sqlalchemy import func, select

    from groundswell.jobs.consolidation import CONSOLIDATE_WORK
    from groundswell.store.tables import Work

    with factory() as session:
        return int(session.scalar(select(func.count()).where(Work.kind == CONSOLIDATE_WORK)) or 0)


def test_the_simulator_consolidates_on_the_crowds_pace_not_the_machines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full consolidations come every ``answers_per_minute`` answers whatever the wall clock does (here it
    jumps ten minutes at every reading the runner's schedule takes), so the same seed gives the same job."""
    from datetime import timedelta

    import groundswell.runner.loop as loop

    pool = parametric_pool(LABELS, 20, accuracy_mean=0.75, accuracy_sd=0.08)
    calm = _target_job(tmp_path, "calm")
    first = simulate_job(calm, "j", pool, random_state=1, answers_per_minute=100)

    real = loop.utcnow
    jumps = iter(range(1, 10**6))
    monkeypatch.setattr(loop, "utcnow", lambda: real() + timedelta(minutes=10 * next(jumps)))
    hurried = _target_job(tmp_path, "hurried")
    second = simulate_job(hurried, "j", pool, random_state=1, answers_per_minute=100)
    assert second == first
    assert _full_consolidations(hurried) == _full_consolidations(calm)
    # ... and the pace is what sets them: one every 100 answers (plus those the rounds and the end ask for).
    assert _full_consolidations(calm) >= first.human_judgments // 100
    rare = _target_job(tmp_path, "rare")
    simulate_job(rare, "j", pool, random_state=1, answers_per_minute=10**6)
    assert _full_consolidations(rare) < _full_consolidations(calm)
