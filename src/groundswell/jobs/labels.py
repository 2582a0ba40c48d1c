"""Label lists: from a comma-separated option or Ground Truth's label category configuration file.

The order is the contract: a label's position is its class index in every output manifest.
"""

from __future__ import annotations

import json
from typing import Any

from groundswell.errors import InvalidInputError

__all__ = ["MAX_LABELS", "MAX_LABEL_CHARS", "parse_label_config", "parse_labels", "validate_labels"]

MAX_LABEL_CHARS = 256
#: One key per label in the annotator UI (1–9).
MAX_LABELS = 9


def validate_labels(labels: list[str], *, source: str = "labels") -> list[str]:
    cleaned = [label.strip() for label in labels]
    if len(cleaned) < 2:
        raise InvalidInputError(f"{source}: a classification job needs at least 2 labels, got {len(cleaned)}")
    if len(cleaned) > MAX_LABELS:
        raise InvalidInputError(f"{source}: at most {MAX_LABELS} labels (one key each, 1–9), got {len(cleaned)}")
    for index, label in enumerate(cleaned):
        if not label:
            raise InvalidInputError(f"{source}: label {index + 1} is empty")
        if len(label) > MAX_LABEL_CHARS:
            raise InvalidInputError(f"{source}: label {index + 1} is longer than {MAX_LABEL_CHARS} characters")
    duplicates = sorted({label for label in cleaned if cleaned.count(label) > 1})
    if duplicates:
        raise InvalidInputError(f"{source}: labels must be unique; repeated: {', '.join(duplicates)}")
    return cleaned


def parse_labels(text: str) -> list[str]:
    """``positive,negative,neutral`` → the ordered list."""
    return validate_labels(text.split(","), source="--labels")


def parse_label_config(text: str, *, source: str = "label config") -> list[str]:
    """Ground Truth's ``{"document-version": "2018-11-28", "labels": [{"label": ...}, ...]}``."""
    try:
        config: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{source}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(config, dict) or not isinstance(config.get("labels"), list):
        raise InvalidInputError(f'{source}: expected an object with a "labels" list')
    version = config.get("document-version")
    if version is not None and version != "2018-11-28":
        raise InvalidInputError(f'{source}: unknown "document-version" {version!r}; expected "2018-11-28"')
    labels: list[str] = []
    for index, entry in enumerate(config["labels"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise InvalidInputError(f'{source}: labels[{index}] must be an object with a string "label"')
        labels.append(entry["label"])
    return validate_labels(labels, source=source)
