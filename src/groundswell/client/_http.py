"""The one place the SDK talks HTTP: URLs under ``/api/v1``, the API key, error bodies into exceptions, and
cursor paging. The resource modules call :class:`Http` and never see httpx's responses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from groundswell.client.errors import error_class

__all__ = ["PAGE_SIZE", "USER_AGENT", "Http", "raise_for_error", "segment"]

USER_AGENT = "groundswell-client/0.1"
#: The most rows the API hands out per page (``limit`` ≤ 1000): fewest round trips when reading everything.
PAGE_SIZE = 1000


class Http:
    """A base URL, an API key and an :class:`httpx.Client` (owned, so closed with this, or the caller's)."""

    def __init__(
        self, base_url: str, api_key: str | None, *, timeout: float, client: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._owned = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        """Close the connection pool, unless the caller gave it (they close their own)."""
        if self._owned:
            self._client.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        data: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """The decoded JSON body of a 2xx answer (``None`` for 204); a :class:`GroundswellAPIError` otherwise."""
        response = self._client.request(
            method,
            self.url(path),
            json=json,
            params=_query(params),
            files=files,
            data=data,
            headers=self._headers,
            timeout=self.timeout if timeout is None else timeout,
        )
        raise_for_error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @contextlib.contextmanager
    def stream(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (exports): checked for errors before it is handed out."""
        with self._client.stream(
            "GET", self.url(path), params=_query(params), headers=self._headers, timeout=self.timeout
        ) as response:
            if response.is_error:
                response.read()
                raise_for_error(response)
            yield response

    def pages(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a paged list, following ``next_cursor`` until the server says there is no next page."""
        cursor: str | None = None
        while True:
            page = self.request("GET", path, params={**(params or {}), "limit": PAGE_SIZE, "cursor": cursor})
            yield from page[key]
            cursor = page["next_cursor"]
            if cursor is None:
                return


def _query(params: Mapping[str, Any] | None) -> dict[str, str | int | float] | None:
    """Query parameters without the ``None`` ones (left out means "no filter"), booleans as the API spells them."""
    if params is None:
        return None
    out: dict[str, str | int | float] = {}
    for name, value in params.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def raise_for_error(response: httpx.Response) -> None:
    """Raise the API's error for a non-2xx response, with the message from its body.

    A body that is not the API's shape (a proxy's HTML page, an empty 502) still raises, with the start of
    the text, so the caller sees what answered instead.
    """
    if response.is_success:
        return
    status = response.status_code
    message, errors = f"HTTP {status} {response.reason_phrase}", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
        listed = body.get("errors")
        errors = [str(e) for e in listed] if isinstance(listed, list) else None
    elif response.text.strip():
        message = f"{message}: {response.text.strip()[:300]}"
    retry_after = response.headers.get("retry-after")
    raise error_class(status)(
        status,
        message,
        errors,
        request_id=response.headers.get("x-request-id"),
        retry_after=float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None,
    )


def segment(name: str) -> str:
    """``name`` as one URL path segment (a dataset's name may hold characters a URL escapes)."""
    return quote(name, safe="")
