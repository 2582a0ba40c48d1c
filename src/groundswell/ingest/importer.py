"""Import one input into a dataset: validate every row, skip duplicates, write in batches, one transaction.

By default a file with any invalid row is refused as a whole (the transaction rolls back, so nothing from
it is stored), and every problem is listed by file and line. With ``skip_invalid`` the good rows are
imported and the rejected ones are written, as they are found, to a JSON Lines report.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.domain import ItemRecord, content_hash
from groundswell.errors import InputProblem, RejectedInputError, UsageError
from groundswell.ingest.readers import Reader, ReadOptions, open_reader
from groundswell.ingest.sources import InputFormat, detect_format
from groundswell.store.bulk import existing_item_keys, insert_items
from groundswell.store.db import transaction
from groundswell.store.tables import Dataset, utcnow

__all__ = ["Duplicate", "ImportReport", "ProgressCallback", "import_dataset", "import_into", "import_json_lines"]

#: Called with (rows read, position, total) as the import advances; position/total are in reader.unit.
ProgressCallback = Callable[[int, int, int | None], None]
_SHOWN_PROBLEMS = 50
_SHOWN_DUPLICATES = 50


@dataclass(frozen=True)
class Duplicate:
    """A row that repeats an item already in the dataset (same id), or repeats its text under a new id."""

    line: int | None
    external_id: str
    first_seen: str
    same_id: bool


@dataclass
class ImportReport:
    dataset: str
    source: str
    format: str
    created_dataset: bool = False
    rows_read: int = 0
    imported: int = 0
    rejected: int = 0
    duplicate_ids: int = 0
    duplicate_texts: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    report_path: str | None = None
    #: How many duplicates ``duplicates`` lists (the rest are only counted).
    duplicates_shown: int = _SHOWN_DUPLICATES


def import_dataset(
    factory: sessionmaker[Session],
    uri: str,
    *,
    name: str,
    options: ReadOptions | None = None,
    fmt: InputFormat | None = None,
    skip_invalid: bool = False,
    report_path: Path | None = None,
    batch_size: int = 5000,
    on_progress: ProgressCallback | None = None,
    source_name: str | None = None,
) -> ImportReport:
    """Read ``uri`` into dataset ``name`` (created if new, appended to if it exists).

    ``source_name`` is what problems, the report and the stored items call the input instead of ``uri``: an
    upload is read from a temporary file whose path means nothing to the person who sent it.

    Raises ``RejectedInputError`` (nothing stored) when a row is invalid and ``skip_invalid`` is off.
    """
    options = options or ReadOptions()
    shown = source_name or uri
    try:
        return _import(factory, uri, shown, name, options, fmt, skip_invalid, report_path, batch_size, on_progress)
    except OSError as exc:  # a path that is missing, a folder, unreadable: the input's fault, not a bug
        raise UsageError(f"{shown}: cannot read it: {exc.strerror or exc}") from exc


def _import(
    factory: sessionmaker[Session],
    uri: str,
    shown: str,
    name: str,
    options: ReadOptions,
    fmt: InputFormat | None,
    skip_invalid: bool,
    report_path: Path | None,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> ImportReport:
    fmt = fmt or detect_format(uri, options.storage_options)
    reader = open_reader(uri, fmt, options)
    report = ImportReport(dataset=name, source=shown, format=fmt.value)
    if fmt is InputFormat.TWEETEVAL:
        options = ReadOptions(id_column="id", label_column="label", split=options.split)
    rejects: _RejectWriter | None = _RejectWriter(report_path) if skip_invalid and report_path else None
    try:
        with transaction(factory) as session:
            _read_into(session, reader, report, uri, options, skip_invalid, rejects, batch_size, on_progress)
    finally:
        if rejects is not None:
            rejects.close()
            report.report_path = str(report_path)
    return report


def import_into(
    session: Session,
    uri: str,
    *,
    name: str,
    options: ReadOptions,
    fmt: InputFormat | None = None,
    batch_size: int = 5000,
    source_name: str | None = None,
    duplicates_shown: int = _SHOWN_DUPLICATES,
) -> ImportReport:
    """Read ``uri`` into dataset ``name`` within the caller's transaction, refusing the input as a whole when
    any row is invalid: for a caller that must write more in the same transaction (appending to a streaming
    job adds its job items), so that either all of it is stored or none."""
    shown = source_name or uri
    try:
        fmt = fmt or detect_format(uri, options.storage_options)
        reader = open_reader(uri, fmt, options)
        report = ImportReport(dataset=name, source=shown, format=fmt.value, duplicates_shown=duplicates_shown)
        if fmt is InputFormat.TWEETEVAL:
            options = ReadOptions(id_column="id", label_column="label", split=options.split)
        _read_into(session, reader, report, uri, options, False, None, batch_size, None)
    except OSError as exc:  # as import_dataset: the input's fault, not a bug
        raise UsageError(f"{shown}: cannot read it: {exc.strerror or exc}") from exc
    return report


def _read_into(
    session: Session,
    reader: Reader,
    report: ImportReport,
    uri: str,
    options: ReadOptions,
    skip_invalid: bool,
    rejects: _RejectWriter | None,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> None:
    """The import proper, in the caller's transaction: one body for ``import_dataset`` (its own transaction)
    and ``import_into`` (the caller's, which writes more in it)."""
    shown = report.source
    dataset = _get_or_create_dataset(session, report.dataset, options, report)
    writer = _BatchWriter(session, dataset.id, shown, report, batch_size, read_from=uri)
    for row in _with_progress(reader, report, on_progress):
        if isinstance(row, InputProblem):
            if row.source == uri:
                row = replace(row, source=shown)
            report.rejected += 1
            if len(report.problems) < _SHOWN_PROBLEMS:
                report.problems.append(row)
            if rejects is not None:
                rejects.write(row)
            continue
        if report.rejected and not skip_invalid:
            continue  # keep scanning so the user sees every problem, but store nothing more
        writer.add(row)
    if report.rejected and not skip_invalid:
        raise RejectedInputError(report.problems, total=report.rejected)
    writer.flush()


def _with_progress(reader: Reader, report: ImportReport, on_progress: ProgressCallback | None) -> Iterator[Any]:
    for row in reader:
        report.rows_read += 1
        if on_progress is not None and report.rows_read % 1000 == 0:
            on_progress(report.rows_read, reader.position, reader.total)
        yield row
    if on_progress is not None:
        on_progress(report.rows_read, reader.position, reader.total)


def _get_or_create_dataset(session: Session, name: str, options: ReadOptions, report: ImportReport) -> Dataset:
    dataset = session.scalars(select(Dataset).where(Dataset.name == name)).one_or_none()
    if dataset is None:
        dataset = Dataset(name=name, id_column=options.id_column, label_column=options.label_column)
        session.add(dataset)
        session.flush()
        report.created_dataset = True
    return dataset


class _BatchWriter:
    """Collects rows and inserts them a batch at a time, checking each batch against what is stored."""

    def __init__(
        self, session: Session, dataset_id: int, uri: str, report: ImportReport, batch_size: int, *, read_from: str
    ):
        self.session = session
        self.dataset_id = dataset_id
        self.uri = uri
        self.read_from = read_from  # the path actually read, which records name as their source
        self.report = report
        self.batch_size = batch_size
        self.pending: list[tuple[ItemRecord, str]] = []

    def add(self, record: ItemRecord) -> None:
        self.pending.append((record, record.digest or content_hash(record.text)))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        stored_ids = self._stored("external_id", [r.external_id for r, _ in batch])
        stored_hashes = self._stored("content_hash", [h for _, h in batch])
        seen_ids: dict[str, str] = {}
        seen_hashes: dict[str, str] = {}
        now = utcnow()
        rows: list[tuple[Any, ...]] = []
        for record, digest in batch:
            first = stored_ids.get(record.external_id) or seen_ids.get(record.external_id)
            if first is not None:
                self._duplicate(record, first, same_id=True)
                continue
            first_text = stored_hashes.get(digest) or seen_hashes.get(digest)
            if first_text is not None:
                self._duplicate(record, first_text, same_id=False)
            source = self.uri if record.source in (None, self.read_from) else record.source
            where = f"{source}:{record.line}" if record.line is not None else source
            seen_ids[record.external_id] = where
            seen_hashes.setdefault(digest, f"{where} (id {record.external_id})")
            rows.append(
                (
                    self.dataset_id,
                    record.external_id,
                    record.text,
                    digest,
                    record.attributes,
                    record.gold_label,
                    source,
                    record.line,
                    now,
                )
            )
        insert_items(self.session, rows)
        self.report.imported += len(rows)

    def _stored(self, column: str, keys: list[str]) -> dict[str, str]:
        """Which of ``keys`` the dataset already holds, with where each first came from."""
        found: dict[str, str] = {}
        for key, external_id, source_uri, source_line in existing_item_keys(
            self.session, self.dataset_id, column, keys
        ):
            where = f"{source_uri}:{source_line}" if source_line is not None else str(source_uri)
            found.setdefault(key, where if column == "external_id" else f"{where} (id {external_id})")
        return found

    def _duplicate(self, record: ItemRecord, first: str, *, same_id: bool) -> None:
        if same_id:
            self.report.duplicate_ids += 1
        else:
            self.report.duplicate_texts += 1
        if len(self.report.duplicates) < self.report.duplicates_shown:
            self.report.duplicates.append(Duplicate(record.line, record.external_id, first, same_id))


class _RejectWriter:
    """Streams rejected rows to a JSON Lines report so memory stays flat however many rows are bad."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle: IO[str] = path.open("w", encoding="utf-8")

    def write(self, problem: InputProblem) -> None:
        entry = {
            "file": problem.source,
            "line": problem.line,
            "field": problem.field,
            "problem": problem.problem,
        }
        self.handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.handle.close()


def import_json_lines(
    session: Session, lines: bytes, *, name: str, options: ReadOptions, source_name: str, **import_options: Any
) -> ImportReport:
    """:func:`import_into` for JSON Lines held in memory (an API body, a buffer of tweets): written to a
    temporary file the importer reads, so its checks and line-numbered errors (named ``source_name:N``) are
    those of a file import."""
    with tempfile.TemporaryDirectory(prefix="groundswell-lines-") as folder:
        path = Path(folder) / "items.jsonl"
        path.write_bytes(lines)
        return import_into(
            session, str(path), name=name, options=options, fmt=InputFormat.JSONL, source_name=source_name,
            **import_options,
        )  # fmt: skip
