"""s3:// paths against moto's S3 server on 127.0.0.1: manifest import, source-ref objects, export."""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import RejectedInputError
from groundswell.ingest import ReadOptions, export_dataset, import_dataset
from groundswell.store.tables import Item

pytestmark = pytest.mark.s3


def _put(options: dict[str, object], url: str, data: bytes) -> None:
    with fsspec.open(url, "wb", **options) as handle:
        handle.write(data)


def test_import_a_manifest_with_source_refs_from_s3_and_export_back(
    factory: sessionmaker[Session], s3_bucket: tuple[str, dict[str, object]], tmp_path: Path
) -> None:
    bucket, options = s3_bucket
    _put(options, f"s3://{bucket}/in/texts/one.txt", "Tweet stored as an object 🚀".encode())
    manifest = "\n".join(
        [
            json.dumps({"source": "inline tweet", "id": "1"}),
            json.dumps({"source-ref": "texts/one.txt", "id": "2"}),
            json.dumps({"source-ref": f"s3://{bucket}/in/texts/one.txt", "id": "3"}),
        ]
    )
    _put(options, f"s3://{bucket}/in/input.manifest", manifest.encode())
    read = ReadOptions(id_column="id", storage_options=options)
    report = import_dataset(factory, f"s3://{bucket}/in/input.manifest", name="d", options=read)
    assert (report.imported, report.duplicate_texts) == (3, 1)
    with factory() as session:
        items = session.scalars(select(Item).order_by(Item.id)).all()
    assert [i.text for i in items] == [
        "inline tweet",
        "Tweet stored as an object 🚀",
        "Tweet stored as an object 🚀",
    ]
    assert items[1].attributes["source-ref"] == f"s3://{bucket}/in/texts/one.txt"

    out = f"s3://{bucket}/out/export.manifest"
    assert export_dataset(factory, "d", out, storage_options=options) == 3
    with fsspec.open(out, "r", encoding="utf-8", **options) as handle:
        lines = [json.loads(line) for line in handle]
    assert lines[0] == {"source": "inline tweet", "id": "1"}


def test_missing_s3_object_is_a_named_problem(
    factory: sessionmaker[Session], s3_bucket: tuple[str, dict[str, object]]
) -> None:
    bucket, options = s3_bucket
    _put(options, f"s3://{bucket}/m.jsonl", json.dumps({"source-ref": f"s3://{bucket}/nope.txt"}).encode())
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(factory, f"s3://{bucket}/m.jsonl", name="d", options=ReadOptions(storage_options=options))
    assert caught.value.problems[0].line == 1
    assert f"s3://{bucket}/nope.txt" in caught.value.problems[0].problem
    assert "no such file or object" in caught.value.problems[0].problem


def test_csv_from_s3(factory: sessionmaker[Session], s3_bucket: tuple[str, dict[str, object]]) -> None:
    bucket, options = s3_bucket
    _put(options, f"s3://{bucket}/t.csv", b"text,label\nhello there,neutral\n")
    read = ReadOptions(label_column="label", storage_options=options)
    assert import_dataset(factory, f"s3://{bucket}/t.csv", name="d", options=read).imported == 1
