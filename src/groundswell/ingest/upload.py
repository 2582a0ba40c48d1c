"""Import a file sent over HTTP: save the stream to a temporary file, then import it as the CLI imports a path.

The readers take a path (they seek, and Parquet needs random access), so an upload is copied in chunks to a
temporary file first: memory stays at one chunk whatever the file's size, and the same readers, validation and
line-numbered problems apply as for ``groundswell dataset import``. Problems and stored items name the file by
the name it was uploaded under, not by the temporary path.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import InvalidInputError
from groundswell.ingest.importer import ImportReport, import_dataset
from groundswell.ingest.readers import ReadOptions
from groundswell.ingest.sources import InputFormat

__all__ = ["UPLOAD_FORMATS", "import_upload", "upload_format", "upload_name"]

#: What an upload can be: one file (a TweetEval folder is several, and is imported from a path).
UPLOAD_FORMATS = (InputFormat.JSONL, InputFormat.CSV, InputFormat.TSV, InputFormat.PARQUET)
_SUFFIX = {
    InputFormat.JSONL: ".jsonl",
    InputFormat.CSV: ".csv",
    InputFormat.TSV: ".tsv",
    InputFormat.PARQUET: ".parquet",
}
_BY_SUFFIX = {
    ".jsonl": InputFormat.JSONL,
    ".manifest": InputFormat.JSONL,
    ".json": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".csv": InputFormat.CSV,
    ".tsv": InputFormat.TSV,
    ".parquet": InputFormat.PARQUET,
    ".pq": InputFormat.PARQUET,
}
_CHUNK = 1024 * 1024


def upload_format(filename: str, fmt: InputFormat | None) -> InputFormat:
    """The format given, else the one the file name's suffix says (the rule of ``detect_format``)."""
    if fmt is not None:
        if fmt not in UPLOAD_FORMATS:
            raise InvalidInputError(f"format {fmt.value!r} cannot be uploaded; import a TweetEval folder by its path")
        return fmt
    found = _BY_SUFFIX.get(PurePosixPath(filename.lower()).suffix)
    if found is None:
        raise InvalidInputError(
            f"{filename!r}: cannot tell the format from the name; use a .jsonl/.manifest, .csv, .tsv or .parquet "
            "name, or give 'format'"
        )
    return found


def upload_name(filename: str | None) -> str:
    """How an upload is named in problems and stored items: the file name the client gave, without folders
    or characters that cannot be stored as text (a NUL, other control characters)."""
    base = PurePosixPath((filename or "").replace("\\", "/")).name
    shown = "".join(c for c in base if c.isprintable())[:200]
    return shown or "upload"


def import_upload(
    factory: sessionmaker[Session],
    stream: BinaryIO,
    *,
    filename: str,
    name: str,
    options: ReadOptions,
    fmt: InputFormat | None = None,
    skip_invalid: bool = False,
    batch_size: int = 5000,
    temp_dir: Path | None = None,
) -> ImportReport:
    """Copy ``stream`` to a temporary file and import it into dataset ``name``; the file is removed after.

    Raises what :func:`groundswell.ingest.import_dataset` raises (``RejectedInputError`` with every problem by
    line, nothing stored); with ``skip_invalid`` the report lists the first rejected rows instead of a file.
    """
    filename = upload_name(filename)
    chosen = upload_format(filename, fmt)
    with tempfile.TemporaryDirectory(prefix="groundswell-upload-", dir=temp_dir) as folder:
        path = Path(folder) / f"upload{_SUFFIX[chosen]}"
        with path.open("wb") as handle:
            shutil.copyfileobj(stream, handle, _CHUNK)
        return import_dataset(
            factory,
            str(path),
            name=name,
            options=options,
            fmt=chosen,
            skip_invalid=skip_invalid,
            batch_size=batch_size,
            source_name=filename,
        )
