"""The filters of /admin/notifications, read from the query string.

`status`, `notifier`, `address`, `from` and `to`, each optional (an empty value is
the same as none). The statuses are the outbox's (`outbox.STATUSES`) and the
notifiers the table's (`NOTIFIERS`), so one added there is offered here by itself.
A bad value is never dropped quietly: `parse` reports it, in words, with what was
typed kept for the form, and no query is made.

Every condition is a bound parameter on a plain column, so an index on it can serve
it; the address is a case-insensitive substring whose LIKE wildcards (`%`, `_`) and
escape character are escaped, so they match themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement

from app.models import Notification
from app.notifications import outbox
from app.notifications.notifiers import NOTIFIERS

ANY = "all"  # the status value for "any status" (kept from the page's first URLs)
DEFAULT_STATUS = outbox.FAILED  # with no filter at all: what an admin comes here for
FIELDS = ("status", "notifier", "address", "from", "to")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LIKE_ESCAPE = "\\"


def statuses() -> tuple[str, ...]:
    """The statuses an admin can pick: failed first, then the outbox's others."""
    return (DEFAULT_STATUS, *(s for s in outbox.STATUSES if s != DEFAULT_STATUS))


def notifier_label(name: str) -> str:
    """`loan_overdue_lender` -> "Loan overdue lender"."""
    return name.replace("_", " ").strip().capitalize() or name


def notifier_choices() -> list[tuple[str, str]]:
    """(name, label) for every notifier, by label."""
    return sorted(((name, notifier_label(name)) for name in NOTIFIERS), key=lambda c: c[1])


def escape_like(text: str) -> str:
    """`text` as a LIKE pattern that matches exactly it (with ESCAPE LIKE_ESCAPE)."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


@dataclass(frozen=True)
class Filters:
    """Valid filters. `status` is a status or ANY; the others None when not given."""

    status: str = DEFAULT_STATUS
    notifier: str | None = None
    address: str | None = None
    since: date | None = None  # `from`, inclusive
    until: date | None = None  # `to`, inclusive (the whole day)

    @property
    def narrowed(self) -> bool:
        """Filtered by more than the status."""
        return any(v is not None for v in (self.notifier, self.address, self.since, self.until))

    def conditions(self, *, with_status: bool = True) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if with_status and self.status != ANY:
            found.append(Notification.status == self.status)
        if self.notifier is not None:
            found.append(Notification.notifier == self.notifier)
        if self.address is not None:
            pattern = f"%{escape_like(self.address)}%"
            found.append(Notification.recipient_email.ilike(pattern, escape=LIKE_ESCAPE))
        if self.since is not None:
            found.append(Notification.created_at >= datetime.combine(self.since, time.min))
        if self.until is not None:
            end = datetime.combine(self.until + timedelta(days=1), time.min)
            found.append(Notification.created_at < end)
        return found

    def params(self, **override) -> dict[str, str]:
        """The query string of these filters (only those given), for links."""
        values = {
            "status": self.status,
            "notifier": self.notifier,
            "address": self.address,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
        }
        values.update(override)
        return {k: str(v) for k, v in values.items() if v is not None}

    def describe(self) -> str:
        """The filters besides the status, in words: for the table's caption."""
        parts = []
        if self.notifier is not None:
            parts.append(f"“{notifier_label(self.notifier)}” mail")
        if self.address is not None:
            parts.append(f"to addresses containing “{self.address}”")
        if self.since and self.until:
            parts.append(f"created {self.since} to {self.until}")
        elif self.since:
            parts.append(f"created on or after {self.since}")
        elif self.until:
            parts.append(f"created on or before {self.until}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Parsed:
    filters: Filters | None  # None when any value is bad
    typed: dict[str, str]  # what the query string held, for the form
    errors: dict[str, str] = field(default_factory=dict)  # field -> message
    malformed: frozenset[str] = frozenset()  # dates not written as dates


def _is_day(value: str) -> bool:
    if not _DAY.fullmatch(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _day(value: str, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    if _is_day(value):
        return datetime.strptime(value, "%Y-%m-%d").date()
    errors[name] = f"“{value}” is not a date: write it as YYYY-MM-DD, e.g. 2024-05-31."
    return None


def parse(args: Mapping[str, str]) -> Parsed:
    """The filters of a query string, or the reasons they are not valid.

    With no filter at all the status is DEFAULT_STATUS (failed), as the page always
    was; a link that narrows by anything else without naming a status means any."""
    typed = {name: (args.get(name) or "").strip() for name in FIELDS}
    errors: dict[str, str] = {}

    status = typed["status"]
    if status and status != ANY and status not in outbox.STATUSES:
        errors["status"] = f"There is no status “{status}”: pick one from the list."
    notifier = typed["notifier"] or None
    if notifier is not None and notifier not in NOTIFIERS:
        errors["notifier"] = f"There is no notifier “{notifier}”: pick one from the list."
    address = typed["address"] or None
    if address is not None and _CONTROL.search(address):
        errors["address"] = "An address has no control characters (tabs, line breaks…)."
    since = _day(typed["from"], "from", errors)
    until = _day(typed["to"], "to", errors)
    if since and until and since > until:
        errors["to"] = f"The “to” date ({until}) is before the “from” date ({since})."

    if errors:
        malformed = frozenset(n for n in ("from", "to") if typed[n] and not _is_day(typed[n]))
        return Parsed(None, typed, errors, malformed)
    narrowing = any(v is not None for v in (notifier, address, since, until))
    if not status:
        status = ANY if narrowing else DEFAULT_STATUS
    filters = Filters(status, notifier, address, since, until)
    typed["status"] = status
    return Parsed(filters, typed)
