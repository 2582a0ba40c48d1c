"""The people who label: listed with their teams, deactivated, and teams listed.

What ``groundswell worker invite`` creates (:func:`groundswell.jobs.people.create_invite`), the API also lets an
admin see and end. Deactivating keeps the worker's answers (they are the job's record) but signs them out
everywhere: sessions and API keys are refused once ``is_active`` is false.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from groundswell.domain import WorkerKind
from groundswell.errors import ConflictError, NotFoundError
from groundswell.store.tables import Team, TeamMember, Worker

__all__ = ["TeamRow", "WorkerRow", "deactivate_worker", "list_teams", "list_workers"]

#: The kinds a person is: simulated annotators and model voters are the system's, not people to manage.
_PEOPLE = (WorkerKind.HUMAN, WorkerKind.ADMIN)


@dataclass(frozen=True)
class WorkerRow:
    worker: Worker
    teams: list[str]


@dataclass(frozen=True)
class TeamRow:
    name: str
    members: int
    created_at: datetime


def _teams_of(session: Session, worker_ids: list[int]) -> dict[int, list[str]]:
    teams: dict[int, list[str]] = defaultdict(list)
    if worker_ids:
        query = (
            select(TeamMember.worker_id, Team.name)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.worker_id.in_(worker_ids))
            .order_by(Team.name)
        )
        for worker_id, team in session.execute(query):
            teams[worker_id].append(team)
    return teams


def list_workers(session: Session) -> list[WorkerRow]:
    """Every person (annotators and admins), oldest first, with their teams."""
    workers = list(session.scalars(select(Worker).where(Worker.kind.in_(_PEOPLE)).order_by(Worker.id)))
    teams = _teams_of(session, [w.id for w in workers])
    return [WorkerRow(w, teams.get(w.id, [])) for w in workers]


def deactivate_worker(session: Session, worker_id: int, *, by: Worker) -> WorkerRow:
    """Sign ``worker_id`` out everywhere and keep them out; an admin cannot lock themselves out this way."""
    worker = session.get(Worker, worker_id)
    if worker is None or worker.kind not in _PEOPLE:
        raise NotFoundError(f"no worker {worker_id}")
    if worker.id == by.id:
        raise ConflictError("you cannot deactivate yourself; ask another admin")
    worker.is_active = False
    session.flush()
    return WorkerRow(worker, _teams_of(session, [worker.id]).get(worker.id, []))


def list_teams(session: Session) -> list[TeamRow]:
    """Every team with its member count, by name."""
    query = (
        select(Team.name, func.count(TeamMember.worker_id), Team.created_at)
        .outerjoin(TeamMember, TeamMember.team_id == Team.id)
        .group_by(Team.id)
        .order_by(Team.name)
    )
    return [TeamRow(name, int(members), created) for name, members, created in session.execute(query)]
