"""The OpenAPI document against the running server: schemathesis's examples, boundary (coverage), fuzzing and
stateful phases on every operation, on SQLite and on PostgreSQL, over real HTTP with an admin key.

What it checks (``--checks all``): no 5xx on any input; every status answered is one the operation documents;
every body matches its documented schema; requests the schema allows are not refused, and requests it forbids
are. Three exceptions, stated: ``POST /api/v1/jobs`` has rules across fields that JSON Schema cannot state (a
label config the parser accepts, settings that agree with each other and with the answers per tweet),
``POST /api/v1/datasets`` imports a file whose content (or a path whose existence) no schema describes, and
``POST /api/v1/jobs/{name}/items`` validates its items as an import does (JSON Lines content, ids); so for
them, and for the stateful phase whose scenarios start by creating jobs, a schema-valid body may still get a
documented 4xx; every other check holds there too.

The store holds what the document's examples name (dataset ``launch``, running job ``launch-sentiment``,
running streaming job ``launch-stream``), so
generated requests reach the handlers' logic instead of 404s, and the stateful phase follows the document's
links: job → its operations, next task → submit or decline, answer → the stored judgment.

Bounded in time: a fixed seed and 20 examples per operation and phase (about 1,000 requests, seconds).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from groundswell import jobs
from groundswell.ingest import ReadOptions, import_dataset
from groundswell.jobs.setup import prepare_store
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from servers import start_server, stop_server

#: FastAPI's operation ids of ``POST /api/v1/jobs``, ``POST /api/v1/datasets`` and ``POST
#: /api/v1/jobs/{name}/items``: the operations whose schema-valid requests may still be refused with a
#: documented 4xx (rules JSON Schema cannot state).
_LENIENT_OPERATIONS = (
    "create_job_api_v1_jobs_post",
    "create_dataset_api_v1_datasets_post",
    "append_items_api_v1_jobs__name__items_post",
)


def _store_with_a_running_job(database_url: str, folder: Path) -> str:
    """The dataset and running job the OpenAPI examples name, and an admin; returns the admin's API key."""
    engine = make_engine(database_url)
    try:
        prepare_store(engine)
        factory = make_session_factory(engine)
        tweets = folder / "launch.jsonl"
        tweets.write_text("".join(json.dumps({"source": f"tweet {i} about the launch"}) + "\n" for i in range(30)))
        import_dataset(factory, str(tweets), name="launch", options=ReadOptions())
        with transaction(factory) as session:
            _, key = jobs.create_admin(session, "fuzz@example.org")
            spec = jobs.JobSpec(name="launch-sentiment", dataset="launch", labels=["negative", "neutral", "positive"])
            jobs.create_job(session, spec)
            jobs.change_state(session, spec.name, "start")
            stream = jobs.JobSpec(
                name="launch-stream", dataset="stream", labels=["negative", "positive"], streaming=True
            )
            jobs.create_job(session, stream)
            jobs.change_state(session, stream.name, "start")
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
    key = _store_with_a_running_job(store_url, tmp_path)
    server = start_server(store_url, tmp_path)
    stateless = "examples,coverage,fuzzing"
    lenient = ("--exclude-checks", "positive_data_acceptance")
    try:
        excluded = [arg for op in _LENIENT_OPERATIONS for arg in ("--exclude-operation-id", op)]
        included = [arg for op in _LENIENT_OPERATIONS for arg in ("--include-operation-id", op)]
        rest = _schemathesis(server.url, key, tmp_path, "--phases", stateless, *excluded)
        create = _schemathesis(server.url, key, tmp_path, "--phases", stateless, *included, *lenient)
        stateful = _schemathesis(server.url, key, tmp_path, "--phases", "stateful", *lenient)
    finally:
        stop_server(server)
    for run in (rest, create, stateful):
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "Tested: 40" in rest.stdout and "Tested: 3" in create.stdout
    # The scenarios followed the document's links (job → its operations, next task → submit, ...).
    covered = re.search(r"API Links:\s+(\d+) covered", stateful.stdout)
    assert covered is not None and int(covered.group(1)) >= 5, stateful.stdout[-3000:]
