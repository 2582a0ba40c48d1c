"""People and credentials: admins with API keys, annotators invited by link, browser sessions, teams.

Secrets (API keys, invite tokens, session tokens) are random and shown once; only their SHA-256 is stored,
so a copy of the database does not let anyone sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, make_transient_to_detached

from groundswell.domain import WorkerKind
from groundswell.errors import ConflictError, InvalidInputError, NotFoundError
from groundswell.store.driver import Driver, Sql
from groundswell.store.tables import ApiKey, Invite, Job, JobTeam, Team, TeamMember, WebSession, Worker, utcnow

__all__ = [
    "ADMIN_ROLE",
    "API_KEY_ROLES",
    "READ_ONLY_ROLE",
    "KeyHolder",
    "SignedIn",
    "api_key_holder",
    "api_key_prefix",
    "create_admin",
    "create_invite",
    "create_web_session",
    "end_web_session",
    "ensure_team",
    "may_work_on",
    "redeem_invite",
    "worker_for_api_key",
    "worker_for_session",
]

API_KEY_PREFIX = "gs_"
#: What an API key may do: everything an admin may, or read (GET) only.
ADMIN_ROLE = "admin"
READ_ONLY_ROLE = "read-only"
API_KEY_ROLES = (ADMIN_ROLE, READ_ONLY_ROLE)
#: How much of a key is stored in the clear (``api_keys.prefix``) to tell keys apart; sign-in failures are
#: also counted per prefix of this length (:mod:`groundswell.jobs.throttle`).
API_KEY_SHOWN = 8


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def session_token_digest(token: str) -> str:
    """How a browser session's token is stored (``web_sessions.token_hash``)."""
    return _digest(token)


def _check_email(email: str) -> str:
    email = email.strip()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise InvalidInputError(f"{email!r} is not an email address")
    return email.lower()


@dataclass(frozen=True)
class SignedIn:
    #: Detached from the session (read below the ORM, on every request): use it for its fields and id.
    worker: Worker
    csrf_token: str


def create_admin(
    session: Session, email: str, name: str | None = None, *, role: str = ADMIN_ROLE
) -> tuple[Worker, str]:
    """An admin (created, or promoted if the email exists) and a new API key for them, shown once.

    ``role`` :data:`READ_ONLY_ROLE` makes a key that reads what an admin reads and changes nothing: for
    dashboards and scripts, so a leaked one cannot start, stop or relabel anything.
    """
    if role not in API_KEY_ROLES:
        raise InvalidInputError(f"an API key's role is one of {', '.join(API_KEY_ROLES)}, got {role!r}")
    email = _check_email(email)
    worker = session.scalars(select(Worker).where(Worker.email == email)).one_or_none()
    if worker is None:
        worker = Worker(email=email, display_name=name or email.split("@")[0], kind=WorkerKind.ADMIN)
        session.add(worker)
    else:
        worker.kind = WorkerKind.ADMIN
    session.flush()
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(worker_id=worker.id, key_hash=_digest(key), prefix=api_key_prefix(key), role=role))
    return worker, key


def api_key_prefix(key: str) -> str:
    return key[:API_KEY_SHOWN]


@dataclass(frozen=True)
class KeyHolder:
    """Who an API key signs in, and what the key lets them do."""

    worker: Worker
    role: str

    @property
    def read_only(self) -> bool:
        return self.role == READ_ONLY_ROLE


def api_key_holder(session: Session, key: str) -> KeyHolder | None:
    """The active worker behind an unrevoked ``key``, with the key's role; ``None`` for anything else."""
    api_key = session.scalars(select(ApiKey).where(ApiKey.key_hash == _digest(key))).one_or_none()
    if api_key is None or api_key.revoked_at is not None:
        return None
    worker = session.get(Worker, api_key.worker_id)
    return KeyHolder(worker, api_key.role) if worker is not None and worker.is_active else None


def worker_for_api_key(session: Session, key: str) -> Worker | None:
    holder = api_key_holder(session, key)
    return None if holder is None else holder.worker


def ensure_team(session: Session, name: str) -> Team:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError("a team name must be 1–200 characters")
    team = session.scalars(select(Team).where(Team.name == name)).one_or_none()
    if team is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
    return team


def create_invite(
    session: Session, email: str, *, team: str | None, valid_for: timedelta, name: str | None = None
) -> tuple[Worker, str]:
    """An annotator (created if new) on ``team``, and a one-time invite token for them, shown once."""
    email = _check_email(email)
    worker = session.scalars(select(Worker).where(Worker.email == email)).one_or_none()
    if worker is None:
        worker = Worker(email=email, display_name=name or email.split("@")[0], kind=WorkerKind.HUMAN)
        session.add(worker)
        session.flush()
    team_row = ensure_team(session, team) if team else None
    if team_row is not None:
        member = session.get(TeamMember, (team_row.id, worker.id))
        if member is None:
            session.add(TeamMember(team_id=team_row.id, worker_id=worker.id))
    token = secrets.token_urlsafe(32)
    session.add(
        Invite(
            token_hash=_digest(token),
            worker_id=worker.id,
            team_id=team_row.id if team_row else None,
            expires_at=utcnow() + valid_for,
        )
    )
    session.flush()
    return worker, token


def redeem_invite(session: Session, token: str, *, session_ttl: timedelta) -> tuple[Worker, str]:
    """Spend an invite token (once) and open a browser session; returns the session token."""
    invite = session.scalars(select(Invite).where(Invite.token_hash == _digest(token)).with_for_update()).one_or_none()
    if invite is None:
        raise NotFoundError("this invite link is not valid")
    if invite.used_at is not None:
        raise ConflictError("this invite link was already used; ask for a new one")
    if invite.expires_at <= utcnow():
        raise ConflictError("this invite link has expired; ask for a new one")
    invite.used_at = utcnow()
    worker = session.get(Worker, invite.worker_id)
    assert worker is not None
    return worker, create_web_session(session, worker, ttl=session_ttl)


def create_web_session(session: Session, worker: Worker, *, ttl: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_digest(token),
            worker_id=worker.id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=utcnow() + ttl,
        )
    )
    session.flush()
    return token


#: Every annotator request signs in with this, so it runs on the driver connection (see store.driver).
_SIGNED_IN = Sql("""
    SELECT w.id, w.email, w.display_name, w.kind, w.is_active, w.created_at, s.csrf_token, s.expires_at
    FROM web_sessions s JOIN workers w ON w.id = s.worker_id
    WHERE s.token_hash = :token_hash
""")


def worker_for_session(session: Session, token: str, *, now: datetime | None = None) -> SignedIn | None:
    db = Driver(session)
    row = db.one(_SIGNED_IN, {"token_hash": _digest(token)})
    if row is None:
        return None
    worker_id, email, name, kind, is_active, created_at, csrf_token, expires_at = row
    expires = db.read_time(expires_at)
    if expires is None or expires <= (now or utcnow()) or not is_active:
        return None
    worker = Worker(
        id=worker_id,
        email=email,
        display_name=name,
        kind=WorkerKind(kind),
        is_active=bool(is_active),
        created_at=db.read_time(created_at),
    )
    make_transient_to_detached(worker)  # as if loaded and detached: never inserted, mergeable if ever needed
    return SignedIn(worker=worker, csrf_token=csrf_token)


def end_web_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def may_work_on(session: Session, worker: Worker, job: Job) -> bool:
    """Admins may work on any job; annotators on jobs open to all, or to one of their teams."""
    if worker.kind is WorkerKind.ADMIN:
        return True
    teams = select(JobTeam.team_id).where(JobTeam.job_id == job.id)
    if session.scalar(teams.limit(1)) is None:
        return True
    mine = select(TeamMember.team_id).where(TeamMember.worker_id == worker.id, TeamMember.team_id.in_(teams))
    return session.scalar(mine.limit(1)) is not None
