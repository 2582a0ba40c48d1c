"""Sign-in and API-key throttling, in-process on both databases: guessers get 429 with Retry-After before any
secret is checked, everyone else is served, and the counts are shared by every app on the database."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from factories import make_dataset
from groundswell import jobs
from groundswell.settings import Settings
from groundswell.store.db import transaction
from groundswell.store.tables import AuthFailure, utcnow
from groundswell.web.app import create_app
from groundswell.web.throttle import Throttle

ATTACKER = "203.0.113.9"
OTHER = "198.51.100.7"


class Clock:
    """A clock the test moves by hand, so windows end without sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _app(client: TestClient) -> Any:
    return client.app


def _from(client: TestClient, address: str) -> TestClient:
    """Another browser or script, connecting from ``address``."""
    return TestClient(_app(client), client=(address, 40000))


@pytest.fixture
def clock(client: TestClient) -> Clock:
    clock = Clock()
    throttle: Throttle = _app(client).state.throttle
    throttle.clock = clock
    return clock


@pytest.fixture
def admin_key(client: TestClient) -> str:
    with transaction(_app(client).state.factory) as session:
        _, key = jobs.create_admin(session, "boss@example.org")
    return key


def _invite(client: TestClient, email: str) -> str:
    with transaction(_app(client).state.factory) as session:
        _, token = jobs.create_invite(session, email, team=None, valid_for=timedelta(days=1))
    return token


def _guess() -> str:
    """A well-formed key no one has; each has its own prefix, so only the address limit applies."""
    return "gs_" + secrets.token_urlsafe(32)


def _jobs(caller: TestClient, key: str) -> Any:
    return caller.get("/api/v1/jobs", headers={"Authorization": f"Bearer {key}"})


def _assert_throttled(response: Any, *, retry_after: int | None = None) -> None:
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 60 if retry_after is None else wait == retry_after
    if response.headers["content-type"].startswith("application/json"):
        body = response.json()
        assert body["ok"] is False and body["status"] == 429 and "too many failed sign-in" in body["error"]
    else:
        assert "too many failed sign-in attempts" in response.text


def test_api_key_guessing_is_throttled_per_address_before_the_key_is_checked(
    client: TestClient, admin_key: str
) -> None:
    attacker, other = _from(client, ATTACKER), _from(client, OTHER)
    for _ in range(10):
        assert _jobs(attacker, _guess()).status_code == 401
    _assert_throttled(_jobs(attacker, _guess()))
    # Refused before the key is looked up: even the right key is not tried from this address now.
    _assert_throttled(_jobs(attacker, admin_key))
    _assert_throttled(attacker.post("/api/v1/jobs/x/tasks/next", json={}, headers={"Authorization": "Bearer x"}))
    assert _jobs(other, admin_key).status_code == 200  # the right key from elsewhere works
    assert _jobs(other, _guess()).status_code == 401  # and elsewhere a wrong one is still only wrong
    assert _jobs(attacker, "").status_code == 401  # no key at all is no attempt: told to sign in
    with transaction(_app(client).state.factory) as session:
        counted = dict(session.execute(select(AuthFailure.subject, AuthFailure.failures)).all())
    assert counted[ATTACKER] == 10 and counted[OTHER] == 1  # refused attempts and successes are not counted


def test_guessing_one_key_prefix_is_throttled_from_any_address(client: TestClient, admin_key: str) -> None:
    target = "gs_Zz9-q"  # one prefix (the first 8 characters), many addresses
    for i in range(5):
        response = _jobs(_from(client, f"192.0.2.{i}"), target + "-" + secrets.token_urlsafe(32))
        assert response.status_code == 401
    _assert_throttled(_jobs(_from(client, "192.0.2.200"), target + "-" + secrets.token_urlsafe(32)))
    assert _jobs(_from(client, "192.0.2.200"), _guess()).status_code == 401  # other prefixes: not throttled
    assert _jobs(_from(client, "192.0.2.0"), admin_key).status_code == 200


def test_the_window_ending_lets_attempts_through_again(client: TestClient, admin_key: str, clock: Clock) -> None:
    attacker = _from(client, ATTACKER)
    for _ in range(10):
        assert _jobs(attacker, _guess()).status_code == 401
    _assert_throttled(_jobs(attacker, admin_key), retry_after=60)
    clock.advance(45)
    _assert_throttled(_jobs(attacker, admin_key), retry_after=15)
    clock.advance(15)
    assert _jobs(attacker, admin_key).status_code == 200
    assert _jobs(attacker, _guess()).status_code == 401  # a new window: the count starts again
    with transaction(_app(client).state.factory) as session:
        row = session.get(AuthFailure, ("address", ATTACKER))
        assert row is not None and row.failures == 1 and row.window_start == clock.now


def test_ended_windows_are_pruned(client: TestClient, clock: Clock) -> None:
    for i in range(3):
        assert _jobs(_from(client, f"192.0.2.{i}"), _guess()).status_code == 401
    factory = _app(client).state.factory
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(AuthFailure)) == 6  # 3 addresses, 3 prefixes
    clock.advance(61)
    assert _jobs(_from(client, ATTACKER), _guess()).status_code == 401
    with transaction(factory) as session:
        left = session.execute(select(AuthFailure.scope, AuthFailure.subject)).all()
    assert len(left) == 2 and ("address", ATTACKER) in left  # the new failure's address and prefix only


def test_invite_link_guessing_is_throttled_and_sessions_are_not(
    client: TestClient, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    attacker, other = _from(client, ATTACKER), _from(client, OTHER)
    make_dataset(_app(client).state.factory, "tweets", count=3)
    job = {"name": "crowd", "dataset": "tweets", "labels": ["positive", "negative"]}
    admin = {"Authorization": f"Bearer {admin_key}"}
    assert other.post("/api/v1/jobs", json=job, headers=admin).status_code == 201
    assert other.post("/api/v1/jobs/crowd/start", headers=admin).status_code == 200
    signed_in = _from(client, ATTACKER)  # an annotator behind the same address, signed in before the attack
    assert signed_in.post(f"/invite/{_invite(client, 'ana@example.org')}", follow_redirects=False).status_code == 303
    for _ in range(10):
        assert attacker.post(f"/invite/{secrets.token_urlsafe(32)}", follow_redirects=False).status_code == 404
    _assert_throttled(attacker.post(f"/invite/{secrets.token_urlsafe(32)}", follow_redirects=False))
    real = _invite(client, "ben@example.org")
    _assert_throttled(attacker.post(f"/invite/{real}", follow_redirects=False))  # not even looked up
    assert other.post(f"/invite/{real}", follow_redirects=False).status_code == 303
    assert other.post(f"/invite/{real}", follow_redirects=False).status_code == 409  # used: no guess, not counted
    _assert_throttled(_jobs(attacker, admin_key))  # one count per address, whatever was guessed

    # A valid session is never throttled, from the throttled address too: the annotator keeps working, and
    # their requests do not even read the counts.
    def consulted(*_: object) -> None:
        raise AssertionError("a request with a valid session read the sign-in counts")

    monkeypatch.setattr(_app(client).state.throttle, "check", consulted)
    assert signed_in.get("/api/v1/me").status_code == 200
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', signed_in.get("/annotate/crowd").text)
    assert csrf
    headers = {"X-CSRF-Token": csrf.group(1)}
    task = signed_in.post("/api/v1/jobs/crowd/tasks/next", json={}, headers=headers).json()["task"]
    answer = {"label": "positive", "idempotency_key": "a1", "next": {"exclude": []}}
    submitted = signed_in.post(f"/api/v1/tasks/{task['lease_id']}/submit", json=answer, headers=headers)
    assert submitted.status_code == 200 and submitted.json()["next"] is not None


def test_admin_login_guessing_is_throttled(client: TestClient, admin_key: str) -> None:
    attacker, other = _from(client, ATTACKER), _from(client, OTHER)
    for _ in range(10):
        response = attacker.post("/admin/login", data={"api_key": _guess()}, follow_redirects=False)
        assert response.status_code == 401 and "not an admin API key" in response.text
    _assert_throttled(attacker.post("/admin/login", data={"api_key": admin_key}, follow_redirects=False))
    response = other.post("/admin/login", data={"api_key": admin_key}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin"
    # A wrong key on the annotator's home page counts like one on the API.
    assert _from(client, OTHER).get("/annotate", headers={"Authorization": "Bearer nope"}).status_code == 401
    with transaction(_app(client).state.factory) as session:
        assert session.get(AuthFailure, ("address", OTHER)) is not None


@pytest.fixture
def second_app(store_url: str, tmp_path: Path) -> Iterator[Any]:
    """Another server process's app: its own engine and pool on the same database."""
    with TestClient(create_app(Settings(database_url=store_url, data_dir=tmp_path), migrate=False)) as other:
        yield other.app


def test_every_app_on_the_database_shares_the_counts(client: TestClient, second_app: Any, admin_key: str) -> None:
    first, second = _from(client, ATTACKER), TestClient(second_app, client=(ATTACKER, 40001))
    for i in range(10):
        assert _jobs(first if i % 2 else second, _guess()).status_code == 401
    _assert_throttled(_jobs(first, _guess()))
    _assert_throttled(_jobs(second, admin_key))
    assert _jobs(TestClient(second_app, client=(OTHER, 40002)), admin_key).status_code == 200


def test_limits_come_from_the_settings(store_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=store_url,
        data_dir=tmp_path,
        auth_failures_per_address=2,
        auth_failures_per_key_prefix=0,
        auth_failure_window_s=5,
    )
    with TestClient(create_app(settings), client=(ATTACKER, 40000)) as caller:
        same_prefix = "gs_same-"
        for _ in range(2):
            assert _jobs(caller, same_prefix + secrets.token_urlsafe(8)).status_code == 401
        response = _jobs(caller, same_prefix)
        assert response.status_code == 429 and 1 <= int(response.headers["retry-after"]) <= 5
        # The prefix limit is off: the same prefix from another address is only wrong.
        assert _jobs(TestClient(caller.app, client=(OTHER, 1)), same_prefix + "x").status_code == 401
