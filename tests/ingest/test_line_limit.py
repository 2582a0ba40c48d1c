"""The line limit (GROUNDSWELL_MAX_LINE_BYTES): an import holds at most about that much of any one line, so a
huge line costs no more memory than a normal one; the line is refused by file, line and limit, and nothing
already stored is touched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import write_jsonl, write_tweeteval
from groundswell.errors import RejectedInputError
from groundswell.ingest import ReadOptions, import_dataset
from groundswell.ingest import readers as readers_module
from groundswell.store import make_engine, make_session_factory, upgrade
from groundswell.store.tables import Dataset, Item

LIMIT = 1024
OPTIONS = ReadOptions(max_line_bytes=LIMIT)
OVER = f"line is over the limit of {LIMIT:,} bytes (GROUNDSWELL_MAX_LINE_BYTES)"


@pytest.fixture
def sqlite_factory(sqlite_url: str) -> sessionmaker[Session]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    return make_session_factory(engine)


def _texts(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(Item.text).join(Dataset).where(Dataset.name == "d").order_by(Item.id)))


def _manifest_line(size: int) -> str:
    """A manifest line of exactly ``size`` bytes."""
    line = json.dumps({"source": ""})
    return json.dumps({"source": "x" * (size - len(line))})


def _stored(factory: sessionmaker[Session], tmp_path: Path) -> list[str]:
    import_dataset(
        factory, str(write_jsonl(tmp_path / "first.jsonl", [{"source": f"kept {i}"} for i in range(3)])), name="d"
    )
    return _texts(factory)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1023, 1024, 1025, 4096])
def test_lines_are_the_same_whatever_the_chunk_size(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, chunk: int
) -> None:
    lines = [b"", b"a", b"b\r", b"x" * LIMIT, b"y" * (LIMIT + 1), b"z" * LIMIT + b"\r", b"w" * (5 * LIMIT), b"", b"end"]
    path = tmp_path / "in.txt"
    path.write_bytes(b"\n".join(lines) + b"\n" + b"last, no newline\r")
    monkeypatch.setattr(readers_module, "_CHUNK_BYTES", chunk)
    reader = readers_module.JsonLinesReader(str(path), OPTIONS)
    expected = [line.rstrip(b"\r") for line in [*lines, b"last, no newline"]]
    assert [raw for _, raw in reader._lines(str(path))] == [x if len(x) <= LIMIT else None for x in expected]
    assert reader.position == path.stat().st_size


def test_an_over_long_manifest_line_is_refused_by_file_line_and_limit(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    before = _stored(factory, tmp_path)
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [{"source": "a"}, _manifest_line(LIMIT), _manifest_line(LIMIT + 1), {"source": "b"}, "{"],
    )
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(factory, str(path), name="d", options=OPTIONS)
    assert str(caught.value.problems[0]) == f"{path}:3: {OVER}"
    assert [p.line for p in caught.value.problems] == [3, 5]  # the lines after it are still read
    assert _texts(factory) == before


def test_skip_invalid_imports_around_an_over_long_line(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"source": "a"}, _manifest_line(10 * LIMIT), {"source": "b"}])
    report_path = tmp_path / "rejected.jsonl"
    report = import_dataset(
        sqlite_factory, str(path), name="d", options=OPTIONS, skip_invalid=True, report_path=report_path
    )
    assert (report.imported, report.rejected) == (2, 1)
    assert json.loads(report_path.read_text()) == {"file": str(path), "line": 2, "field": None, "problem": OVER}


def test_an_over_long_csv_line_is_refused_by_file_line_and_limit(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    before = _stored(factory, tmp_path)
    path = tmp_path / "in.csv"
    path.write_text(f"text,id\nfine,1\n{'x' * LIMIT},2\nalso fine,3\n", encoding="utf-8")
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(factory, str(path), name="d", options=OPTIONS)
    assert [str(p) for p in caught.value.problems] == [f"{path}:3: {OVER}"]
    assert _texts(factory) == before


def test_a_csv_record_over_the_limit_across_lines_is_refused_at_its_first_line(
    sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    quoted = "\n".join(["y" * 100] * 20)  # each line is short; the unclosed quote makes one 2 KB record
    path.write_text(f'text,id\nfine,1\n"{quoted}\nmore,2\n', encoding="utf-8")
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d", options=OPTIONS)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:3: record is over the limit of 1,024 bytes (GROUNDSWELL_MAX_LINE_BYTES) by line 13 "
        "(an unclosed quote?); reading stopped here"
    ]


def test_an_over_long_csv_header_is_refused(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(f"text,{'c' * LIMIT}\nfine,1\n", encoding="utf-8")
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d", options=OPTIONS)
    assert [str(p) for p in caught.value.problems] == [f"{path}:1: {OVER}"]


def test_an_over_long_tweeteval_line_is_named(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    folder = write_tweeteval(tmp_path / "te", {"val": [("fine", 0), ("z" * LIMIT, 1), ("also fine", 2)]})
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(folder), name="d", options=OPTIONS)
    assert [str(p) for p in caught.value.problems] == [f"{folder / 'val_text.txt'}:2: {OVER}"]


def test_a_parquet_row_group_over_the_limit_is_refused_unread(
    sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "in.parquet"
    texts = ["fine", "w" * (3 * LIMIT), "also fine"]
    pq.write_table(pa.table({"text": texts, "id": ["1", "2", "3"]}), path, row_group_size=1)
    report = import_dataset(sqlite_factory, str(path), name="d", options=OPTIONS, skip_invalid=True)
    assert (report.imported, report.rejected) == (2, 1)
    problem = report.problems[0]
    assert (problem.source, problem.line) == (str(path), 2)
    assert problem.problem.startswith("row is ") and problem.problem.endswith(
        f"bytes, over the limit of {LIMIT:,} bytes (GROUNDSWELL_MAX_LINE_BYTES)"
    )
    assert _texts(sqlite_factory) == ["fine", "also fine"]


def test_parquet_batches_stay_within_the_limit(
    monkeypatch: pytest.MonkeyPatch, sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Rows of 500 bytes under a 1 KiB limit are read two at a time, not 5,000 (checked through the reader)."""
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": [f"{i:03d}" + "v" * 497 for i in range(50)]}), path)
    seen: list[int] = []
    original = pq.ParquetFile.iter_batches

    def spy(self: pq.ParquetFile, batch_size: int = 65536, **kwargs: object) -> object:
        seen.append(batch_size)
        return original(self, batch_size=batch_size, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    report = import_dataset(sqlite_factory, str(path), name="d", options=OPTIONS)
    assert report.imported == 50
    assert seen and max(seen) <= 2


_CHILD = """
import resource, sys
from groundswell.errors import RejectedInputError
from groundswell.ingest import import_dataset
from groundswell.store import make_engine, make_session_factory, upgrade

engine = make_engine(sys.argv[2])
upgrade(engine)
try:
    import_dataset(make_session_factory(engine), sys.argv[1], name="d")
    outcome = "imported"
except RejectedInputError as exc:
    outcome = str(exc.problems[0])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, outcome)
"""


def _peak_mib(path: Path, tmp_path: Path) -> tuple[int, str]:
    """Peak RSS of a fresh process importing ``path`` with the default limit, and the first problem."""
    url = f"sqlite:///{tmp_path / (path.name + '.db')}"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), url], capture_output=True, text=True, check=True)
    peak, outcome = done.stdout.strip().split(" ", 1)
    return int(peak), outcome


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_a_64_mb_line_costs_no_more_memory_than_a_short_one(tmp_path: Path, suffix: str) -> None:
    """Before the limit was enforced while reading, the whole line was held (as bytes, then as text): a 64 MB
    line added 148 MiB to the peak here (0 MiB now), a 200 MB one 760 MiB."""
    size = 64 * 1024 * 1024
    big, small = tmp_path / f"big.{suffix}", tmp_path / f"small.{suffix}"
    with big.open("wb") as handle:
        handle.write(b'{"source": "' if suffix == "jsonl" else b"text\n")
        for _ in range(size // (1 << 20)):
            handle.write(b"x" * (1 << 20))
        handle.write(b'"}\n' if suffix == "jsonl" else b"\n")
    small.write_text('{"source": "short"}\n' if suffix == "jsonl" else "text\nshort\n", encoding="utf-8")
    small_peak, small_outcome = _peak_mib(small, tmp_path)
    big_peak, big_outcome = _peak_mib(big, tmp_path)
    assert small_outcome == "imported"
    line = 1 if suffix == "jsonl" else 2
    assert big_outcome == f"{big}:{line}: line is over the limit of 4,194,304 bytes (GROUNDSWELL_MAX_LINE_BYTES)"
    assert big_peak - small_peak < 32, (small_peak, big_peak)
