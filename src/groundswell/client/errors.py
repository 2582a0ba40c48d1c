"""What the SDK raises when the server says no.

Every non-2xx answer becomes one :class:`GroundswellAPIError` carrying the server's own message: the API
answers every failure with one body, ``{"ok": false, "error", "errors", "status"}``, so a caller reads the
same sentence the CLI or ``curl`` would show instead of a bare status code. Subclasses for the statuses a
script branches on (404, 409, 422, ...) let it ``except NotFoundError`` without comparing numbers; catching
the base class still catches them all.

Connection failures (refused, reset, timed out) are not API errors: nothing was answered. They surface as
httpx's own exceptions (:class:`httpx.TransportError` and its subclasses), which name what failed.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "GroundswellAPIError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "ServiceUnavailableError",
]


class GroundswellAPIError(Exception):
    """The server answered with an error status.

    Attributes:
        status: The HTTP status (400-599).
        message: The server's one-sentence explanation (``error`` in the body).
        errors: Every problem the server found; for a refused upload, one ``file:line [field]: problem`` each.
        request_id: The ``X-Request-Id`` the server logged the failure under (quote it in a bug report).
        retry_after: Seconds to wait before sending again, when the server said (429, 503).
    """

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[str] | None = None,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.errors = list(errors) if errors else [message]
        self.request_id = request_id
        self.retry_after = retry_after


class InvalidRequestError(GroundswellAPIError):
    """400, 415 or 422: the request broke the schema or a rule; ``errors`` lists every problem."""


class AuthenticationError(GroundswellAPIError):
    """401: no API key, or one the server does not know (or whose worker was deactivated)."""


class PermissionDeniedError(GroundswellAPIError):
    """403: the key is valid but not allowed (a read-only key on a change, an annotator on an admin route)."""


class NotFoundError(GroundswellAPIError):
    """404: no such job, dataset, worker or answer."""


class ConflictError(GroundswellAPIError):
    """409: not now: the job's state forbids it, or the name is taken."""


class RateLimitedError(GroundswellAPIError):
    """429: too many failed sign-ins from this address or key prefix; wait ``retry_after`` seconds."""


class ServiceUnavailableError(GroundswellAPIError):
    """503: the database cannot take the request just now; nothing was stored and sending it again is safe."""


class ServerError(GroundswellAPIError):
    """Another 5xx: the server failed; ``request_id`` finds the traceback in its log."""


_BY_STATUS: dict[int, type[GroundswellAPIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
}


def error_class(status: int) -> type[GroundswellAPIError]:
    """The exception class for an error status (the base class for one without its own)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else GroundswellAPIError
