"""Importing every supported format, with bad input refused by file and line and nothing half-stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from factories import write_jsonl, write_tweeteval
from groundswell.errors import RejectedInputError, UsageError
from groundswell.ingest import ReadOptions, content_id, export_dataset, import_dataset
from groundswell.store import make_engine, make_session_factory, upgrade
from groundswell.store.tables import Dataset, Item


@pytest.fixture
def sqlite_factory(sqlite_url: str) -> sessionmaker[Session]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    return make_session_factory(engine)


def _items(factory: sessionmaker[Session], dataset: str = "d") -> list[Item]:
    with factory() as session:
        query = select(Item).join(Dataset).where(Dataset.name == dataset).order_by(Item.id)
        return list(session.scalars(query))


def test_manifest_keeps_pass_through_attributes_and_hashes_ids(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.manifest",
        [
            {"source": "Loving the new update 😍", "tweet_id": "17", "meta": {"lang": "en"}},
            {"source": "Flight delayed again", "tweet_id": "18"},
        ],
    )
    report = import_dataset(factory, str(path), name="d")
    assert (report.imported, report.rows_read, report.rejected, report.created_dataset) == (2, 2, 0, True)
    first, second = _items(factory)
    assert first.text == "Loving the new update 😍"
    assert first.attributes == {"tweet_id": "17", "meta": {"lang": "en"}}
    assert first.external_id == content_id("Loving the new update 😍")
    assert (first.source_line, second.source_line) == (1, 2)
    assert first.created_at.year >= 2026 and first.content_hash == hashlib.sha256(first.text.encode()).hexdigest()[:32]


def test_id_and_label_columns_apply_to_manifests(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl", [{"source": "a", "id": 7, "label": "positive"}, {"source": "b", "id": "x"}]
    )
    import_dataset(sqlite_factory, str(path), name="d", options=ReadOptions(id_column="id", label_column="label"))
    items = _items(sqlite_factory)
    assert [(i.external_id, i.gold_label) for i in items] == [("7", "positive"), ("x", None)]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "invalid JSON"),
        ('{"text": "no source"}', "has neither 'source' nor 'source-ref'"),
        ('{"source": "   "}', "text is empty"),
        ('{"source": 42}', "text must be a string"),
        ('["source"]', "expected a JSON object"),
        ('{"source": "a", "source-ref": "b.txt"}', "has both"),
        ('{"source": "a", "$bad": 1}', "must not start with '$'"),
        (json.dumps({"source": "x" * 100_001}), "text is 100,001 characters; the limit is 100,000"),
    ],
)
def test_a_bad_manifest_line_is_named_and_rejects_the_file(
    sqlite_factory: sessionmaker[Session], tmp_path: Path, line: str, problem: str
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"source": "fine"}, line, {"source": "also fine"}])
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d")
    (found,) = caught.value.problems
    assert found.line == 2
    assert found.source == str(path)
    assert problem in found.problem
    assert _items(sqlite_factory) == []
    with sqlite_factory() as session:
        assert session.scalars(select(Dataset)).all() == [], "a refused import must not create the dataset"


def test_text_of_exactly_the_limit_is_accepted(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"source": "y" * 100_000}])
    assert import_dataset(sqlite_factory, str(path), name="d").imported == 1


def test_non_utf8_bytes_are_reported_with_their_line(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"source": "ok"}\n{"source": "caf\xe9"}\n')
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d")
    assert caught.value.problems[0].line == 2
    assert "not valid UTF-8" in caught.value.problems[0].problem


def test_every_problem_is_listed_not_just_the_first(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", ["{", {"source": "ok"}, "{", {"x": 1}, {"source": ""}])
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d")
    assert [p.line for p in caught.value.problems] == [1, 3, 4, 5]
    assert caught.value.total == 4


def test_refused_file_loses_nothing_already_stored(factory: sessionmaker[Session], tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [{"source": f"tweet {i}"} for i in range(12)])
    import_dataset(factory, str(good), name="d", batch_size=5)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"source": f"new {i}"} for i in range(11)] + ["{oops"])
    with pytest.raises(RejectedInputError):
        import_dataset(factory, str(bad), name="d", batch_size=5)  # two batches were written before the error
    assert [i.text for i in _items(factory)] == [f"tweet {i}" for i in range(12)]


def test_skip_invalid_imports_good_rows_and_writes_a_report(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"source": "a"}, "{", {"source": "b"}, {"other": 1}])
    report_path = tmp_path / "reports" / "rejected.jsonl"
    report = import_dataset(factory, str(path), name="d", skip_invalid=True, report_path=report_path)
    assert (report.imported, report.rejected) == (2, 2)
    assert [i.text for i in _items(factory)] == ["a", "b"]
    rejected = [json.loads(line) for line in report_path.read_text().splitlines()]
    assert [(r["line"], r["file"]) for r in rejected] == [(2, str(path)), (4, str(path))]
    assert "neither" in rejected[1]["problem"]


def test_duplicates_are_skipped_and_reported_within_and_across_imports(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [{"source": "same"}, {"source": "other"}, {"source": "same"}])
    report = import_dataset(factory, str(first), name="d")
    assert (report.imported, report.duplicate_ids) == (2, 1)
    assert report.duplicates[0].line == 3
    assert report.duplicates[0].first_seen == f"{first}:1"
    again = import_dataset(factory, str(first), name="d")
    assert (again.imported, again.duplicate_ids, again.created_dataset) == (0, 3, False)
    assert len(_items(factory)) == 2


def test_same_text_under_another_id_is_imported_but_flagged(
    sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"source": "same", "id": "1"}, {"source": "same", "id": "2"}])
    report = import_dataset(sqlite_factory, str(path), name="d", options=ReadOptions(id_column="id"))
    assert (report.imported, report.duplicate_ids, report.duplicate_texts) == (2, 0, 1)
    assert report.duplicates[0].external_id == "2"
    assert not report.duplicates[0].same_id


def test_source_ref_reads_the_referenced_file_relative_to_the_manifest(
    sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "t1.txt").write_text("Referenced tweet #yes\n", encoding="utf-8")
    path = write_jsonl(tmp_path / "in.manifest", [{"source-ref": "texts/t1.txt", "k": 1}])
    import_dataset(sqlite_factory, str(path), name="d")
    (item,) = _items(sqlite_factory)
    assert item.text == "Referenced tweet #yes"
    assert item.attributes == {"source-ref": str(tmp_path / "texts" / "t1.txt"), "k": 1}


def test_an_unreadable_source_ref_is_named(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.manifest", [{"source-ref": "missing.txt"}])
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d")
    problem = caught.value.problems[0]
    assert (problem.line, problem.field) == (1, "source-ref")
    assert "cannot read source-ref" in problem.problem and "missing.txt" in problem.problem


def test_csv_with_quoted_multiline_fields_and_all_columns_kept(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        'tweet_id,body,gold,lang\n1,"Hello, ""world""",positive,en\n2,"line one\nline two",neutral,en\n3,third,,fr\n',
        encoding="utf-8",
    )
    options = ReadOptions(text_column="body", id_column="tweet_id", label_column="gold")
    report = import_dataset(factory, str(path), name="d", options=options)
    assert report.imported == 3
    items = _items(factory)
    assert [i.text for i in items] == ['Hello, "world"', "line one\nline two", "third"]
    assert [i.gold_label for i in items] == ["positive", "neutral", None]
    assert items[0].attributes == {"tweet_id": "1", "gold": "positive", "lang": "en"}
    assert [i.source_line for i in items] == [2, 3, 5]


def test_csv_missing_column_names_the_column_and_the_ones_present(
    sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1,hi\n", encoding="utf-8")
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d", options=ReadOptions(label_column="sentiment"))
    problem = caught.value.problems[0]
    assert problem.field == "sentiment"
    assert "missing column 'sentiment'" in problem.problem and "'id', 'text'" in problem.problem


def test_csv_row_errors_carry_their_physical_line(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b'text,x\n"multi\nline",1\nbad\xff,2\n,3\nok,4,extra\n')
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d")
    assert [(p.line, p.problem.split(" (")[0]) for p in caught.value.problems] == [
        (4, "bytes are not valid UTF-8"),
        (5, "text is empty"),
        (6, "expected 2 fields"),
    ]


def test_tsv_is_read_by_its_suffix(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "in.tsv"
    path.write_text("text\tscore\ncomma, inside\t1\n", encoding="utf-8")
    import_dataset(sqlite_factory, str(path), name="d")
    assert [(i.text, i.attributes) for i in _items(sqlite_factory)] == [("comma, inside", {"score": "1"})]


def test_parquet_rows_and_typed_attributes(factory: sessionmaker[Session], tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([10, 11, 12]),
            "text": ["first", "second", "third"],
            "label": ["positive", None, "negative"],
            "score": [0.5, float("nan"), 1.0],
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path, row_group_size=2)
    options = ReadOptions(id_column="id", label_column="label")
    assert import_dataset(factory, str(path), name="d", options=options).imported == 3
    items = _items(factory)
    assert [(i.external_id, i.gold_label) for i in items] == [
        ("10", "positive"),
        ("11", None),
        ("12", "negative"),
    ]
    assert items[1].attributes == {"id": 11, "label": None, "score": None}


def test_parquet_bad_rows_are_named_by_row_number(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["fine", "", None]}), path)
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(path), name="d")
    assert [(p.line, p.problem) for p in caught.value.problems] == [
        (2, "text is empty"),
        (3, "text is missing (null)"),
    ]


def test_parquet_missing_text_column(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["x"]}), path)
    with pytest.raises(RejectedInputError, match="no text column"):
        import_dataset(sqlite_factory, str(path), name="d")


def test_tweeteval_folder_all_splits_or_one(factory: sessionmaker[Session], tmp_path: Path) -> None:
    folder = write_tweeteval(tmp_path / "te", {"train": [("good day", 2), ("bad day", 0)], "test": [("a day", 1)]})
    report = import_dataset(factory, str(folder), name="d")
    assert report.imported == 3
    items = _items(factory)
    assert [(i.external_id, i.text, i.gold_label, i.attributes["split"]) for i in items] == [
        ("train-1", "good day", "positive", "train"),
        ("train-2", "bad day", "negative", "train"),
        ("test-1", "a day", "neutral", "test"),
    ]
    assert items[2].source_uri == f"{folder}/test_text.txt"
    import_dataset(factory, str(folder), name="only-test", options=ReadOptions(split="test"))
    assert [i.external_id for i in _items(factory, "only-test")] == ["test-1"]


def test_tweeteval_label_outside_mapping_is_named(sqlite_factory: sessionmaker[Session], tmp_path: Path) -> None:
    folder = write_tweeteval(tmp_path / "te", {"val": [("x", 1), ("y", 7)]})
    with pytest.raises(RejectedInputError) as caught:
        import_dataset(sqlite_factory, str(folder), name="d")
    problem = caught.value.problems[0]
    assert (problem.source, problem.line) == (f"{folder}/val_labels.txt", 2)


def test_real_tweeteval_val_split_imports_with_gold(sqlite_factory: sessionmaker[Session], shared_data: Path) -> None:
    folder = shared_data / "tweeteval-sentiment"
    report = import_dataset(sqlite_factory, str(folder), name="te", options=ReadOptions(split="val"))
    assert report.imported + report.duplicate_ids == 2000
    expected = [json.loads(line) for line in (folder / "val.jsonl").read_text().splitlines()[:3]]
    items = _items(sqlite_factory, "te")[:3]
    assert [(i.external_id, i.text, i.gold_label) for i in items] == [
        (e["id"], e["source"], e["label"]) for e in expected
    ]


def test_unknown_suffix_and_missing_path_are_usage_errors(
    sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "in.xlsx").write_text("x")
    with pytest.raises(UsageError, match="cannot tell the format"):
        import_dataset(sqlite_factory, str(tmp_path / "in.xlsx"), name="d")
    with pytest.raises(UsageError, match="no such file"):
        import_dataset(sqlite_factory, str(tmp_path / "absent.jsonl"), name="d")


def test_export_round_trips_the_import(factory: sessionmaker[Session], tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("from a file", encoding="utf-8")
    rows = [
        {"source": "plain 😀", "id": "a", "label": "positive", "nested": {"k": [1, 2]}},
        {"source-ref": str(tmp_path / "r.txt"), "id": "b"},
        {"source": "<script>alert(1)</script> &amp;", "id": "c", "label": "neutral"},
    ]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    options = ReadOptions(id_column="id", label_column="label")
    import_dataset(factory, str(path), name="d", options=options)
    out = tmp_path / "out.jsonl"
    assert export_dataset(factory, "d", str(out)) == 3
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert exported == rows
    assert [list(line) for line in exported] == [list(row) for row in rows]  # key order kept, as Ground Truth does
    import_dataset(factory, str(out), name="d2", options=options)
    key = [(i.external_id, i.text, i.gold_label, i.attributes) for i in _items(factory)]
    assert [(i.external_id, i.text, i.gold_label, i.attributes) for i in _items(factory, "d2")] == key
