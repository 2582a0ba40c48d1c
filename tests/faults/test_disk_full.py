"""SQLite on a full disk: writes are refused in the documented error shape, reads go on, nothing is corrupted,
and the store works again once space is freed.

The disk is real: an 8 MiB tmpfs mounted for the test, holding the database file, its WAL and shared-memory
file (the server's logs and data folder stay outside), filled by a ballast file while annotators work. A
tmpfs behaves as a full disk does for SQLite (``write`` fails with ENOSPC, SQLite answers SQLITE_FULL and rolls
the transaction back). Mounting needs root, or passwordless sudo (as ``.ci/run`` has); without either the test
fails with that message rather than skip.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from faults.crowd import JOB, Crowd, Tally, assert_all_unavailable, check_invariants, prepare_job, wait_for
from groundswell import jobs
from groundswell.store import make_engine, make_session_factory
from groundswell.store.db import transaction
from servers import start_server, stop_server

ITEMS = 40
ANNOTATORS = 3


def _as_root(*command: str) -> list[str]:
    return list(command) if os.geteuid() == 0 else ["sudo", "-n", *command]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs at ``tmp_path/disk``, owned by this user; unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    options = f"size=8m,mode=0700,uid={os.getuid()},gid={os.getgid()}"
    done = subprocess.run(
        _as_root("mount", "-t", "tmpfs", "-o", options, "groundswell-faults", str(mount_point)),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            "the full-disk test mounts a small tmpfs and needs root or passwordless sudo for it (.ci/run has "
            f"one of them): `mount -t tmpfs` failed: {done.stderr.strip() or done.returncode}",
            pytrace=False,
        )
    try:
        yield mount_point
    finally:
        subprocess.run(_as_root("umount", "--lazy", str(mount_point)), check=True)


def _fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system with one file; returns it."""
    ballast = folder / "ballast"
    with ballast.open("wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    assert os.statvfs(folder).f_bavail == 0
    return ballast


def _refusals(tally: Tally) -> int:
    with tally.lock:
        return len(tally.server_errors)


@pytest.mark.slow
def test_a_full_disk_refuses_writes_cleanly_and_the_store_recovers(small_disk: Path, tmp_path: Path) -> None:
    database = small_disk / "store.db"
    url = f"sqlite:///{database}"
    tokens = prepare_job(url, items=ITEMS, annotators=ANNOTATORS + 1)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        _, admin_key = jobs.create_admin(session, "ops@example.org")
    engine.dispose()
    server = start_server(url, tmp_path)
    admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=15)
    annotator = httpx.Client(base_url=server.url, timeout=15)
    try:
        assert annotator.post(f"/invite/{tokens[-1]}").status_code == 303  # signing in writes: done before
        crowd = Crowd(server.url, tokens[:ANNOTATORS])
        crowd.start()
        wait_for(lambda: crowd.tally.answered() >= ITEMS // 2, "half the answers", deadline=crowd.deadline, crowd=crowd)
        # Every page the WAL holds is copied into the database and the WAL emptied, so that the next write
        # needs new space: none is left once the ballast is written.
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        ballast = _fill(small_disk)
        answered_when_full = crowd.tally.answered()
        refused = _refusals(crowd.tally) + 2 * ANNOTATORS
        wait_for(
            lambda: _refusals(crowd.tally) >= refused, "writes refused", deadline=time.monotonic() + 20, crowd=crowd
        )

        # Reads go on: an admin's view of the job, an annotator's own page and answers, the health check.
        job = admin.get(f"/api/v1/jobs/{JOB}")
        assert job.status_code == 200 and job.json()["progress"]["judgments"] >= ITEMS // 2, job.text
        assert annotator.get(f"/annotate/{JOB}").status_code == 200
        mine = annotator.get(f"/api/v1/jobs/{JOB}/judgments/mine")
        assert mine.status_code == 200 and mine.json() == [], mine.text
        assert admin.get("/healthz").status_code == 200
        assert server.process.poll() is None
        assert crowd.tally.answered() <= answered_when_full + ANNOTATORS  # at most those already in flight

        ballast.unlink()
        tally = crowd.join()
    finally:
        admin.close()
        annotator.close()
        stop_server(server)

    assert_all_unavailable(tally)  # refused as "not now", in the error shape: no 500, no crash
    check_invariants(url, tally)
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
