"""Import streams: Python memory during an import does not grow with the size of the file."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from groundswell.ingest import import_dataset
from groundswell.store import make_engine, make_session_factory, upgrade


def _factory(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    return make_session_factory(engine)


def _peak_bytes(tmp_path: Path, rows: int) -> int:
    path = tmp_path / f"in-{rows}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            handle.write(json.dumps({"source": f"tweet number {i} about #topic{i % 97} @user{i % 13}", "n": i}) + "\n")
    factory = _factory(f"sqlite:///{tmp_path / f'db-{rows}.db'}")
    tracemalloc.start()
    try:
        report = import_dataset(factory, str(path), name="d", batch_size=2000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.imported == rows
    return peak


def test_peak_memory_is_flat_in_file_size(tmp_path: Path) -> None:
    small = _peak_bytes(tmp_path, 10_000)
    large = _peak_bytes(tmp_path, 50_000)
    # Five times the rows; a reader that kept rows (or their ids) would need about five times the memory.
    assert large < 1.5 * small, (small, large)
