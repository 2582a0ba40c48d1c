"""Small builders for test input files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    """Write rows as JSON Lines; a str row is written verbatim (for malformed lines)."""
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


def write_tweeteval(folder: Path, splits: dict[str, list[tuple[str, int]]]) -> Path:
    """A folder in TweetEval's layout with the given (text, label index) pairs per split."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mapping.txt").write_text("0\tnegative\n1\tneutral\n2\tpositive\n", encoding="utf-8")
    for split, pairs in splits.items():
        (folder / f"{split}_text.txt").write_text("".join(f"{t} \n" for t, _ in pairs), encoding="utf-8")
        (folder / f"{split}_labels.txt").write_text("".join(f"{label}\n" for _, label in pairs), encoding="utf-8")
    return folder
