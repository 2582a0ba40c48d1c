"""Where files live: local paths or any fsspec URL (``s3://bucket/key``).

It sits in the store layer because both sibling use-case layers need it (``ingest`` reads inputs, ``jobs``
writes output manifests) and they must not import each other; ``groundswell.ingest.sources`` re-exports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import fsspec
from fsspec.core import url_to_fs

__all__ = ["fs_for"]


def fs_for(uri: str, storage_options: Mapping[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and in-filesystem path for a local path or URL.

    Storage options (endpoint, credentials) are passed only to S3, so options meant for a bucket never
    reach (and break) the local filesystem.
    """
    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    options = dict(storage_options or {}) if protocol in {"s3", "s3a"} else {}
    fs, path = url_to_fs(uri, **options)
    return fs, path
