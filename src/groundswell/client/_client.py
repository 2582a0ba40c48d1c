"""The SDK's entry point: :class:`Client` holds the connection and the resource namespaces."""

from __future__ import annotations

import os
from types import TracebackType

import httpx

from groundswell.client._http import Http
from groundswell.client.datasets import Datasets
from groundswell.client.jobs import Jobs
from groundswell.client.workers import Workers

__all__ = ["API_KEY_ENV", "Client"]

#: Where :class:`Client` finds the API key when none is given (what ``groundswell admin create`` printed).
API_KEY_ENV = "GROUNDSWELL_API_KEY"


class Client:
    """A Groundswell server's JSON API (``/api/v1``), as ``datasets``, ``jobs`` and ``workers``.

    Args:
        base_url: Where the server answers, e.g. ``http://127.0.0.1:8000`` (no ``/api/v1``).
        api_key: An admin API key (or a read-only one, which can only read); by default
            ``$GROUNDSWELL_API_KEY``.
        timeout: Seconds any one call may take (uploads have their own, longer limit).
        http_client: An :class:`httpx.Client` to send through (proxies, TLS settings, transports in tests);
            the caller keeps it and closes it. Without it, the client makes and owns one.

    Use it as a context manager, or call :meth:`close`, to release its connections.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._http = Http(base_url, key, timeout=timeout, client=http_client)
        self.datasets = Datasets(self._http)
        self.jobs = Jobs(self._http)
        self.workers = Workers(self._http)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def close(self) -> None:
        """Release the connections (not those of an ``http_client`` the caller gave)."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"
