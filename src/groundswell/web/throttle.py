"""Sign-in throttling on the web: who a failed attempt is counted against, when a caller must wait (429 with
``Retry-After``), and recording a failure once the request's own transaction has rolled back.

Only failures write (:mod:`groundswell.jobs.throttle`); a caller with a valid session never reaches this
module, and one with a valid API key costs one primary-key read before the key's hash is looked up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from groundswell.errors import GroundswellError
from groundswell.jobs.people import api_key_prefix
from groundswell.jobs.throttle import ADDRESS, KEY_PREFIX, Subject, prune_failures, record_failure, retry_after
from groundswell.settings import Settings
from groundswell.store.db import transaction
from groundswell.store.tables import utcnow

__all__ = ["Throttle", "TooManyAttemptsError", "client_address"]

_log = logging.getLogger("groundswell.web")


class TooManyAttemptsError(GroundswellError):
    """Too many failed sign-ins from this address or with this key prefix (HTTP 429 with ``Retry-After``)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed sign-in attempts; try again in {retry_after} s")


def client_address(request: Request) -> str:
    """The peer as uvicorn reports it: behind a proxy it trusts (``FORWARDED_ALLOW_IPS``, default 127.0.0.1),
    the address in ``X-Forwarded-For``, so one proxy does not make every client one address."""
    return request.client.host if request.client else "unknown"


class Throttle:
    """The limits of one app, and the clock they are measured by (a test replaces ``clock`` to move time)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.per_address = settings.auth_failures_per_address
        self.per_key_prefix = settings.auth_failures_per_key_prefix
        self.window = timedelta(seconds=settings.auth_failure_window_s)
        self.clock = clock
        self._pruned_at: datetime | None = None

    def subjects(self, address: str, key: str | None = None) -> tuple[Subject, ...]:
        """What an attempt from ``address`` (with API key ``key``) is counted against, the address first: every
        failure locks its rows in this order, so two concurrent failures never wait on each other in a cycle."""
        by_address = Subject.of(ADDRESS, address, self.per_address)
        if key is None:
            return (by_address,)
        return by_address, Subject.of(KEY_PREFIX, api_key_prefix(key), self.per_key_prefix)

    def check(self, session: Session, subjects: Sequence[Subject]) -> None:
        """Refuse the attempt, before any secret is looked up, while a subject is over its limit."""
        wait = retry_after(session, subjects, now=self.clock(), window=self.window)
        if wait is not None:
            raise TooManyAttemptsError(wait)

    def failed(self, store: sessionmaker[Session], subjects: Sequence[Subject]) -> None:
        """Count a failed attempt, in its own transaction (the request's has rolled back), and now and then
        forget ended windows. A store that cannot count it is logged, not answered: the caller still gets the
        refusal their credentials earned, not a 500."""
        now = self.clock()
        try:
            with transaction(store) as session:
                record_failure(session, subjects, now=now, window=self.window)
            if self._pruned_at is None or now - self._pruned_at >= self.window:
                # Apart from the upsert: a delete waiting on rows another failure holds must not hold rows itself.
                with transaction(store) as session:
                    prune_failures(session, before=now - self.window)
                self._pruned_at = now
        except SQLAlchemyError:
            _log.warning("could not count a failed sign-in attempt", exc_info=True)
