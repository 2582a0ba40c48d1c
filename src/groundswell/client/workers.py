"""``gs.workers``: invite annotators (the one-time link ``groundswell worker invite`` prints), list people and
teams, deactivate someone."""

from __future__ import annotations

import builtins

from groundswell.client._http import Http
from groundswell.client.models import Team, Worker, from_api

__all__ = ["Workers"]


class Workers:
    """The ``/api/v1/workers`` and ``/api/v1/teams`` operations (an admin API key)."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def invite(self, email: str, *, team: str | None = None, name: str | None = None) -> str:
        """A one-time sign-in link for ``email`` (the annotator is created if new, and added to ``team``,
        created if new). Send it to them: it is shown only once, and opening it signs them in.

        The link starts with the server's ``GROUNDSWELL_PUBLIC_URL``, the address annotators reach it at.
        """
        body = {"email": email, "team": team, "name": name}
        created = self._http.request("POST", "/workers/invites", json={k: v for k, v in body.items() if v is not None})
        return str(created["invite_url"])

    def list(self) -> list[Worker]:
        """Every person (annotators and admins) with their teams and whether they may still sign in."""
        return [from_api(Worker, row) for row in self._http.request("GET", "/workers")]

    def deactivate(self, worker_id: int) -> Worker:
        """Sign the worker out everywhere and refuse them from now on; their answers stay."""
        return from_api(Worker, self._http.request("POST", f"/workers/{int(worker_id)}/deactivate"))

    def teams(self) -> builtins.list[Team]:
        """Every team with its member count."""
        return [from_api(Team, row) for row in self._http.request("GET", "/teams")]
