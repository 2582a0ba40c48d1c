"""`kill -9` of every server process under load, three times in one run, then the invariants in the database.

Why: the service promises that an answer is committed before its 2xx and that a retry with the same
idempotency key returns the first result. A crash is where those promises are tested for real: a request cut
after its commit and before its reply, a lease handed out to a client that never heard of it, a SQLite write
transaction killed half-way, a PostgreSQL hot-path call whose connection dies with its process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faults.crowd import PER_ITEM, Crowd, check_invariants, prepare_job
from servers import kill_server, restart_server, start_server, stop_server

ITEMS = 240
ANNOTATORS = 6
#: Kill when this share of the job's answers has been acknowledged.
KILL_AT = (0.2, 0.45, 0.7)


@pytest.mark.slow
@pytest.mark.parametrize(("store", "workers"), [("sqlite", 1), ("postgres", 2)])
def test_kill_9_of_every_server_process_loses_and_duplicates_no_answer(
    store: str, workers: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = str(request.getfixturevalue(f"{store}_url"))
    tokens = prepare_job(url, items=ITEMS, annotators=ANNOTATORS)
    server = start_server(url, tmp_path, workers=workers)
    total = ITEMS * PER_ITEM
    killed: list[tuple[int, int]] = []  # (answers acknowledged at the kill, processes killed)
    try:
        crowd = Crowd(server.url, tokens)
        crowd.start()
        for share in KILL_AT:
            crowd.wait_answered(share, total)
            processes = kill_server(server)
            killed.append((crowd.tally.answered(), processes))
            server = restart_server(server)
        tally = crowd.join()
    finally:
        stop_server(server)

    # The kills landed mid-run and took every process down: serve and its workers (spawned: + their helper).
    assert all(answered < total for answered, _ in killed), killed
    assert all(processes >= 1 + (workers if workers > 1 else 0) for _, processes in killed), killed
    assert tally.transport_errors > 0  # the clients did see the crashes
    # Nothing but the crashes: no process was left to answer a 5xx.
    assert not tally.server_errors, tally.server_errors[:3]
    check_invariants(url, tally)
