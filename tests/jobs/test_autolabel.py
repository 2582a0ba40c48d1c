"""Automated labeling in a real job on both databases: rounds queued and run by the runner, machine labels
written as Ground Truth writes them, priorities steering routing, the budget stopping the job."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import JobState
from groundswell.errors import InvalidInputError
from groundswell.jobs import JobSpec, create_job, get_job
from groundswell.jobs.autolabel import AUTO_LABEL_METHOD, autolabel_rounds
from groundswell.jobs.exports import export_job
from groundswell.runner import run_pending
from groundswell.sim import parametric_pool, simulate_job
from groundswell.store.db import transaction
from groundswell.store.tables import ConsolidatedLabel, Dataset, Item, JobItem, ModelVersion

LABELS = ["negative", "neutral", "positive"]
WORDS = {
    "positive": ["love it", "great day", "so happy", "wonderful news", "best ever", "really good"],
    "negative": ["hate it", "awful day", "so sad", "terrible news", "worst ever", "really bad"],
}


def _toy_dataset(factory: sessionmaker[Session], count: int) -> str:
    rng = np.random.default_rng(0)
    with transaction(factory) as session:
        dataset = Dataset(name="toy")
        session.add(dataset)
        session.flush()
        for i in range(count):
            label = "positive" if rng.random() < 0.5 else "negative"
            words = WORDS[label]
            text = f"{words[rng.integers(6)]}, {words[rng.integers(6)]} #{i}"
            session.add(
                Item(dataset_id=dataset.id, external_id=f"t{i}", text=text, content_hash=f"{i:032d}", gold_label=label)
            )
    return "toy"


def _job(factory: sessionmaker[Session], **settings: Any) -> str:
    options = {"auto_label": True, "accuracy_target": 0.9, "seed_size": 150, "batch_size": 100}
    options.update({"auto_label_min_items": 500, **settings})
    dataset = _toy_dataset(factory, 700)
    with transaction(factory) as session:
        create_job(
            session,
            JobSpec(name="auto", dataset=dataset, labels=LABELS, workers_per_item=1, settings=options),
        )
    return "auto"


PERFECT = parametric_pool(LABELS, 5, accuracy_mean=0.99, accuracy_sd=0.0)


def test_first_round_sets_a_random_seed_order(factory: sessionmaker[Session]) -> None:
    _job(factory)
    with transaction(factory) as session:
        from groundswell.jobs import change_state

        change_state(session, "auto", "start")
    outcomes = run_pending(factory)
    assert [(o.kind, o.state.value) for o in outcomes] == [("auto_label_round", "done")]
    assert outcomes[0].result is not None and outcomes[0].result["stage"] == "seed"
    with factory() as session:
        job = get_job(session, "auto")
        priorities = list(session.scalars(select(JobItem.priority).where(JobItem.job_id == job.id)))
        (first,) = autolabel_rounds(session, job)
    assert len(set(priorities)) == 700
    assert (first.round_number, first.human_labels_used, first.threshold, first.items_machine_labeled) == (
        1,
        0,
        None,
        0,
    )
    assert run_pending(factory) == []  # nothing new: no second round


def test_simulated_job_is_partly_machine_labeled_and_exported_as_ground_truth_does(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    _job(factory)
    report = simulate_job(factory, "auto", PERFECT, random_state=0)
    assert report.items == 700 and report.labeled == 700
    assert report.machine_labeled > 100
    assert report.human_judgments == 700 - report.machine_labeled
    assert report.accuracy_machine is not None and report.accuracy_machine >= 0.9
    with factory() as session:
        job = get_job(session, "auto")
        assert job.state is JobState.COMPLETED
        rounds = autolabel_rounds(session, job)
        machine = session.scalars(
            select(ConsolidatedLabel).where(ConsolidatedLabel.job_id == job.id, ~ConsolidatedLabel.human_annotated)
        ).all()
        versions = session.scalar(select(func.count()).where(ModelVersion.job_id == job.id))
    assert sum(r.items_machine_labeled for r in rounds) == report.machine_labeled == len(machine)
    assert rounds[-1].threshold is not None and rounds[-1].validation_lower_bound is not None
    assert all(label.method == AUTO_LABEL_METHOD and label.model_version_id is not None for label in machine)
    assert versions and versions >= len([r for r in rounds if r.threshold is not None])
    out = tmp_path / "output.manifest"
    export_job(factory, "auto", str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    flags = [line["auto-metadata"]["human-annotated"] for line in lines]
    assert flags.count("no") == report.machine_labeled and flags.count("yes") == 700 - report.machine_labeled


def test_the_budget_stops_the_job(factory: sessionmaker[Session]) -> None:
    _job(factory, budget=120)
    report = simulate_job(factory, "auto", PERFECT)
    assert report.human_judgments == 120 and report.machine_labeled == 0
    with factory() as session:
        assert get_job(session, "auto").state is JobState.STOPPED


def test_bad_auto_label_settings_are_refused(factory: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInputError, match="accuracy_target"):
        _job(factory, accuracy_target=2)


def test_a_round_saves_its_model_as_an_artifact_and_stores_the_model_vote(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    from groundswell.jobs.autolabel import auto_label_job
    from groundswell.ml import load_model

    _job(factory, model_vote=True, min_support=10_000)  # no threshold can be met: nothing machine-labeled
    simulate_job(factory, "auto", PERFECT, max_judgments=300)  # 300 human labels: past the seed sample
    with transaction(factory) as session:
        result = auto_label_job(session, get_job(session, "auto"), artifact_dir=tmp_path / "models")
    assert result["stage"] == "model"
    with factory() as session:
        job = get_job(session, "auto")
        version = session.scalars(
            select(ModelVersion).where(ModelVersion.job_id == job.id).order_by(ModelVersion.id.desc())
        ).first()
        votes = session.execute(
            select(JobItem.model_label, JobItem.model_proba).where(
                JobItem.job_id == job.id, JobItem.model_label.is_not(None), ~JobItem.started
            )
        ).all()
    assert version is not None and version.artifact_uri
    folder = Path(version.artifact_uri)
    assert folder == (tmp_path / "models" / f"job-{job.id}" / f"round-{result['round']}").resolve()
    loaded = load_model(folder)
    assert loaded.card.labels == LABELS and loaded.card.params["temperature"] == result["temperature"]
    proba = loaded.estimator.predict_proba(["love it, so happy", "hate it, awful day"])
    predicted = np.asarray(loaded.estimator.classes_)[proba.argmax(axis=1)]
    assert [LABELS[int(c)] for c in predicted] == ["positive", "negative"]
    assert votes and all(len(p) == 3 and abs(sum(p) - 1) < 1e-3 and max(p) == p[c] for c, p in votes)


def test_label_confidence_is_read_from_model_based_consolidations_only(factory: sessionmaker[Session]) -> None:
    from groundswell.jobs.autolabel import _items

    _job(factory, min_support=10_000)
    simulate_job(factory, "auto", PERFECT, max_judgments=200)
    with transaction(factory) as session:
        job = get_job(session, "auto")
        labeled = sorted(
            session.scalars(
                select(ConsolidatedLabel.item_id).where(
                    ConsolidatedLabel.job_id == job.id, ConsolidatedLabel.human_annotated
                )
            )
        )
        posterior = labeled[:50]  # as Dawid–Skene or the posterior rule would have written them
        session.execute(
            update(ConsolidatedLabel)
            .where(ConsolidatedLabel.job_id == job.id, ConsolidatedLabel.item_id.in_(posterior))
            .values(method="ds", confidence=0.6)
        )
        data = _items(session, job, LABELS)
    position = {int(item_id): p for p, item_id in enumerate(data["ids"])}
    sure = data["sure"]
    assert all(sure[position[i]] == 0.6 for i in posterior)
    votes = [position[i] for i in labeled[50:] if data["human"][position[i]] >= 0]
    assert votes and all(sure[p] == 1.0 for p in votes)  # one vote stores 0.0: not a probability
    assert (sure[data["human"] < 0] == 1.0).all()


def test_doubtful_labels_certify_nothing_that_sure_labels_would(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    import groundswell.ml
    from groundswell.jobs import autolabel

    fitted: list[int] = []
    build = groundswell.ml.build_featurizer
    monkeypatch.setattr(autolabel, "_FEATURES", OrderedDict())  # this process may hold the other store's run
    monkeypatch.setattr(groundswell.ml, "build_featurizer", lambda *a: fitted.append(1) or build(*a))
    _job(factory, min_support=10_000)  # nothing machine-labeled while people label 300 items
    simulate_job(factory, "auto", PERFECT, max_judgments=300)
    with transaction(factory) as session:
        job = get_job(session, "auto")
        job.settings = {**job.settings, "min_support": 10}
        human = (ConsolidatedLabel.job_id == job.id) & ConsolidatedLabel.human_annotated
        session.execute(update(ConsolidatedLabel).where(human).values(method="ds", confidence=0.5))
        fitted.clear()
        doubtful = autolabel.auto_label_job(session, job)
        session.execute(update(ConsolidatedLabel).where(human).values(method="mv", confidence=1.0))
        still_open = session.scalar(
            select(func.count()).where(JobItem.job_id == job.id, ~JobItem.is_done, ~JobItem.started, ~JobItem.is_gold)
        )
        sure = autolabel.auto_label_job(session, job)
        version = session.scalars(
            select(ModelVersion).where(ModelVersion.job_id == job.id).order_by(ModelVersion.id.desc())
        ).first()
    # Agreeing with a label that is right half the time is worth 0.5: below any target.
    assert doubtful["stage"] == "model" and doubtful["certification"] == "cross-fit"
    assert doubtful["threshold"] is None and doubtful["items_machine_labeled"] == 0 and doubtful["coverage"] == 0.0
    assert sure["threshold"] is not None and sure["items_machine_labeled"] > 0
    assert still_open and sure["coverage"] == pytest.approx(sure["items_machine_labeled"] / still_open)
    assert sure["train_size"] == sure["validation_size"] == sure["human_labels_used"]  # every label out of fold
    assert version is not None and version.metrics["coverage"] == sure["coverage"]
    assert (version.metrics["certification"], version.metrics["folds"]) == ("cross-fit", 5)
    assert len(fitted) <= 1  # the second round reused the first round's features


def test_the_feature_cache_keeps_two_jobs_and_tells_texts_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    from groundswell.jobs import autolabel

    monkeypatch.setattr(autolabel, "_FEATURES", OrderedDict())
    texts = [f"{w} day" for w in ("good", "bad", "good", "bad", "fine", "fine")]
    ids = np.arange(6)
    first = autolabel._job_features(1, ids, texts)
    assert autolabel._job_features(1, ids, texts) is first  # the same job and items: no refit
    other = autolabel._job_features(1, ids, [t.upper() for t in texts])  # same ids, other texts: a fresh fit
    assert other is not first and other[1].shape[0] == 6
    autolabel._job_features(2, ids, texts)
    assert len(autolabel._FEATURES) == 2  # the least recently used went
    assert autolabel._job_features(1, ids, texts) is not first


def test_a_cross_fitted_round_gives_answered_tweets_the_vote_of_a_model_that_never_saw_them(
    factory: sessionmaker[Session],
) -> None:
    from groundswell.jobs.autolabel import auto_label_job

    _job(factory, model_vote=True, min_support=10_000)
    simulate_job(factory, "auto", PERFECT, max_judgments=300)
    with factory() as session:
        job = get_job(session, "auto")
        answered = set(
            session.scalars(select(JobItem.item_id).where(JobItem.job_id == job.id, JobItem.judgments_accepted > 0))
        )
    with transaction(factory) as session:
        result = auto_label_job(session, get_job(session, "auto"))
    assert result["stage"] == "model" and result["certification"] == "cross-fit"
    with factory() as session:
        votes = dict(
            session.execute(
                select(JobItem.item_id, JobItem.model_proba).where(
                    JobItem.job_id == job.id, JobItem.item_id.in_(answered), JobItem.is_done
                )
            ).all()
        )
    # Every done, answered tweet now carries a held-out vote, the seed sample (started before any model) included.
    assert votes and all(p is not None and len(p) == 3 and abs(sum(p) - 1) < 1e-3 for p in votes.values())
    # With perfect labels on an easy vocabulary, a held-out vote mostly agrees with the tweet's gold label.
    with factory() as session:
        gold = dict(session.execute(select(Item.id, Item.gold_label).where(Item.id.in_(list(votes)))).all())
    agree = np.mean([LABELS[int(np.argmax(p))] == gold[i] for i, p in votes.items()])
    assert agree > 0.8


def test_a_prediction_on_a_one_answer_tweet_is_scored_by_agreeing_with_that_answer() -> None:
    """The posterior's word on a tweet with one answer is not evidence (one answer per tweet does not
    identify worker confusions), so certification scores such a tweet by agreement with its answer; tweets
    with more answers keep the posterior's probabilities."""
    import pandas as pd

    from groundswell.jobs.autolabel import _score_single_answers_by_agreement

    labels = ["negative", "neutral", "positive"]
    posterior_rows = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3], [1 / 3, 1 / 3, 1 / 3]])
    rows = posterior_rows.copy()
    answers = pd.DataFrame(
        {"task": [10, 11, 11, 12], "worker": [1, 1, 2, 3], "label": ["positive", "positive", "neutral", "negative"]}
    )
    _score_single_answers_by_agreement(rows, np.array([10, 11, 12, 13]), answers, labels)
    assert rows[0].tolist() == [0.0, 0.0, 1.0]  # one answer, "positive", whatever the posterior believed
    assert rows[1].tolist() == posterior_rows[1].tolist()  # two answers: the posterior stands
    assert rows[2].tolist() == [1.0, 0.0, 0.0]
    assert rows[3].tolist() == posterior_rows[3].tolist()  # no answer: untouched


def _machine_label_accuracy(factory: sessionmaker[Session], job_name: str) -> tuple[int, float | None]:
    with factory() as session:
        job = get_job(session, job_name)
        rows = session.execute(
            select(ConsolidatedLabel.label, Item.gold_label)
            .join(Item, Item.id == ConsolidatedLabel.item_id)
            .where(ConsolidatedLabel.job_id == job.id, ~ConsolidatedLabel.human_annotated)
        ).all()
    return len(rows), (float(np.mean([label == gold for label, gold in rows])) if rows else None)


@pytest.mark.parametrize("gold_items", [0, 100])
def test_gold_tweets_veto_machine_labels_a_crowd_that_errs_alike_would_certify(
    factory: sessionmaker[Session], gold_items: int
) -> None:
    """The people's labels call 90 % of the negative tweets positive: the model learns their error, agrees with
    them, and certification against them vouches for machine labels that are often wrong. Gold tweets are the
    one reference such an error cannot reach: they contradict the round, and only the machine labels they vouch
    for issue."""
    from groundswell.jobs import autolabel

    dataset = _toy_dataset(factory, 700)
    settings = {"auto_label": True, "accuracy_target": 0.9, "seed_size": 150, "batch_size": 100}
    with transaction(factory) as session:
        spec = JobSpec(
            name="alike",
            dataset=dataset,
            labels=LABELS,
            workers_per_item=1,
            settings={**settings, "auto_label_min_items": 500, "min_support": 10_000},
            gold_items=gold_items,
        )
        create_job(session, spec)
    simulate_job(factory, "alike", PERFECT, max_judgments=300)  # nothing machine-labeled meanwhile
    rng = np.random.default_rng(1)
    with transaction(factory) as session:
        job = get_job(session, "alike")
        job.settings = {**job.settings, "min_support": 10}
        negative = session.scalars(
            select(ConsolidatedLabel.item_id).where(
                ConsolidatedLabel.job_id == job.id,
                ConsolidatedLabel.human_annotated,
                ConsolidatedLabel.label == "negative",
            )
        ).all()
        flipped = [int(i) for i in negative if rng.random() < 0.9]
        session.execute(
            update(ConsolidatedLabel)
            .where(ConsolidatedLabel.job_id == job.id, ConsolidatedLabel.item_id.in_(flipped))
            .values(label="positive", class_index=LABELS.index("positive"), method="mv", confidence=1.0)
        )
        summary = autolabel.auto_label_job(session, job)
    count, accuracy = _machine_label_accuracy(factory, "alike")
    assert summary["stage"] == "model" and summary["threshold"] is not None  # the crowd certified the model
    if gold_items:
        veto = summary["gold_veto"]
        assert veto["gold_items_above_threshold"] >= 10 and veto["gold_accuracy_above_threshold"] < 0.9
        assert veto["vetoed_below"] is not None
        assert count == summary["items_machine_labeled"]
        assert accuracy is None or accuracy >= 0.9
    else:
        assert summary["gold_veto"] is None
        assert count > 50 and accuracy is not None and accuracy < 0.8  # what gold is for
