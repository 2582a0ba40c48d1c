"""The schema on both databases: migrations reach head, match the ORM, and enforce the domain's invariants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import JobState, LeaseState
from groundswell.store import current_revision, head_revision, make_engine, upgrade
from groundswell.store.db import transaction
from groundswell.store.tables import (
    Base,
    Dataset,
    Item,
    Job,
    JobItem,
    Judgment,
    LabelSchema,
    TaskLease,
    Worker,
    utcnow,
)


def _job(session: Session, name: str = "Sentiment-1") -> Job:
    dataset = Dataset(name=f"d-{name}")
    schema = LabelSchema(name="sentiment", labels=["positive", "negative", "neutral"])
    session.add_all([dataset, schema])
    session.flush()
    job = Job(
        name=name,
        name_key=name.lower(),
        dataset_id=dataset.id,
        label_schema_id=schema.id,
        label_attribute_name="sentiment",
    )
    session.add(job)
    session.flush()
    return job


def _item(session: Session, dataset_id: int, external_id: str = "t1") -> Item:
    item = Item(dataset_id=dataset_id, external_id=external_id, text="hello", content_hash="x" * 32)
    session.add(item)
    session.flush()
    return item


def test_migrations_reach_head_and_match_the_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() is not None
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    names = set(inspect(engine).get_table_names())
    assert {"datasets", "items", "jobs", "judgments", "task_leases", "consolidated_labels", "work"} <= names


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_downgrade_to_base_removes_every_table(store_url: str) -> None:
    engine = make_engine(store_url)
    upgrade(engine)
    upgrade_down(engine)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def upgrade_down(engine: Engine) -> None:
    from alembic import command

    from groundswell.store.db import alembic_config

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), transaction(sessionmaker(engine)) as session:
        session.add(Item(dataset_id=999, external_id="x", text="t", content_hash="h"))
    engine.dispose()


def test_judgment_idempotency_key_and_one_row_per_revision(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        job = _job(session)
        item = _item(session, job.dataset_id)
        other_item = _item(session, job.dataset_id, "t2")
        worker = Worker(display_name="ann")
        session.add(worker)
        session.flush()
        ids = (job.id, item.id, worker.id, other_item.id)
        session.add(
            Judgment(job_id=job.id, item_id=item.id, worker_id=worker.id, label="positive", idempotency_key="k1")
        )
    # The same idempotency key on another item is a retry, not a new answer.
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.add(Judgment(job_id=ids[0], item_id=ids[3], worker_id=ids[2], label="neutral", idempotency_key="k1"))
    # A second answer by the same worker on the same item must be a new revision; the database refuses a copy.
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.add(Judgment(job_id=ids[0], item_id=ids[1], worker_id=ids[2], label="neutral", idempotency_key="k2"))
    with transaction(factory) as session:
        session.add(
            Judgment(job_id=ids[0], item_id=ids[1], worker_id=ids[2], label=None, revision=1, idempotency_key="k3")
        )
    with factory() as session:
        assert session.query(Judgment).count() == 2


def test_job_items_can_never_be_over_assigned(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        job = _job(session)
        item = _item(session, job.dataset_id)
        session.add(JobItem(job_id=job.id, item_id=item.id, judgments_wanted=3, judgments_accepted=2, leases_active=1))
        ids = (job.id, item.id)
    with pytest.raises(IntegrityError), transaction(factory) as session:
        row = session.get(JobItem, ids)
        assert row is not None
        row.leases_active += 1


def test_only_one_active_lease_per_worker_and_item(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        job = _job(session)
        item = _item(session, job.dataset_id)
        worker = Worker(display_name="ann")
        session.add(worker)
        session.flush()
        lease = {
            "job_id": job.id,
            "item_id": item.id,
            "worker_id": worker.id,
            "expires_at": utcnow() + timedelta(minutes=5),
        }
        session.add(TaskLease(**lease, state=LeaseState.EXPIRED))
        session.add(TaskLease(**lease))
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.add(TaskLease(**lease))


def test_job_names_are_unique_case_insensitively_and_states_are_checked(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as session:
        job = _job(session, "Launch-Sentiment")
        assert job.state is JobState.DRAFT
        dataset_id, schema_id = job.dataset_id, job.label_schema_id
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.add(
            Job(
                name="launch-sentiment",
                name_key="launch-sentiment",
                dataset_id=dataset_id,
                label_schema_id=schema_id,
                label_attribute_name="s",
            )
        )
    with pytest.raises(IntegrityError), transaction(factory) as session:
        session.add(
            Job(
                name="other",
                name_key="other",
                dataset_id=dataset_id,
                label_schema_id=schema_id,
                label_attribute_name="s",
                workers_per_item=12,
                max_workers_per_item=12,
            )
        )


def test_json_attributes_round_trip_unicode_and_nesting(factory: sessionmaker[Session]) -> None:
    attributes = {"tweet_id": "123", "meta": {"lang": "es", "tags": ["#café", "😀"]}, "n": 3}
    with transaction(factory) as session:
        dataset = Dataset(name="d")
        session.add(dataset)
        session.flush()
        session.add(
            Item(
                dataset_id=dataset.id,
                external_id="a",
                text="¡Hola! 😀",
                content_hash="h",
                attributes=attributes,
            )
        )
    with factory() as session:
        item = session.query(Item).one()
        assert item.attributes == attributes
        assert item.text == "¡Hola! 😀"
        assert session.execute(text("SELECT count(*) FROM items")).scalar() == 1
