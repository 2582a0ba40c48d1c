"""The model in the loop, its first half: predictions the endpoint is unsure of go to people.

``endpoint serve MODEL --review-job JOB --review-below 0.8`` answers every request at once, as always, and
also appends each tweet whose top probability is below the threshold to the streaming job JOB, where it is
routed, labeled, consolidated and delivered (webhooks, the feed) like any appended tweet.

Off the request path: :meth:`ReviewQueue.offer` only puts texts in a buffer; a thread appends the buffer
every ``flush_every`` seconds in one transaction (the same all-or-nothing append as ``job append`` and
``POST /jobs/{name}/items``). Each tweet's id is a digest of its text, so a tweet asked about again (by any
server process, or after a restart) is appended once: the append reports it as a duplicate. What the buffer
holds when the process is killed is not appended (at most ``flush_every`` seconds of low-confidence tweets;
the response already went out): the trade for never making a prediction wait on the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import InvalidInputError, UsageError
from groundswell.ingest import ReadOptions
from groundswell.ingest.importer import import_json_lines
from groundswell.jobs.append import append_to_job
from groundswell.jobs.lifecycle import get_job
from groundswell.store.db import transaction

__all__ = ["ReviewQueue", "review_id"]

log = logging.getLogger(__name__)

#: Most tweets waiting in the buffer; beyond it new ones are dropped (and counted) rather than growing memory.
MAX_PENDING = 50_000


def review_id(text: str) -> str:
    """The id a reviewed tweet is appended under: the same text always gets the same id.

    Examples:
        >>> review_id("love it")
        'review-5a1432c3ec442128c3f0aabf'
    """
    return "review-" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


class ReviewQueue:
    """Appends tweets predicted with confidence below ``below`` to the streaming job ``job``."""

    def __init__(self, factory: sessionmaker[Session], job: str, below: float, *, flush_every: float = 0.5) -> None:
        if not 0.0 < below <= 1.0:
            raise InvalidInputError(f"--review-below must be in (0, 1], got {below}")
        with factory() as session:
            found = get_job(session, job)
            if not (found.settings or {}).get("streaming"):
                raise UsageError(f"job {found.name!r} is not a streaming job: create one with --streaming to review")
            self.job = found.name
        self.below = below
        self.flush_every = flush_every
        self.appended = 0
        self.dropped = 0
        self._factory = factory
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="review")
        self._thread.start()

    def offer(self, texts: Sequence[str], predictions: Sequence[Any]) -> int:
        """Buffer the texts whose prediction is below the threshold; how many were."""
        unsure = [
            {"source": text, "id": review_id(text), "predicted": p.label, "confidence": round(p.confidence, 4)}
            for text, p in zip(texts, predictions, strict=True)
            if p.confidence < self.below and text.strip()
        ]
        with self._lock:
            for row in unsure:
                if len(self._pending) >= MAX_PENDING:
                    self.dropped += 1
                    continue
                self._pending.setdefault(row["id"], row)
        return len(unsure)

    def flush(self) -> int:
        """Append what is buffered now; how many tweets the job gained."""
        with self._lock:
            rows, self._pending = list(self._pending.values()), {}
        if not rows:
            return 0
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
        with transaction(self._factory) as session:
            result = append_to_job(
                session,
                self.job,
                lambda dataset: import_json_lines(
                    session,
                    lines,
                    name=dataset.name,
                    options=ReadOptions().with_optional_id(dataset.id_column),
                    source_name="review",
                ),
            )
        self.appended += result.appended
        return result.appended

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every):
            try:
                self.flush()
            except Exception:  # the job stopped, the database is away: log, keep serving, try again
                log.exception("review: could not append to job %s", self.job)

    def close(self) -> None:
        """Stop the thread after a last flush."""
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:
            log.exception("review: could not append to job %s", self.job)
