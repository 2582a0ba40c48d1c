"""The OpenAPI document against the running server: schemathesis's examples, boundary (coverage) and fuzzing
phases on every operation, on SQLite and on PostgreSQL, over real HTTP with an admin key.

What it checks (``--checks all``): no 5xx on any input; every status answered is one the operation documents;
every body matches its documented schema; requests the schema allows are not refused, and requests it forbids
are. One exception, stated: ``POST /api/v1/jobs`` has rules across fields that JSON Schema cannot state (a
label config the parser accepts, settings that agree with each other and with the answers per tweet), so for
it a schema-valid body may still get a documented 422; every other check holds for it too.

Bounded in time: a fixed seed and 20 examples per operation and phase (about 700 requests, a few seconds).
The stateful phase needs links between operations, which the document does not have yet (issue 17 notes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from groundswell import jobs
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from servers import start_server, stop_server

#: FastAPI's operation id of ``POST /api/v1/jobs``.
_CREATE_JOB = "create_job_api_v1_jobs_post"


def _admin_key(database_url: str) -> str:
    engine = make_engine(database_url)
    try:
        prepare_store(engine)
        with transaction(make_session_factory(engine)) as session:
            _, key = jobs.create_admin(session, "fuzz@example.org")
    finally:
        engine.dispose()
    return key


def _schemathesis(url: str, key: str, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The schemathesis CLI as a user runs it (in ``folder``, where it keeps its state)."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        "all",
        "--max-examples",
        "20",
        "--seed",
        "1",
        "--request-timeout",
        "10",
        "--suppress-health-check",
        "all",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=folder)


def test_every_operation_answers_as_its_openapi_document_says(store_url: str, tmp_path: Path) -> None:
    key = _admin_key(store_url)
    server = start_server(store_url, tmp_path)
    try:
        rest = _schemathesis(server.url, key, tmp_path, "--exclude-operation-id", _CREATE_JOB)
        create = _schemathesis(
            server.url,
            key,
            tmp_path,
            "--include-operation-id",
            _CREATE_JOB,
            "--exclude-checks",
            "positive_data_acceptance",
        )
    finally:
        stop_server(server)
    for run in (rest, create):
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
        assert "No operations" not in run.stdout
    assert "Tested: 15" in rest.stdout and "Tested: 1" in create.stdout
