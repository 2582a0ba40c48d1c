"""Where input comes from: local paths or any fsspec URL (``s3://bucket/key``), and what format it is."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from groundswell.domain import InputFormat
from groundswell.errors import UsageError
from groundswell.store.files import fs_for

__all__ = ["InputFormat", "detect_format", "fs_for", "resolve_ref"]


_SUFFIXES = {
    ".jsonl": InputFormat.JSONL,
    ".manifest": InputFormat.JSONL,
    ".json": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".csv": InputFormat.CSV,
    ".tsv": InputFormat.TSV,
    ".parquet": InputFormat.PARQUET,
    ".pq": InputFormat.PARQUET,
}


def detect_format(uri: str, storage_options: Mapping[str, Any] | None = None) -> InputFormat:
    """Pick the reader from the path: a TweetEval folder, or a file by its suffix."""
    fs, path = fs_for(uri, storage_options)
    if not fs.exists(path):
        raise UsageError(f"{uri}: no such file or folder")
    if fs.isdir(path):
        if fs.exists(posixpath.join(path, "mapping.txt")):
            return InputFormat.TWEETEVAL
        raise UsageError(
            f"{uri}: is a folder but not in TweetEval layout (no mapping.txt beside <split>_text.txt); "
            "give a .jsonl/.manifest, .csv, .tsv or .parquet file"
        )
    name = path.lower()
    if name.endswith(".gz"):
        raise UsageError(f"{uri}: compressed input is not supported; decompress it first")
    for suffix, found in _SUFFIXES.items():
        if name.endswith(suffix):
            return found
    raise UsageError(
        f"{uri}: cannot tell the format from the name; use a .jsonl/.manifest, .csv, .tsv or .parquet "
        "suffix, or pass --format"
    )


def resolve_ref(manifest_uri: str, ref: str) -> str:
    """A ``source-ref`` is a URL, an absolute path, or a path relative to the manifest's own folder."""
    if "://" in ref or ref.startswith("/"):
        return ref
    if "://" in manifest_uri:
        base = manifest_uri.rsplit("/", 1)[0]
        return f"{base}/{ref}"
    return posixpath.normpath(posixpath.join(posixpath.dirname(posixpath.abspath(manifest_uri)), ref))
