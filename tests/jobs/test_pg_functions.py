"""The hot path's PostgreSQL functions have one source: generated from the general path's SQL pieces and
installed, whenever they differ, by ``prepare_store``."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from groundswell.jobs.annotate import pg_functions
from groundswell.jobs.annotate import routing_sql as sql
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, upgrade


def test_the_bodies_are_built_from_the_general_paths_statements() -> None:
    bodies = {f.name: f.body for f in pg_functions.FUNCTIONS}
    pick = pg_functions._bind(
        sql.PICK_AND_LEASE,
        {"job_id": "p_job_id", "worker_id": "p_worker_id", "leased_at": "n_leased_at", "expires_at": "n_expires_at"},
    )
    assert pick.split(" INTO ")[0].split("picked.text")[0] in bodies["groundswell_next_task"]
    assert f"IF held >= {sql.MAX_HELD_LEASES} THEN" in bodies["groundswell_next_task"]
    assert f"LIMIT {sql.STARTED_WINDOW})" in bodies["groundswell_next_task"]
    assert (
        "INSERT INTO judgments" in bodies["groundswell_submit"]
        and "ON CONFLICT (job_id, item_id)" in (bodies["groundswell_submit"])
    )
    assert not any(":" + name in body for body in bodies.values() for name in ("job_id", "worker_id", "now"))


def test_a_parameter_without_a_binding_is_refused() -> None:
    with pytest.raises(KeyError, match=":lease_id"):
        pg_functions._bind(sql.CLOSE_LEASE, {"state": "'submitted'", "closed_at": "p_now"})


def test_prepare_store_installs_the_current_bodies_and_replaces_a_stale_one(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        upgrade(engine)  # the migrations alone: 0005/0006's bodies of their time
        replaced = prepare_store(engine)
        with engine.connect() as connection:
            installed = pg_functions.installed_bodies(connection)
        assert installed == {f.name: f.body for f in pg_functions.FUNCTIONS}
        assert prepare_store(engine) == []  # current: nothing to do
        assert set(replaced) <= {f.name for f in pg_functions.FUNCTIONS}

        submit = next(f for f in pg_functions.FUNCTIONS if f.name == "groundswell_submit")
        stale = submit.create_statement().replace("r_status := 'ok';", "r_status := 'ok'; -- an older copy")
        with engine.begin() as connection:
            connection.exec_driver_sql(stale)
            assert pg_functions.installed_bodies(connection)["groundswell_submit"] != submit.body
        assert prepare_store(engine) == ["groundswell_submit"]
        with engine.connect() as connection:
            assert pg_functions.installed_bodies(connection)["groundswell_submit"] == submit.body
            # No stale overloads of the hot path's functions (the label feed's trigger functions are migrations').
            count = connection.execute(
                text(
                    "SELECT count(*) FROM pg_proc "
                    "WHERE proname LIKE 'groundswell_%' AND prorettype <> 'trigger'::regtype"
                )
            )
            assert count.scalar() == len(pg_functions.FUNCTIONS)
    finally:
        engine.dispose()
