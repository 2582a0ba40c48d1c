"""CSV in and out for standalone consolidation (``groundswell consolidate ANSWERS.csv``).

Kept in the library so the command stays a thin shell and so that a notebook gets the same parsing and
the same error messages, with file line numbers, as the command line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from groundswell.consolidate._validation import ANSWER_COLUMNS, check_answers, check_labels
from groundswell.errors import InvalidInputError, UsageError

__all__ = ["parse_label_list", "read_answers_csv", "write_labels_csv"]

#: The header line is line 1, so the first judgment is on line 2.
_FIRST_DATA_LINE = 2


def parse_label_list(text: str) -> list[str]:
    """Split a comma-separated label list (``"positive,negative,neutral"``), keeping its order.

    Raises:
        InvalidInputError: If a label is empty or repeated.
    """
    labels = [part.strip() for part in text.split(",")]
    if any(not label for label in labels):
        raise InvalidInputError(f"the label list {text!r} has an empty label; separate labels with single commas")
    return [str(x) for x in check_labels(labels)]


def read_answers_csv(path: str | os.PathLike[str], labels: list[str] | None = None) -> pd.DataFrame:
    """Read and validate a ``task,worker,label`` CSV file (extra columns are ignored).

    Every value is read as text, so ids like ``007`` keep their leading zeros and a label ``NA`` stays a
    label. Problems are reported with the file's line numbers.

    Args:
        path: The CSV file.
        labels: The job's labels, if known; any other label is an error.

    Returns:
        The judgments, indexed by line number.

    Raises:
        UsageError: If the file does not exist (a usage error, as for every command's missing input).
        InvalidInputError: If the file is unreadable, not CSV, or fails ``check_answers``.
    """
    name = Path(path).name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError as exc:
        raise UsageError(f"cannot read {path}: no such file") from exc
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{name} is empty; expected a header line task,worker,label") from exc
    except pd.errors.ParserError as exc:
        raise InvalidInputError(f"{name} is not valid CSV: {str(exc).strip()}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{name} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.index = pd.RangeIndex(_FIRST_DATA_LINE, _FIRST_DATA_LINE + len(frame))
    for column in ANSWER_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].str.strip()
    return check_answers(frame, labels, source=name, unit="line")


def write_labels_csv(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a ``task,label,confidence`` table as CSV (confidence to 6 decimals).

    Raises:
        InvalidInputError: If the file cannot be written (missing folder, no permission).
    """
    try:
        table.to_csv(path, index=False, float_format="%.6f")
    except OSError as exc:
        raise InvalidInputError(f"cannot write {path}: {exc.strerror or exc}") from exc
