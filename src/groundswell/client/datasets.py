"""``gs.datasets``: import tweets (records, a DataFrame or a file), list and show datasets, read their items,
export them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from groundswell.client._http import Http, segment
from groundswell.client._uploads import DatasetSource, prepare_upload
from groundswell.client.models import ImportResult, Item, from_api

__all__ = ["Dataset", "Datasets"]

#: How long an upload may wait for the server's answer: the server imports the whole file (validation,
#: duplicates, insertion) before it answers, which for a large file takes far longer than an ordinary call.
UPLOAD_TIMEOUT_S = 600.0


@dataclass
class Dataset:
    """A dataset as the server last described it.

    ``item_count`` and ``gold_item_count`` are the API's ``items`` and ``gold_items`` (renamed so that
    :meth:`items` can iterate the tweets themselves). ``gold_distribution``, ``id_column`` and
    ``label_column`` are filled by :meth:`Datasets.get` and :meth:`Datasets.create`, not by the list.
    ``import_result`` is set on the dataset :meth:`Datasets.create` returns.
    """

    name: str
    item_count: int
    gold_item_count: int
    created_at: datetime
    gold_distribution: dict[str, int] | None = None
    id_column: str | None = None
    label_column: str | None = None
    import_result: ImportResult | None = None
    _http: Http | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, http: Http, data: dict[str, Any]) -> Dataset:
        renamed = {**data, "item_count": data["items"], "gold_item_count": data["gold_items"]}
        return from_api(cls, renamed, _http=http)

    def items(self) -> Iterator[Item]:
        """Every tweet in import order, fetched a page at a time as the iteration goes."""
        assert self._http is not None, "a Dataset made by hand is not attached to a client"
        return Datasets(self._http).items(self.name)

    def refresh(self) -> Dataset:
        """Read the dataset again (counts change as imports append to it); updates this object and returns it."""
        assert self._http is not None, "a Dataset made by hand is not attached to a client"
        fresh = Datasets(self._http).get(self.name)
        for name in ("item_count", "gold_item_count", "gold_distribution", "id_column", "label_column"):
            setattr(self, name, getattr(fresh, name))
        return self


class Datasets:
    """The ``/api/v1/datasets`` operations (an admin API key; a read-only key can list and read)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def create(
        self,
        name: str,
        data: DatasetSource,
        *,
        text_column: str | None = None,
        id_column: str | None = None,
        label_column: str | None = None,
        format: Literal["jsonl", "csv", "tsv", "parquet"] | None = None,
        skip_invalid: bool = False,
        timeout: float = UPLOAD_TIMEOUT_S,
    ) -> Dataset:
        """Import tweets into dataset ``name`` (created, or appended to when it exists) and return it.

        Args:
            name: The dataset (letters, digits, ``.``, ``_``, ``-``).
            data: Records (an iterable of dicts, one per tweet), a pandas DataFrame, or the path of a JSON
                Lines, CSV, TSV or Parquet file (sent as is, streamed from disk; the suffix names the format).
            text_column: The column holding the tweet; by default the first of ``text``, ``source``,
                ``tweet``, ``content``. JSON Lines files always take it from ``source``.
            id_column: The column holding each tweet's id (the item id labels are reported under); without
                it, ids are derived from the text.
            label_column: A column of known (gold) labels, for accuracy estimates and gold questions.
            format: Override detection by the file's suffix (paths only: records and DataFrames are sent
                as JSON Lines).
            skip_invalid: Import the good rows and report the bad ones in ``import_result.problems`` instead
                of refusing the whole input.
            timeout: Seconds to wait for the server's answer; it imports everything before answering.

        Raises:
            InvalidRequestError: Some row is invalid (nothing is stored); ``errors`` lists every problem
                as ``file:line [field]: problem``.
        """
        upload, sent_text_column = prepare_upload(data, name, text_column)
        fields = {
            "name": name,
            "text_column": sent_text_column,
            "id_column": id_column,
            "label_column": label_column,
            "format": None if upload.generated else format,
            "skip_invalid": "true" if skip_invalid else None,
        }
        try:
            body = self._http.request(
                "POST",
                "/datasets",
                files={"file": (upload.filename, upload.handle)},
                data={k: v for k, v in fields.items() if v is not None},
                timeout=timeout,
            )
        finally:
            upload.close()
        dataset = self.get(body["dataset"])
        dataset.import_result = ImportResult.from_api(body)
        return dataset

    def list(self) -> list[Dataset]:
        """Every dataset with its counts, oldest first."""
        return [Dataset.from_api(self._http, row) for row in self._http.request("GET", "/datasets")]

    def get(self, name: str) -> Dataset:
        """One dataset with its gold-label distribution. Raises :class:`NotFoundError` for an unknown name."""
        return Dataset.from_api(self._http, self._http.request("GET", f"/datasets/{segment(name)}"))

    def items(self, name: str) -> Iterator[Item]:
        """Every tweet of dataset ``name`` in import order, each exactly once, a page at a time."""
        for row in self._http.pages(f"/datasets/{segment(name)}/items", "items"):
            yield from_api(Item, row)

    def export(self, name: str, path: str | os.PathLike[str]) -> Path:
        """Write dataset ``name`` to ``path`` as a Ground Truth input manifest, byte for byte what
        ``groundswell dataset export`` writes (it re-imports to the same items). Streamed to disk; returns the
        path."""
        target = Path(path)
        with self._http.stream(f"/datasets/{segment(name)}/export") as response, target.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
        return target
