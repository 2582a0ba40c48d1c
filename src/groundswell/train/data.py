"""Training data from a file: a Ground Truth output manifest, or a JSONL of ``source`` + ``label``.

Why one reader for both: people arrive with either an output manifest from a labeling job (here or on
SageMaker) or a hand-made file, and should not have to convert. Each line is checked, and every problem is
reported by file and line (``RejectedInputError``) before any training starts, because a model silently
trained on half a file is worse than an error.

Lines that carry text but no label (Ground Truth copies unlabeled objects into its output verbatim) are
skipped and counted, not rejected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fsspec.core import url_to_fs

from groundswell.errors import InputProblem, InvalidInputError, UsageError

__all__ = ["TrainingData", "TrainingInputError", "read_training_manifest"]

_MAX_PROBLEMS = 50
_SHOWN = 10


class TrainingInputError(InvalidInputError):
    """Bad lines in a training file; ``problems`` lists them by file and line (the message shows the first few)."""

    def __init__(self, problems: list[InputProblem], total: int) -> None:
        self.problems = problems
        self.total = total
        # No "[field]" here: the CLI prints messages with Rich markup, which would swallow the brackets.
        lines = [f"  {p.source}:{p.line}: {p.problem}" for p in problems[:_SHOWN]]
        if total > _SHOWN:
            lines.append(f"  … and {total - _SHOWN} more")
        super().__init__(f"{total} bad line(s); nothing was trained. Fix these lines:\n" + "\n".join(lines))


@dataclass
class TrainingData:
    """Texts with class indices into ``labels`` (and optional per-example weights), ready for ``train_model``."""

    texts: list[str]
    targets: list[int]
    labels: list[str]
    weights: list[float] | None = None
    source: str = ""
    label_attribute_name: str = "sentiment"
    job_name: str = ""
    skipped_unlabeled: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """At least two classes must occur, or there is nothing to learn."""
        seen = sorted(set(self.targets))
        if len(seen) < 2:
            names = ", ".join(self.labels[i] for i in seen) or "none"
            raise InvalidInputError(
                f"{self.source}: training needs examples of at least 2 classes; found {len(seen)} ({names}) "
                f"in {len(self.texts)} labeled line(s)"
            )


def _lines(uri: str, storage_options: dict[str, Any] | None) -> Iterator[tuple[int, str]]:
    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    fs, path = url_to_fs(uri, **(dict(storage_options or {}) if protocol in {"s3", "s3a"} else {}))
    if not fs.exists(path):
        raise UsageError(f"{uri}: no such file")
    with fs.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _label_attribute(row: dict[str, Any]) -> str | None:
    found = [k[: -len("-metadata")] for k, v in row.items() if k.endswith("-metadata") and isinstance(v, dict)]
    found = [k for k in found if k in row and "class-name" in row[f"{k}-metadata"]]
    return found[0] if len(found) == 1 else None


def read_training_manifest(
    uri: str,
    *,
    label_attribute: str | None = None,
    labels: Sequence[str] | None = None,
    weight_by_confidence: bool = False,
    storage_options: dict[str, Any] | None = None,
    check: bool = True,
) -> TrainingData:
    """Read labeled lines from ``uri`` (local path or ``s3://``).

    Args:
        label_attribute: the manifest attribute holding the class index; found automatically when each line
            has exactly one ``<attr>`` + ``<attr>-metadata`` pair. Lines with ``label`` are read when none is.
        labels: the label list in class-index order; without it, it is built from ``class-name`` metadata
            (or from the sorted ``label`` values of a plain JSONL).
        weight_by_confidence: use ``<attr>-metadata.confidence`` as each example's weight.
        check: require examples of at least two classes (training does; a validation file read with the
            training ``labels`` may hold one class and still be scored on).
    """
    problems: list[InputProblem] = []
    rows: list[tuple[int, str, int | str, float]] = []  # line, text, index-or-name, weight
    index_names: dict[int, str] = {}
    attr = label_attribute
    skipped = 0
    job_name = ""
    n_problems = 0

    def problem(line: int, message: str, fieldname: str | None = None) -> None:
        nonlocal n_problems
        n_problems += 1
        if len(problems) < _MAX_PROBLEMS:
            problems.append(InputProblem(uri, line, message, fieldname))

    for number, raw in _lines(uri, storage_options):
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            problem(number, f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            problem(number, "a manifest line must be a JSON object")
            continue
        text = row.get("source")
        if not isinstance(text, str) or not text.strip():
            why = "source-ref lines are not supported for training" if "source-ref" in row else "no text"
            problem(number, f'{why}: each line needs a non-empty "source"', "source")
            continue
        if attr is None and "label" not in row:
            attr = _label_attribute(row)
        if attr is not None and attr in row:
            meta = row.get(f"{attr}-metadata")
            meta = meta if isinstance(meta, dict) else {}
            value = row[attr]
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problem(number, f"class index must be a non-negative integer, got {value!r}", attr)
                continue
            name = meta.get("class-name")
            if labels is not None and value >= len(labels):
                problem(number, f"unknown class index {value}: the label list has {len(labels)} label(s)", attr)
                continue
            if isinstance(name, str):
                expected = labels[value] if labels is not None else index_names.setdefault(value, name)
                if expected != name:
                    was = f"the label list names it {expected!r}" if labels is not None else f"{expected!r} before"
                    problem(number, f"class index {value} is named {name!r} here but {was}", attr)
                    continue
            elif labels is None and value not in index_names:
                index_names.setdefault(value, "")
            weight = meta.get("confidence", 1.0) if weight_by_confidence else 1.0
            job_name = job_name or str(meta.get("job-name", ""))
            rows.append((number, text, value, float(weight) if isinstance(weight, int | float) else 1.0))
        elif "label" in row and row["label"] not in (None, ""):
            label = row["label"]
            if not isinstance(label, str | int) or isinstance(label, bool):
                problem(number, f"label must be a string, got {label!r}", "label")
                continue
            rows.append((number, text, str(label), 1.0))
        else:
            skipped += 1
    if n_problems:
        raise TrainingInputError(problems, n_problems)
    if not rows:
        raise InvalidInputError(
            f'{uri}: no labeled lines; expected "source" with "label", or Ground Truth output lines '
            '("<attr>": class index and "<attr>-metadata": {"class-name": ...})'
        )
    if all(isinstance(r[2], int) for r in rows):
        names = list(labels) if labels is not None else _names_from_indices(uri, index_names)
        targets = [int(r[2]) for r in rows]
    else:
        if any(isinstance(r[2], int) for r in rows):
            raise InvalidInputError(f'{uri}: mixes "label" lines with "{attr}" class-index lines; use one form')
        found = sorted({str(r[2]) for r in rows})
        names = list(labels) if labels is not None else found
        position = {name: i for i, name in enumerate(names)}
        unknown = [(r[0], str(r[2])) for r in rows if str(r[2]) not in position]
        if unknown:
            raise TrainingInputError(
                [
                    InputProblem(uri, line, f"unknown label {name!r}; known: {', '.join(names)}", "label")
                    for line, name in unknown[:_MAX_PROBLEMS]
                ],
                len(unknown),
            )
        targets = [position[str(r[2])] for r in rows]
    weights = [r[3] for r in rows] if weight_by_confidence else None
    data = TrainingData(
        texts=[r[1] for r in rows],
        targets=targets,
        labels=names,
        weights=weights,
        source=uri,
        label_attribute_name=attr or "sentiment",
        job_name=job_name,
        skipped_unlabeled=skipped,
    )
    if check:
        data.check()
    return data


def _names_from_indices(uri: str, index_names: dict[int, str]) -> list[str]:
    size = max(index_names) + 1
    unnamed = [i for i in range(size) if not index_names.get(i)]
    if unnamed:
        raise InvalidInputError(
            f'{uri}: class index(es) {", ".join(map(str, unnamed))} have no "class-name" in any line; '
            "pass the label list (--labels negative,neutral,positive)"
        )
    return [index_names[i] for i in range(size)]
