"""The bundled sample the demo imports: about 300 tweets of every kind, each with a gold label."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources


def _rows() -> list[dict[str, str]]:
    text = (resources.files("groundswell") / "sample_data" / "tweets.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_sample_covers_the_kinds_of_tweets_the_demo_promises() -> None:
    rows = _rows()
    assert 290 <= len(rows) <= 320
    assert len({r["id"] for r in rows}) == len(rows) == len({r["source"] for r in rows})
    labels = Counter(r["label"] for r in rows)
    assert set(labels) == {"positive", "negative", "neutral"}
    assert min(labels.values()) >= 0.25 * len(rows)
    texts = [r["source"] for r in rows]
    assert sum(bool(re.search(r"#\w", t)) for t in texts) >= 30
    assert sum(bool(re.search(r"@\w", t)) for t in texts) >= 30
    assert sum("http" in t for t in texts) >= 20
    assert sum(bool(re.search(r"[\U0001F300-\U0001FAFF]", t)) for t in texts) >= 20
    assert sum(r["lang"] != "en" for r in rows) >= 5
    assert any("<script>" in t for t in texts)
    assert all(0 < len(t) <= 280 for t in texts)
