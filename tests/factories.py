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


# --- jobs -------------------------------------------------------------------------------------------------

LABELS = ["positive", "negative", "neutral"]


def make_dataset(factory: Any, name: str = "tweets", count: int = 10) -> str:
    from groundswell.store.db import transaction
    from groundswell.store.tables import Dataset, Item

    with transaction(factory) as session:
        dataset = Dataset(name=name)
        session.add(dataset)
        session.flush()
        session.add_all(
            Item(dataset_id=dataset.id, external_id=f"t{i}", text=f"tweet {i}", content_hash=f"{i:032d}")
            for i in range(count)
        )
    return name


def make_job(factory: Any, dataset: str, name: str = "job", *, start: bool = True, **options: Any) -> str:
    from groundswell.jobs import JobSpec, change_state, create_job
    from groundswell.store.db import transaction

    with transaction(factory) as session:
        create_job(session, JobSpec(name=name, dataset=dataset, labels=LABELS, **options))
        if start:
            change_state(session, name, "start")
    return name


def make_workers(factory: Any, count: int, team: str | None = None) -> list[Any]:
    from datetime import timedelta

    from groundswell.jobs import create_invite
    from groundswell.store.db import transaction

    workers = []
    with transaction(factory) as session:
        for i in range(count):
            worker, _ = create_invite(session, f"w{i}-{team}@example.org", team=team, valid_for=timedelta(days=1))
            workers.append(worker)
    return workers


def take(factory: Any, job: str, worker: Any, **kwargs: Any) -> Any:
    """next_task in its own transaction."""
    from groundswell.jobs import next_task
    from groundswell.store.db import transaction

    with transaction(factory) as session:
        return next_task(session, job, worker, **kwargs)


def answer(factory: Any, worker: Any, task: Any, label: str = "positive", key: str | None = None, **kwargs: Any) -> Any:
    from groundswell.jobs import submit_answer
    from groundswell.store.db import transaction

    with transaction(factory) as session:
        return submit_answer(
            session, worker, task.lease_id, label=label, idempotency_key=key or f"k-{task.lease_id}", **kwargs
        )
