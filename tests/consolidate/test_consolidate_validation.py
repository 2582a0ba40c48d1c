"""Input checks and CSV reading: every message names what is wrong and where."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from groundswell.consolidate import check_answers, check_labels, parse_label_list, read_answers_csv, write_labels_csv
from groundswell.errors import InvalidInputError, UsageError


def test_check_answers_returns_exactly_the_three_columns() -> None:
    frame = pd.DataFrame({"label": ["x"], "extra": [1], "worker": ["w"], "task": ["t"]})
    assert list(check_answers(frame).columns) == ["task", "worker", "label"]


def test_missing_columns_are_named_with_what_was_found() -> None:
    with pytest.raises(InvalidInputError, match=r"lack column\(s\) worker, label; .*found: task, answer"):
        check_answers(pd.DataFrame({"task": ["t"], "answer": ["x"]}))


def test_a_label_outside_the_jobs_labels_names_the_label_the_rows_and_the_allowed_labels() -> None:
    frame = pd.DataFrame({"task": list("abcde"), "worker": ["w"] * 5, "label": ["pos", "bad", "bad", "bad", "bad"]})
    with pytest.raises(InvalidInputError) as info:
        check_answers(frame, ["pos", "neg"])
    message = str(info.value)
    assert "'bad'" in message and "row(s) 1, 2, 3 and 1 more" in message and "(pos, neg)" in message


@pytest.mark.parametrize(
    ("labels", "message"),
    [([], "empty"), (["a", "a"], "repeats 'a'"), ("abc", "single string"), (["a", " "], "empty label")],
)
def test_bad_label_lists_are_rejected(labels: list[str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        check_labels(labels)


def test_parse_label_list_keeps_order_and_strips_spaces() -> None:
    assert parse_label_list("positive, negative ,neutral") == ["positive", "negative", "neutral"]
    with pytest.raises(InvalidInputError, match="empty label"):
        parse_label_list("positive,,neutral")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "answers.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_answers_csv_keeps_ids_as_text_and_reports_file_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "task,worker,label\n007,w1,NA\n007,w2,neutral\n")
    answers = read_answers_csv(path)
    assert answers["task"].tolist() == ["007", "007"]
    assert answers["label"].tolist() == ["NA", "neutral"]
    bad = _write(tmp_path, "task,worker,label\nt1,w1,positive\nt1,w2,postive\n")
    with pytest.raises(InvalidInputError, match=r"answers.csv line\(s\) 3: label 'postive'"):
        read_answers_csv(bad, ["positive", "negative"])
    blank = _write(tmp_path, "task,worker,label\nt1,w1,positive\nt2,,positive\n")
    with pytest.raises(InvalidInputError, match=r"answers.csv line\(s\) 3: empty worker"):
        read_answers_csv(blank)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty"), ('task,worker,label\n"t1,w1,positive\n', "not valid CSV"), ("a,b\n1,2\n", "lack column")],
)
def test_unreadable_files_give_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        read_answers_csv(_write(tmp_path, text))


def test_missing_file_and_unwritable_output(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_answers_csv(tmp_path / "nope.csv")
    table = pd.DataFrame({"task": ["t"], "label": ["x"], "confidence": [1.0]})
    with pytest.raises(InvalidInputError, match="cannot write"):
        write_labels_csv(table, tmp_path / "missing-dir" / "out.csv")
