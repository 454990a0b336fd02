"""Typed errors that services raise and the web layer turns into messages.

Each carries a stable `code`, a human `message` and the HTTP status that fits it,
so the JSON API and the HTML pages can answer without knowing the service.
"""

from __future__ import annotations


class MoochError(Exception):
    code = "error"
    status = 400
    retry_after: int | None = None  # seconds; sent as Retry-After when set

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body

    def headers(self) -> list[tuple[str, str]]:
        """HTTP headers the answer must carry, whatever its format."""
        return [("Retry-After", str(self.retry_after))] if self.retry_after else []


class InvalidInput(MoochError):
    """Bad input: a malformed email, an empty item, a due date in the past."""

    code = "invalid"
    status = 400


class NotAuthenticated(MoochError):
    code = "unauthenticated"
    status = 401


class Forbidden(MoochError):
    """Known, but not allowed: it is the other party's move, or the account may not."""

    code = "forbidden"
    status = 403


class NotFound(MoochError):
    """Does not exist, or is not yours: the same answer, so ids cannot be probed."""

    code = "not_found"
    status = 404


class NotAllowedInState(MoochError):
    """The event exists but not from the current state."""

    code = "invalid_state"
    status = 409


class Conflict(MoochError):
    """Someone else changed the same thing first."""

    code = "conflict"
    status = 409


class TooMany(MoochError):
    """Too many attempts, or too much mail, in too short a time: try again later."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, field: str | None = None, retry_after: int = 60) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Unavailable(MoochError):
    """Not now, through no fault of the request: the connection to the database was
    lost under it. Trying again in a few seconds should work."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
