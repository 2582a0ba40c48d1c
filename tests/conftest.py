"""Shared fixtures: real stores (a temporary SQLite file and a fresh PostgreSQL database per test) and
moto's S3 server on 127.0.0.1. A test that needs PostgreSQL fails when it is not configured; it never skips."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory

POSTGRES_ENV = "GROUNDSWELL_TEST_POSTGRES_URL"
SHARED_DATA_ENV = "GROUNDSWELL_SHARED_DATA"


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f'{POSTGRES_ENV} is not set: start a server with `eval "$(scripts/start-postgres)"` (as .ci/run does) '
            "or run `make test`",
            pytrace=False,
        )
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new database on the test server, dropped afterwards."""
    admin_url = make_url(postgres_admin_url())
    name = f"gs_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    prepare_store(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared public data (TweetEval, crowd judgments), found through a path setting."""
    path = Path(os.environ.get(SHARED_DATA_ENV, Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (path / "tweeteval-sentiment" / "mapping.txt").exists():
        pytest.fail(f"shared data not found at {path}; set {SHARED_DATA_ENV}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with fake credentials; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_server: str) -> Iterator[tuple[str, dict[str, object]]]:
    """A fresh bucket; yields (bucket name, fsspec storage options)."""
    import boto3

    name = f"gs-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    yield name, {"client_kwargs": {"endpoint_url": s3_server}}
