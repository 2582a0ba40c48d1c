"""Boundary checks for crowd judgments, gold labels and label lists.

Every aggregator goes through :func:`check_answers` first, so a wrong file fails here with a message that
names the column, the row and the value at fault, instead of as a pandas ``KeyError`` deep inside an EM
loop. The checks are vectorised: they run on millions of rows in well under a second.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from groundswell.errors import InvalidInputError

__all__ = [
    "ANSWER_COLUMNS",
    "AnswersLike",
    "Factorized",
    "GoldLike",
    "check_answers",
    "check_answers_coded",
    "check_gold",
    "check_labels",
    "check_no_repeats",
    "resolve_labels",
]

#: The long-table columns every aggregator reads (crowd-kit's names).
ANSWER_COLUMNS: tuple[str, str, str] = ("task", "worker", "label")

#: A DataFrame with ``task, worker, label`` columns, or a mapping of those names to equal-length arrays.
AnswersLike: TypeAlias = pd.DataFrame | Mapping[str, npt.ArrayLike]

#: Known labels of gold tasks: a Series (index = task, values = label) or a plain ``{task: label}`` mapping.
GoldLike: TypeAlias = "pd.Series[Any] | Mapping[Hashable, Hashable]"

_MAX_EXAMPLES = 3

#: pandas 3 always copies on write, so a column selection is already independent of the caller's frame.
_COPY_ON_WRITE = int(pd.__version__.split(".", 1)[0]) >= 3


def _rows(index: pd.Index, mask: npt.NDArray[np.bool_], source: str, unit: str) -> str:
    """Name the first few rows selected by ``mask``, by index label (read_answers_csv sets it to lines)."""
    hits = index[mask]
    shown = ", ".join(str(x) for x in hits[:_MAX_EXAMPLES])
    more = f" and {len(hits) - _MAX_EXAMPLES} more" if len(hits) > _MAX_EXAMPLES else ""
    return f"{source} {unit}(s) {shown}{more}"


def _to_frame(data: AnswersLike) -> pd.DataFrame:
    """Accept a DataFrame or a mapping of arrays; anything else is a caller bug worth a clear message."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({str(k): np.asarray(v) for k, v in data.items()})
        except ValueError as exc:
            raise InvalidInputError(f"answers arrays could not form a table: {exc}") from exc
    raise InvalidInputError(
        f"answers must be a pandas DataFrame or a mapping of column arrays, not {type(data).__name__}"
    )


def check_labels(labels: Sequence[Hashable]) -> pd.Index:
    """Validate a job's ordered label list; its order defines the class index of every output.

    Args:
        labels: The job's labels, e.g. ``["positive", "negative", "neutral"]``.

    Returns:
        The labels as a ``pd.Index`` named ``label``.

    Raises:
        InvalidInputError: If the list is empty, holds an empty value, or repeats a label.
    """
    if isinstance(labels, str):
        raise InvalidInputError(f"labels must be a list of labels, not the single string {labels!r}")
    index = pd.Index(list(labels), name="label")
    if len(index) == 0:
        raise InvalidInputError("the label list is empty; give at least one label")
    if index.hasnans or any(isinstance(x, str) and not x.strip() for x in index):
        raise InvalidInputError("the label list contains an empty label")
    if not index.is_unique:
        dupes = sorted({str(x) for x in index[index.duplicated()]})
        raise InvalidInputError(f"the label list repeats {', '.join(map(repr, dupes))}")
    return index


#: Integer codes of a column and the distinct values they index (``pd.factorize`` order, unsorted).
Factorized: TypeAlias = tuple[npt.NDArray[np.intp], pd.Index]


def check_answers(
    data: AnswersLike,
    labels: Sequence[Hashable] | None = None,
    *,
    source: str = "answers",
    unit: str = "row",
    check_duplicates: bool = True,
) -> pd.DataFrame:
    """Validate a long table of judgments and return it as exactly ``task, worker, label``.

    Args:
        data: One row per judgment, as a DataFrame or a mapping of column arrays.
        labels: The job's labels. When given, any other label is an error; when omitted, every label found
            is accepted.
        source: What to call the input in messages (a file name, say).
        unit: What the index labels count in messages: ``"row"`` (index labels) or ``"line"`` (file lines).
        check_duplicates: Also refuse repeated (task, worker) pairs; callers that code the columns
            themselves pass ``False`` and call :func:`check_no_repeats` with their codes.

    Returns:
        A new DataFrame with the three columns, in input order, keeping the input's index (so that row
        numbers in later messages still point at the input).

    Raises:
        InvalidInputError: On a missing column, no rows, an empty id or label, a label outside ``labels``, or
            a worker who judged the same task twice (Dawid–Skene would count that worker twice).
    """
    answers, coded = check_answers_coded(data, labels, source=source, unit=unit)
    if check_duplicates:
        task, _ = coded["task"] if "task" in coded else pd.factorize(answers["task"])
        worker, workers = coded["worker"] if "worker" in coded else pd.factorize(answers["worker"])
        check_no_repeats(answers, task, worker, len(workers), source=source, unit=unit)
    return answers


def check_answers_coded(
    data: AnswersLike,
    labels: Sequence[Hashable] | None = None,
    *,
    source: str = "answers",
    unit: str = "row",
) -> tuple[pd.DataFrame, dict[str, Factorized]]:
    """:func:`check_answers` without the repeat check, also handing back the codes it computed.

    Text columns are factorised to check for blank values on the distinct values only; encoding reuses
    those codes instead of hashing millions of strings a second time.

    Returns:
        The checked ``task, worker, label`` table and, for each text column, its ``pd.factorize`` result.
    """
    frame = _to_frame(data)
    missing = [c for c in ANSWER_COLUMNS if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise InvalidInputError(
            f"{source} lack column(s) {', '.join(missing)}; expected task, worker, label (found: {found})"
        )
    answers = frame.loc[:, list(ANSWER_COLUMNS)]
    if not _COPY_ON_WRITE:  # pandas 3 copies lazily, on the first write to either frame
        answers = answers.copy()
    if answers.empty:
        raise InvalidInputError(f"{source} contain no judgments; nothing to consolidate")
    coded: dict[str, Factorized] = {}
    for column in ANSWER_COLUMNS:
        values = answers[column]
        empty = values.isna().to_numpy()
        if values.dtype.kind in "OSUT" or isinstance(values.dtype, pd.StringDtype):
            # Blank text is checked on the distinct values only: ids and labels repeat a lot.
            codes, distinct = pd.factorize(values)
            coded[column] = (np.asarray(codes, dtype=np.intp), pd.Index(distinct))
            blank = np.fromiter((not str(v).strip() for v in distinct), dtype=bool, count=len(distinct))
            if blank.any():
                empty = empty | ((codes >= 0) & blank[np.maximum(codes, 0)])
        if empty.any():
            where = _rows(answers.index, empty, source, unit)
            raise InvalidInputError(f"{where}: empty {column}; every judgment needs a task, worker and label")
    if labels is not None:
        allowed = check_labels(labels)
        outside = ~answers["label"].isin(allowed).to_numpy()
        if outside.any():
            bad = pd.unique(answers["label"].to_numpy()[outside])
            names = ", ".join(repr(x) for x in bad[:_MAX_EXAMPLES])
            raise InvalidInputError(
                f"{_rows(answers.index, outside, source, unit)}: label {names} is not one of the job's labels "
                f"({', '.join(map(str, allowed))})"
            )
    return answers, coded


def check_no_repeats(
    answers: pd.DataFrame,
    task: npt.NDArray[np.intp],
    worker: npt.NDArray[np.intp],
    n_workers: int,
    *,
    source: str = "answers",
    unit: str = "row",
) -> None:
    """Refuse a worker who judged the same task twice, given integer codes of both columns.

    Split from :func:`check_answers` so that encoding, which codes the columns anyway, does not hash
    millions of ids a second time.

    Raises:
        InvalidInputError: Naming the repeated rows, the worker and the task.
    """
    pairs = np.multiply(task, max(n_workers, 1), dtype=np.int64)
    pairs += worker
    if len(pairs) > 1 and bool(np.all(task[1:] >= task[:-1])):
        # Judgments grouped by task (the usual layout): the pairs are nearly sorted, which an adaptive
        # (stable) sort finishes in about one pass, several times faster than hashing them.
        ordered = np.sort(pairs, kind="stable")
        if not bool(np.any(ordered[1:] == ordered[:-1])):
            return
    dupes = pd.Series(pairs).duplicated(keep="first").to_numpy()
    if dupes.any():
        first = answers[dupes].iloc[0]
        raise InvalidInputError(
            f"{_rows(answers.index, dupes, source, unit)}: worker {first['worker']!r} judged task {first['task']!r} "
            "more than once; keep one judgment per worker and task"
        )


def resolve_labels(found: npt.ArrayLike, labels: Sequence[Hashable] | None) -> pd.Index:
    """Choose the class order: the job's list when given, else the sorted labels that occur.

    Args:
        found: Labels that occur in the judgments (any order, repeats allowed).
        labels: The job's ordered labels, or ``None``.

    Returns:
        An index named ``label`` whose positions are the class indices used everywhere downstream.
    """
    if labels is not None:
        return check_labels(labels)
    unique = pd.unique(np.asarray(found))
    try:
        ordered = sorted(unique)
    except TypeError:
        ordered = sorted(unique, key=lambda x: (type(x).__name__, str(x)))
    index: pd.Index = pd.Index(ordered, name="label")
    return index


def check_gold(gold: GoldLike, labels: pd.Index) -> pd.Series[Any]:
    """Validate known labels of gold tasks.

    Args:
        gold: Task → correct label.
        labels: The class order in use (from :func:`resolve_labels`).

    Returns:
        A Series indexed by task, holding labels from ``labels``.

    Raises:
        InvalidInputError: If a gold task repeats, has no label, or its label is not in ``labels``.
    """
    series = gold.copy() if isinstance(gold, pd.Series) else pd.Series(dict(gold), dtype=object)
    if not series.index.is_unique:
        task = series.index[series.index.duplicated()][0]
        raise InvalidInputError(f"gold lists task {task!r} more than once")
    if series.isna().any():
        task = series.index[series.isna().to_numpy()][0]
        raise InvalidInputError(f"gold task {task!r} has no label")
    outside = ~series.isin(labels).to_numpy()
    if outside.any():
        task, label = series.index[outside][0], series.to_numpy()[outside][0]
        raise InvalidInputError(
            f"gold task {task!r} has label {label!r}, which is not one of the job's labels "
            f"({', '.join(map(str, labels))})"
        )
    return series
