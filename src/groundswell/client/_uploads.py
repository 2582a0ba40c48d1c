"""What ``datasets.create`` sends: any of the three inputs turned into one file for the multipart upload.

A path is sent as it is, read from disk as the upload goes (memory stays flat for any size), and the server
detects its format by its suffix. Records and DataFrames become JSON Lines, the importer's richest text
format (ids and attributes keep their JSON types), written to a spooled temporary file: in memory up to
:data:`SPOOL_BYTES`, on disk beyond, so a million rows do not sit in memory twice.

The server's JSON Lines reader takes the tweet from ``source`` (Ground Truth's input manifest), while its
CSV and Parquet readers take it from ``text_column`` or the first of ``text``, ``source``, ``tweet``,
``content``. So that records and DataFrames behave like a CSV of the same columns, that column is renamed
``source`` here; problems are then reported under ``source`` and by record number (line N is record N).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SPOOL_BYTES", "DatasetSource", "Upload", "prepare_upload"]

#: Records and DataFrames larger than this are spooled to disk before they are sent.
SPOOL_BYTES = 8 * 1024 * 1024
#: The server's default text columns (``groundswell.ingest.readers.DEFAULT_TEXT_COLUMNS``), in its order.
TEXT_COLUMNS = ("text", "source", "tweet", "content")
_DATAFRAME_CHUNK = 10_000

#: What ``datasets.create`` takes: a file path, a pandas DataFrame, or records (mappings, one per tweet).
DatasetSource: TypeAlias = "str | os.PathLike[str] | pd.DataFrame | Iterable[Mapping[str, Any]]"


class Upload:
    """A file to send as the multipart field ``file``: its name (which tells the server the format) and bytes."""

    def __init__(self, filename: str, handle: IO[bytes], *, generated: bool) -> None:
        self.filename = filename
        self.handle = handle
        #: Written here from records or a DataFrame (always JSON Lines), not the caller's file.
        self.generated = generated

    def close(self) -> None:
        self.handle.close()


def _is_dataframe(value: object) -> bool:
    # Without importing pandas: a DataFrame exists only if pandas was imported by whoever made it.
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _text_column(columns: Iterable[str], text_column: str | None) -> str | None:
    """The column to send as ``source``: the one named, else the server's first default text column."""
    if text_column is not None:
        return text_column
    present = set(columns)
    if "source" in present or "source-ref" in present:
        return None
    return next((c for c in TEXT_COLUMNS if c in present), None)


def prepare_upload(data: DatasetSource, name: str, text_column: str | None) -> tuple[Upload, str | None]:
    """The file to upload for ``data`` and the ``text_column`` to send with it (``None`` once renamed)."""
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        return Upload(path.name, path.open("rb"), generated=False), text_column
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by Upload
    try:
        if _is_dataframe(data):
            _write_dataframe(spool, data, text_column)  # type: ignore[arg-type]
        elif isinstance(data, Mapping | bytes | str):
            raise TypeError("records must be an iterable of mappings (one per tweet), a DataFrame or a file path")
        else:
            _write_records(spool, data, text_column)  # type: ignore[arg-type]
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return Upload(f"{name}.jsonl", spool, generated=True), None


def _write_records(out: IO[bytes], records: Iterable[Mapping[str, Any]], text_column: str | None) -> None:
    column: str | None = None
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise TypeError(f"record {number} is a {type(record).__name__}, not a mapping")
        row = dict(record)
        if number == 1:
            column = _text_column(row, text_column)
        if column is not None and column != "source" and column in row:
            _check_no_source(row, column)
            row["source"] = row.pop(column)
        out.write(json.dumps(row, ensure_ascii=False, default=_jsonable).encode() + b"\n")


def _write_dataframe(out: IO[bytes], frame: pd.DataFrame, text_column: str | None) -> None:
    column = _text_column([str(c) for c in frame.columns], text_column)
    if column is not None and column != "source":
        _check_no_source(frame.columns, column)
        frame = frame.rename(columns={column: "source"})
    for start in range(0, len(frame), _DATAFRAME_CHUNK):
        chunk = frame.iloc[start : start + _DATAFRAME_CHUNK]
        # pandas writes NaN as null and timestamps as ISO 8601 here, which json.dumps would not.
        text = chunk.to_json(orient="records", lines=True, force_ascii=False, date_format="iso")
        out.write(text.encode())
        if text and not text.endswith("\n"):
            out.write(b"\n")


def _check_no_source(columns: Iterable[Any], column: str) -> None:
    """Refuse a ``source`` column besides the text column: renaming the text to ``source`` would drop it."""
    if "source" in columns:
        raise ValueError(
            f"the records have both {column!r} (the text) and 'source'; rename 'source': they are sent as JSON "
            "Lines, whose text is 'source'"
        )


def _jsonable(value: Any) -> Any:
    """Values JSON has no type for: timestamps as ISO 8601, numpy scalars as their Python value."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
