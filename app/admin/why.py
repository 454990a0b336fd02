"""Why a notification was, or was not, sent: one line per row of /admin/notifications.

Read from the row alone (status, attempts, not_before, last_error, sent_at), in
words for an admin. A pending row leased to a worker and one waiting for its next
attempt after a temporary failure both have a `not_before` in the future; a row with
no error yet can only be leased, one with an error is said to be either (see
app/notifications/retry.py: they cannot be told apart for sure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.models import Notification
from app.notifications import outbox
from app.notifications.failures import explain


@dataclass(frozen=True)
class Why:
    text: str  # the plain words
    detail: str | None = None  # the raw error, as recorded, for the admin


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def is_stuck(row: Notification, now: datetime, grace: timedelta) -> bool:
    """Pending, due, and its job should have run by now: worth enqueuing again."""
    if row.status != outbox.PENDING:
        return False
    if row.not_before is not None:
        return row.not_before <= now
    return row.created_at <= now - grace


def why(row: Notification, now: datetime, grace: timedelta) -> Why:
    status, n = row.status, row.attempts or 0
    if status == outbox.SENT:
        when = f" at {at(row.sent_at)}" if row.sent_at else ""
        sent = f"Sent{when}, after {attempts(n)}."
        if row.digest_day:
            sent = f"The daily digest of {row.digest_day.isoformat()}. {sent}"
        return Why(sent)
    if status == outbox.HELD:
        return _held(row)
    if status == outbox.FAILED:
        failure = explain(row.last_error, row.recipient_email)
        said = f" (the server said: {failure.server_said})" if failure.server_said else ""
        return Why(f"Failed after {attempts(n)}: {failure.reason}{said}.", row.last_error)
    if status == outbox.SKIPPED:
        reason = row.last_error or "no reason was recorded"
        return Why(f"Not sent, decided against when it was made: {reason}")
    if status == outbox.PENDING:
        return _pending(row, n, now, grace)
    # A status added later: say it, with whatever reason the row holds.
    reason = f": {row.last_error}" if row.last_error else "."
    return Why(f"{status.capitalize()}{reason}")


def _held(row: Notification) -> Why:
    """A row its reader chose to get in their daily digest (app/notifications/digest.py)."""
    whose = f"{row.recipient.name}’s" if row.recipient is not None else "the recipient’s"
    carrier = row.digest
    if carrier is None:
        return Why(
            f"Not sent on its own: held for {whose} daily digest (their choice for this "
            "mail); it goes in their next one."
        )
    day = carrier.digest_day.isoformat() if carrier.digest_day else "an unknown day"
    digest = f"{whose} daily digest of {day} (notification {carrier.id})"
    if carrier.status == outbox.SENT:
        when = f" at {at(carrier.sent_at)}" if carrier.sent_at else ""
        return Why(f"Emailed in {digest}{when}.")
    if carrier.status == outbox.PENDING:
        return Why(f"In {digest}, which is not sent yet.")
    return Why(f"In {digest}, which was not sent: {carrier.status}.", carrier.last_error)


def _pending(row: Notification, n: int, now: datetime, grace: timedelta) -> Why:
    error = row.last_error
    failed_before = ""
    if error:
        failed_before = f" The last attempt failed: {explain(error, row.recipient_email).reason}."
    if row.not_before is not None and row.not_before > now:
        until = at(row.not_before)
        if not error:
            return Why(f"Being sent: leased to a worker until {until} (attempt {n}).")
        return Why(
            f"Retrying at {until}, after {attempts(n)} (or a worker is sending it and "
            f"holds it until then).{failed_before}",
            error,
        )
    if row.not_before is not None:
        return Why(
            f"Due since {at(row.not_before)}, after {attempts(n)}, and no worker has taken "
            f"it: its job may be lost; enqueue it again.{failed_before}",
            error,
        )
    after = f" after {attempts(n)}" if n else ""
    if is_stuck(row, now, grace):
        return Why(
            f"Queued{after} since {at(row.created_at)}, longer than a job should wait: "
            f"its job may be lost; enqueue it again.{failed_before}",
            error,
        )
    return Why(f"Queued{after}, waiting for a worker.{failed_before}", error)
