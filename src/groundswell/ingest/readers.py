"""Readers turn one input (a manifest, a CSV/TSV or Parquet file, a TweetEval folder) into a stream of
validated ``ItemRecord``s, or ``InputProblem``s naming file, line and field.

They stream: each holds one line (or one Parquet batch) at a time, so memory does not grow with the file.
Text is read in chunks and no line is held beyond ``ReadOptions.max_line_bytes``: a longer line is reported
as soon as it passes the limit and the rest of it is read past, not kept, so one enormous line cannot take
memory in proportion to its length either. ``position``/``total`` feed the progress bar (bytes for text
files, rows for Parquet).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import decimal
import json
import math
import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from groundswell.domain import MAX_LINE_BYTES, MAX_LINE_CHARS, ItemRecord, content_hash
from groundswell.errors import InputProblem, UsageError
from groundswell.ingest.sources import InputFormat, fs_for, resolve_ref

__all__ = ["ReadOptions", "Reader", "content_id", "open_reader"]

Row = ItemRecord | InputProblem
#: Names tried, in order, when a CSV/Parquet file is given without --text-column.
DEFAULT_TEXT_COLUMNS = ("text", "source", "tweet", "content")
_ID_CHARS = 200
#: Bytes read at a time from a text input: an over-long line is noticed at most one chunk past the limit.
_CHUNK_BYTES = 1024 * 1024


def content_id(text: str) -> str:
    """The id of an item imported without one: a hash of its text, so re-importing finds it again."""
    return content_hash(text)[:20]


@dataclass(frozen=True)
class ReadOptions:
    text_column: str | None = None
    id_column: str | None = None
    label_column: str | None = None
    split: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)
    #: Longest line (or CSV record) read, in bytes, line ending not counted (GROUNDSWELL_MAX_LINE_BYTES).
    max_line_bytes: int = MAX_LINE_BYTES
    #: A row without ``id_column`` gets the content id instead of being refused: appending to a streaming
    #: job, where each tweet *may* carry an id (``groundswell.jobs.append``).
    id_optional: bool = False

    def with_optional_id(self, id_column: str | None) -> ReadOptions:
        """These options for appending to a streaming job: without an id column of their own, a row may carry
        its id under ``id_column`` (the dataset's), else ``id``; one without gets the content id, so a retried
        append is recognised either way."""
        if self.id_column is not None:
            return self
        return replace(self, id_column=id_column or "id", id_optional=True)


def _check_text(source: str, line: int, text: object, field_name: str) -> str | InputProblem:
    if text is None:
        return InputProblem(source, line, "text is missing (null)", field_name)
    if not isinstance(text, str):
        return InputProblem(source, line, f"text must be a string, got {type(text).__name__}", field_name)
    if not text.strip():
        return InputProblem(source, line, "text is empty", field_name)
    if len(text) > MAX_LINE_CHARS:
        return InputProblem(
            source, line, f"text is {len(text):,} characters; the limit is {MAX_LINE_CHARS:,}", field_name
        )
    return text


def _build(
    source: str,
    line: int,
    text: object,
    text_field: str,
    attributes: dict[str, Any],
    options: ReadOptions,
) -> Row:
    checked = _check_text(source, line, text, text_field)
    if isinstance(checked, InputProblem):
        return checked
    digest = content_hash(checked)
    external_id = digest[:20]
    if options.id_column is not None:
        raw_id = attributes.get(options.id_column)
        if raw_id is None and options.id_optional and options.id_column not in attributes:
            raw_id = external_id
        if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
            return InputProblem(source, line, "id is missing or empty", options.id_column)
        if isinstance(raw_id, dict | list):
            return InputProblem(source, line, "id must be a string or number", options.id_column)
        external_id = str(raw_id)
        if len(external_id) > _ID_CHARS:
            return InputProblem(source, line, f"id is longer than {_ID_CHARS} characters", options.id_column)
    gold = None
    if options.label_column is not None:
        raw_label = attributes.get(options.label_column)
        if isinstance(raw_label, dict | list):
            return InputProblem(source, line, "gold label must be a string or number", options.label_column)
        if raw_label is not None and str(raw_label).strip():
            gold = str(raw_label).strip()
    return ItemRecord(
        external_id=external_id,
        text=checked,
        attributes=attributes,
        gold_label=gold,
        line=line,
        digest=digest,
        source=source,
    )


class Reader:
    """Base: iterate for rows; ``position`` and ``total`` report progress in ``unit``."""

    unit = "bytes"

    def __init__(self, uri: str, options: ReadOptions) -> None:
        self.uri = uri
        self.options = options
        self.position = 0
        self.total: int | None = None

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError

    def _lines(self, uri: str) -> Iterator[tuple[int, bytes | None]]:
        """Physical lines as bytes (line ending removed), numbered from 1, ``None`` for one over the limit;
        advances ``position``."""
        fs, path = fs_for(uri, self.options.storage_options)
        with contextlib.suppress(OSError, TypeError, ValueError):  # size is only for the progress bar
            self.total = (self.total or 0) + int(fs.size(path) or 0)
        with fs.open(path, "rb") as handle:

            def read() -> bytes:
                chunk: bytes = handle.read(_CHUNK_BYTES)
                self.position += len(chunk)
                return chunk

            yield from enumerate(_bounded_lines(read, self.options.max_line_bytes), start=1)

    def _too_long(self, uri: str, line: int, what: str = "line") -> InputProblem:
        limit = self.options.max_line_bytes
        return InputProblem(uri, line, f"{what} is over the limit of {limit:,} bytes (GROUNDSWELL_MAX_LINE_BYTES)")


def _bounded_lines(read: Callable[[], bytes], limit: int) -> Iterator[bytes | None]:
    """Split a byte stream into lines (line ending removed), keeping at most ``limit`` bytes of any one line.

    A line longer than ``limit`` is yielded as ``None`` as soon as that is certain, and the rest of it is
    read past without being kept: memory stays within the limit plus one chunk however long the line is,
    and the lines after it are still read, so every problem in the file can be listed.
    """
    head: list[bytes] = []  # the current line's pieces from earlier chunks
    held = 0
    skipping = False  # inside a line already reported as too long
    while chunk := read():
        parts = chunk.split(b"\n")
        tail = parts.pop()  # after the last newline: a line not complete yet
        for part in parts:
            if skipping:
                skipping = False  # this part ends the over-long line
                continue
            if head:
                head.append(part)
                part = b"".join(head)
                head.clear()
                held = 0
            line = part.rstrip(b"\r")
            yield line if len(line) <= limit else None
        if skipping or not tail:
            continue
        held += len(tail)
        if held > limit + 1:  # too long even if the line ends in "\r\n"
            head.clear()
            held = 0
            skipping = True
            yield None
        else:
            head.append(tail)
    if head:
        line = b"".join(head).rstrip(b"\r")
        yield line if len(line) <= limit else None


def _decode(source: str, line: int, raw: bytes) -> str | InputProblem:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return InputProblem(source, line, f"bytes are not valid UTF-8 (byte {exc.start + 1} of the line)")


class JsonLinesReader(Reader):
    """Ground Truth input manifests: ``{"source": text}`` or ``{"source-ref": uri}`` plus pass-through keys."""

    def __iter__(self) -> Iterator[Row]:
        source = self.uri
        for number, raw in self._lines(self.uri):
            if raw is None:
                yield self._too_long(source, number)
                continue
            if not raw.strip():
                continue
            decoded = _decode(source, number, raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw)
            if isinstance(decoded, InputProblem):
                yield decoded
                continue
            yield self._parse(number, decoded)

    def _parse(self, number: int, line: str) -> Row:
        source = self.uri
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            return InputProblem(source, number, f"invalid JSON: {exc.msg} (column {exc.colno})")
        if not isinstance(obj, dict):
            return InputProblem(source, number, f"expected a JSON object, got {type(obj).__name__}")
        bad_key = next((key for key in obj if key.startswith("$")), None)
        if bad_key is not None:
            return InputProblem(source, number, "attribute names must not start with '$'", bad_key)
        has_source, has_ref = "source" in obj, "source-ref" in obj
        if has_source and has_ref:
            return InputProblem(source, number, "has both 'source' and 'source-ref'; give one")
        if not has_source and not has_ref:
            return InputProblem(source, number, "has neither 'source' nor 'source-ref'")
        if has_source:
            text = obj.pop("source")
            return _build(source, number, text, "source", obj, self.options)
        ref = obj["source-ref"]
        if not isinstance(ref, str) or not ref.strip():
            return InputProblem(source, number, "source-ref must be a non-empty string", "source-ref")
        resolved = resolve_ref(self.uri, ref)
        text_or_problem = self._read_ref(number, resolved)
        if isinstance(text_or_problem, InputProblem):
            return text_or_problem
        obj["source-ref"] = resolved
        return _build(source, number, text_or_problem, "source-ref", obj, self.options)

    def _read_ref(self, number: int, ref: str) -> str | InputProblem:
        try:
            fs, path = fs_for(ref, self.options.storage_options)
            with fs.open(path, "rb") as handle:
                data = handle.read(4 * MAX_LINE_CHARS + 1)
        except FileNotFoundError:
            return InputProblem(
                self.uri, number, f"cannot read source-ref {ref!r}: no such file or object", "source-ref"
            )
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            return InputProblem(self.uri, number, f"cannot read source-ref {ref!r}: {reason}", "source-ref")
        try:
            text: str = data.decode("utf-8")
            return text.rstrip("\r\n")
        except UnicodeDecodeError:
            return InputProblem(self.uri, number, f"source-ref {ref!r} is not valid UTF-8 text", "source-ref")


class _RecordTooLong(Exception):
    """Raised through the csv module when a quoted record spans more bytes than the limit."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class DelimitedReader(Reader):
    """CSV or TSV with a header row; every column but the text becomes a pass-through attribute.

    The line limit applies to whole records too: a quoted field runs across lines (an unclosed quote can run
    to the end of the file), and the csv module would hold all of them, so a record that grows past the
    limit stops the reading with a problem at its first line.
    """

    def __init__(self, uri: str, options: ReadOptions, delimiter: str) -> None:
        super().__init__(uri, options)
        self.delimiter = delimiter
        self._bad_lines: dict[int, InputProblem] = {}
        self._record_bytes = 0  # bytes handed to the csv module since the last complete record

    def _text_lines(self) -> Iterator[str]:
        limit = self.options.max_line_bytes
        for number, line in self._lines(self.uri):
            raw = line
            if raw is None:  # stands in as an empty line; the record it falls in is reported
                self._bad_lines[number] = self._too_long(self.uri, number)
                raw = b""
            self._record_bytes += len(raw) + 1
            if self._record_bytes > limit + 1:
                raise _RecordTooLong(number)
            if line is None:
                yield "\n"
                continue
            decoded = _decode(self.uri, number, raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw)
            if isinstance(decoded, InputProblem):
                self._bad_lines[number] = decoded
                decoded = raw.decode("utf-8", errors="replace")
            yield decoded + "\n"

    def __iter__(self) -> Iterator[Row]:
        reader = csv.reader(self._text_lines(), delimiter=self.delimiter, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            yield InputProblem(self.uri, 1, "file is empty; a header row is required")
            return
        except csv.Error as exc:
            yield InputProblem(self.uri, 1, f"malformed header: {exc}")
            return
        except _RecordTooLong as exc:
            yield self._record_too_long(1, exc.line)
            return
        bad_header = self._bad_in(1, reader.line_num)
        if bad_header is not None:
            yield bad_header
            return
        columns = [name.strip() for name in header]
        text_column = _pick_text_column(self.uri, columns, self.options)
        if isinstance(text_column, InputProblem):
            yield text_column
            return
        text_index = columns.index(text_column)
        previous_end = reader.line_num
        while True:
            self._record_bytes = 0
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield InputProblem(self.uri, reader.line_num, f"malformed CSV: {exc}")
                return
            except _RecordTooLong as exc:
                yield self._record_too_long(previous_end + 1, exc.line)
                return
            start, previous_end = previous_end + 1, reader.line_num
            bad = self._bad_in(start, previous_end)
            if bad is not None:
                yield bad
                continue
            if not values or values == [""]:
                continue
            if len(values) != len(columns):
                yield InputProblem(
                    self.uri, start, f"expected {len(columns)} fields (as in the header), found {len(values)}"
                )
                continue
            attributes = {
                name: value for i, (name, value) in enumerate(zip(columns, values, strict=True)) if i != text_index
            }
            yield _build(self.uri, start, values[text_index], text_column, attributes, self.options)

    def _bad_in(self, first: int, last: int) -> InputProblem | None:
        """The first problem found on the physical lines of one record, forgetting them all."""
        if not self._bad_lines:
            return None
        found = [self._bad_lines.pop(n) for n in range(first, last + 1) if n in self._bad_lines]
        return found[0] if found else None

    def _record_too_long(self, start: int, line: int) -> InputProblem:
        limit = self.options.max_line_bytes
        return InputProblem(
            self.uri,
            start,
            f"record is over the limit of {limit:,} bytes (GROUNDSWELL_MAX_LINE_BYTES) by line {line} "
            "(an unclosed quote?); reading stopped here",
        )


def _pick_text_column(uri: str, columns: list[str], options: ReadOptions) -> str | InputProblem:
    wanted = [c for c in (options.id_column, options.label_column) if c is not None]
    if options.id_optional and options.id_column is not None:
        wanted.remove(options.id_column)
    if options.text_column is not None:
        wanted.insert(0, options.text_column)
    missing = [c for c in wanted if c not in columns]
    if missing:
        return InputProblem(
            uri,
            1,
            f"missing column {missing[0]!r}; the columns are {', '.join(map(repr, columns))}",
            missing[0],
        )
    if options.text_column is not None:
        return options.text_column
    for candidate in DEFAULT_TEXT_COLUMNS:
        if candidate in columns:
            return candidate
    return InputProblem(
        uri,
        1,
        f"no text column: none of {', '.join(DEFAULT_TEXT_COLUMNS)} is present; pass --text-column "
        f"(the columns are {', '.join(map(repr, columns))})",
    )


def _jsonable(value: Any) -> Any:
    """Parquet values as JSON: dates become ISO strings, decimals floats, NaN null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class ParquetReader(Reader):
    """Parquet read one record batch at a time; problems are reported by 1-based row number.

    The line limit bounds what is held here too, from the file's metadata before anything is read: a batch
    holds about ``max_line_bytes`` of data (at most 5,000 rows), and a row group whose rows average more than
    the limit is refused unread. Parquet decompresses a value whole, so a row group with one huge value among
    many small ones is still read; the common case, one huge row, is not.
    """

    unit = "rows"

    def __iter__(self) -> Iterator[Row]:
        import pyarrow.parquet as pq

        fs, path = fs_for(self.uri, self.options.storage_options)
        with fs.open(path, "rb") as handle:
            try:
                parquet = pq.ParquetFile(handle)
            except Exception as exc:  # pyarrow raises its own ArrowInvalid for a file that is not Parquet
                yield InputProblem(self.uri, None, f"not a readable Parquet file: {exc}")
                return
            self.total = parquet.metadata.num_rows
            columns = list(parquet.schema_arrow.names)
            text_column = _pick_text_column(self.uri, columns, self.options)
            if isinstance(text_column, InputProblem):
                yield InputProblem(self.uri, None, text_column.problem, text_column.field)
                return
            limit = self.options.max_line_bytes
            row = 0
            for group in range(parquet.metadata.num_row_groups):
                meta = parquet.metadata.row_group(group)
                if meta.num_rows == 0:
                    continue
                row_bytes = max(1, meta.total_byte_size // meta.num_rows)
                if row_bytes > limit:
                    first, row = row + 1, row + meta.num_rows
                    self.position = row
                    yield InputProblem(self.uri, first, self._group_too_long(first, row, row_bytes))
                    continue
                batch_rows = max(1, min(5000, limit // row_bytes))
                for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[group]):
                    for record in batch.to_pylist():
                        row += 1
                        self.position = row
                        text = record.pop(text_column)
                        attributes = {str(k): _jsonable(v) for k, v in record.items()}
                        yield _build(self.uri, row, text, text_column, attributes, self.options)

    def _group_too_long(self, first: int, last: int, row_bytes: int) -> str:
        limit = f"the limit of {self.options.max_line_bytes:,} bytes (GROUNDSWELL_MAX_LINE_BYTES)"
        if first == last:
            return f"row is {row_bytes:,} bytes, over {limit}"
        return f"rows {first:,}-{last:,} (one row group) average {row_bytes:,} bytes, over {limit}; none was read"


class TweetEvalReader(Reader):
    """TweetEval's folder layout: ``<split>_text.txt`` and ``<split>_labels.txt`` pair line by line, and
    ``mapping.txt`` names the label indices. Items get ids ``<split>-<line>`` and a ``split`` attribute."""

    SPLITS = ("train", "val", "test")

    def __iter__(self) -> Iterator[Row]:
        fs, root = fs_for(self.uri, self.options.storage_options)
        mapping_uri = self._join("mapping.txt")
        mapping: dict[str, str] = {}
        for number, raw in self._lines(mapping_uri):
            if raw is None:
                yield self._too_long(mapping_uri, number)
                return
            parts = raw.decode("utf-8", errors="replace").split("\t")
            if len(parts) != 2:
                yield InputProblem(mapping_uri, number, "expected '<index>\\t<label name>'")
                return
            mapping[parts[0].strip()] = parts[1].strip()
        splits = [self.options.split] if self.options.split else self._available(fs, root)
        if not splits:
            yield InputProblem(self.uri, None, "no <split>_text.txt files in the folder")
            return
        for split in splits:
            yield from self._split(split, mapping, fs)

    def _join(self, name: str) -> str:
        return f"{self.uri.rstrip('/')}/{name}"

    def _available(self, fs: Any, root: str) -> list[str]:
        names = {posixpath.basename(p) for p in fs.ls(root, detail=False)}
        found = [s for s in self.SPLITS if f"{s}_text.txt" in names]
        extra = sorted(n[: -len("_text.txt")] for n in names if n.endswith("_text.txt") and n[:-9] not in self.SPLITS)
        return found + extra

    def _split(self, split: str, mapping: dict[str, str], fs: Any) -> Iterator[Row]:
        text_uri, labels_uri = self._join(f"{split}_text.txt"), self._join(f"{split}_labels.txt")
        for uri in (text_uri, labels_uri):
            if not fs.exists(fs_for(uri, self.options.storage_options)[1]):
                raise UsageError(f"{uri}: missing (split {split!r} needs both _text.txt and _labels.txt)")
        texts, labels = self._lines(text_uri), self._lines(labels_uri)
        for number, raw in texts:
            label_line = next(labels, None)
            if label_line is None:
                yield InputProblem(labels_uri, number, f"has fewer lines than {split}_text.txt")
                return
            if raw is None or label_line[1] is None:
                yield self._too_long(text_uri if raw is None else labels_uri, number)
                continue
            decoded = _decode(text_uri, number, raw)
            if isinstance(decoded, InputProblem):
                yield decoded
                continue
            index = label_line[1].decode("utf-8", errors="replace").strip()
            if index not in mapping:
                yield InputProblem(labels_uri, number, f"label {index!r} is not in mapping.txt")
                continue
            item_id = f"{split}-{number}"
            attributes = {"id": item_id, "split": split, "label": mapping[index]}
            yield _build(text_uri, number, decoded.rstrip(), "text", attributes, _TWEETEVAL_OPTIONS)
        if next(labels, None) is not None:
            yield InputProblem(labels_uri, None, f"has more lines than {split}_text.txt")


_TWEETEVAL_OPTIONS = ReadOptions(id_column="id", label_column="label")


def open_reader(uri: str, fmt: InputFormat, options: ReadOptions) -> Reader:
    if fmt is InputFormat.TWEETEVAL:
        return TweetEvalReader(uri.rstrip("/"), options)
    if options.split is not None:
        raise UsageError("--split applies only to a TweetEval folder")
    if fmt is InputFormat.JSONL:
        if options.text_column not in (None, "source"):
            raise UsageError("--text-column does not apply to a JSON Lines manifest; the text is 'source'")
        return JsonLinesReader(uri, options)
    if fmt is InputFormat.PARQUET:
        return ParquetReader(uri, options)
    return DelimitedReader(uri, options, "\t" if fmt is InputFormat.TSV else ",")
