"""Delivering one notification: read the row and build its message, claim the row
(committed at once), send, then record.

No database transaction is open while SMTP is being talked to. The claim is a
conditional UPDATE, so of several workers holding jobs for the same row exactly one
sends it; a row already `sent` or `failed` is never sent again. The claim is a lease
(`not_before`): if the worker dies mid-send, the relay enqueues the row once the
lease has run out, and the resend carries the same Message-ID.
"""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from app import metrics
from app.extensions import db
from app.models import AuditEvent, Loan, Notification, utcnow
from app.notifications import outbox, reading, suppression
from app.notifications.compose import compose
from app.notifications.mailer import SendAborted, mailer_for
from app.notifications.notifiers import DIGEST
from app.notifications.pace import pace_for
from app.transaction import autocommit

log = logging.getLogger(__name__)


# A digest's read (_read): the row and every row its mail mentions in one query.
EVERYTHING_MAIL_SHOWS = (
    joinedload(Notification.recipient),
    joinedload(Notification.loan).joinedload(Loan.lender),
    joinedload(Notification.loan).joinedload(Loan.borrower),
    joinedload(Notification.audit_event).joinedload(AuditEvent.actor),
)


class PermanentFailure(Exception):
    """The server refused the message for good (5xx) or it cannot be built."""


def classify(exc: BaseException) -> str:
    """'temporary' (retry with backoff) or 'permanent' (end as failed)."""
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = min(codes) if codes else None
    if isinstance(code, int) and 500 <= code < 600:
        return "permanent"
    if isinstance(exc, PermanentFailure):
        return "permanent"
    return "temporary"


def backoff(attempts: int) -> float:
    cfg = current_app.config
    return min(
        cfg["NOTIFICATION_RETRY_BASE"] * 2 ** max(attempts - 1, 0), cfg["NOTIFICATION_RETRY_MAX"]
    )


def _write(statement, **params) -> int:
    """One UPDATE in autocommit, on a connection taken from the pool for it: its lock
    is held inside the database's own step, never across Python code (with many
    sending threads, a lock held while the GIL goes to another thread is what stalls
    everyone). Returns the rows changed."""
    with autocommit() as connection:
        return connection.execute(statement, params).rowcount


# The two statements of every delivery, built once (building one costs more than
# running it): the claim, and recording the mail sent.
_CLAIM = (
    update(Notification)
    .where(Notification.id == bindparam("nid"), outbox.due(bindparam("now")))
    .values(not_before=bindparam("until"), attempts=Notification.attempts + 1)
)
_SENT = (
    update(Notification)
    .where(Notification.id == bindparam("nid"))
    .values(status=outbox.SENT, sent_at=bindparam("at"), not_before=None, last_error=None)
)


def _claim(notification_id: int, connection) -> bool:
    """The conditional UPDATE that makes this worker the row's only sender, for a
    lease, committed as it runs: on the read's `connection`, in autocommit."""
    now = utcnow()
    lease = timedelta(seconds=current_app.config["NOTIFICATION_CLAIM_SECONDS"])
    params = {"nid": notification_id, "now": now, "until": now + lease}
    return connection.execute(_CLAIM, params).rowcount == 1


# Recording the outcome must outlast a busy database: a `sent` that is never written
# leaves the row leased, and the relay would send it again once the lease runs out.
FINISH_TRIES = 6
FINISH_FIRST_WAIT = 0.25


def _finish(notification_id: int, statement=None, **values) -> None:
    """Write the outcome: `statement` with `values` as its parameters, or else an
    UPDATE setting `values`."""
    if statement is None:
        statement = update(Notification).where(Notification.id == bindparam("nid")).values(**values)
        values = {}
    wait = FINISH_FIRST_WAIT
    for attempt in range(1, FINISH_TRIES + 1):
        try:
            _write(statement, nid=notification_id, **values)
            return
        except OperationalError as exc:
            if attempt == FINISH_TRIES:
                raise
            log.warning(
                "notification %s: could not record its outcome (%s); again in %.2fs",
                notification_id,
                exc.orig,
                wait,
            )
            time.sleep(wait)
            wait *= 2


def _read(connection, notification_id: int) -> Notification | None:
    """The row and everything its mail shows (app.notifications.reading), on
    `connection`. A digest is read by the session instead: what it carries (its
    `covered` rows and their loans) is loaded as it is rendered."""
    notification = reading.read(connection, notification_id)
    if notification is not None and notification.notifier == DIGEST:
        return db.session.get(Notification, notification_id, options=EVERYTHING_MAIL_SHOWS)
    return notification


def _end_session_transaction() -> None:
    """Roll back whatever this thread's session has open, without making a session
    where there is none: a delivery other than a digest needs none."""
    if db.session.registry.has():
        db.session.rollback()


def deliver(notification_id: int) -> str:
    """Deliver one notification; returns what happened (for logs and job results)."""
    started = time.monotonic()
    # Whatever the caller's session had open ends here: the claim must not wait on it.
    _end_session_transaction()
    # Read and build first, without a lock, then claim: a row that is not due (sent, or
    # another worker's) costs a read and no write. Both statements run on one
    # connection in autocommit, outside any transaction: the read sees what had
    # committed when it started, as in PostgreSQL's READ COMMITTED, without a BEGIN
    # and a ROLLBACK around it. The connection goes back to the pool before the SMTP
    # conversation.
    with autocommit() as connection:
        notification = _read(connection, notification_id)
        if notification is None or not outbox.is_due(
            notification.status, notification.not_before, utcnow()
        ):
            _end_session_transaction()
            return "skipped"
        label = (notification.notifier, notification.recipient_email.rsplit("@", 1)[-1])
        created_at = notification.created_at
        try:
            message = compose(notification)
            building_failed = None
        except Exception as exc:  # a template or data bug: retrying will not fix it
            message, building_failed = None, exc
        _end_session_transaction()  # a digest's read, or whatever composing loaded
        claimed = _claim(notification_id, connection)
    if not claimed:
        return "skipped"
    try:
        if building_failed is not None:
            raise PermanentFailure(
                f"could not build the message: {building_failed!r}"
            ) from building_failed
        mailer = mailer_for()
        pace_for(current_app._get_current_object()).wait(mailer.aborting)  # MAIL_RATE_LIMIT
        smtp_started = time.monotonic()
        mailer.send(message)
        smtp_seconds = time.monotonic() - smtp_started
    except SendAborted as exc:
        _end_session_transaction()
        _give_back(notification_id)
        _log(notification_id, label, "given_back", started, exc)
        metrics.delivered(label[0], "given_back")
        return "given_back"
    except Exception as exc:
        _end_session_transaction()
        outcome = _failed(notification_id, exc)
        _log(notification_id, label, outcome, started, exc)
        metrics.delivered(label[0], outcome)
        return outcome
    sent_at = utcnow()
    _finish(notification_id, _SENT, at=sent_at)
    _log(notification_id, label, "sent", started)
    metrics.delivered(
        label[0], "sent", smtp_seconds, latency=(sent_at - created_at).total_seconds()
    )
    return "sent"


def _give_back(notification_id: int) -> None:
    """The worker is stopping mid-send: end the claim at once and uncount the attempt,
    so the next worker sends it without waiting for the lease to run out."""
    _finish(notification_id, not_before=None, attempts=Notification.attempts - 1)


def _failed(notification_id: int, exc: BaseException) -> str:
    attempts = db.session.get(Notification, notification_id).attempts
    db.session.rollback()
    error = f"{type(exc).__name__}: {exc}"[:2000]
    kind = classify(exc)
    if kind == "temporary" and attempts < current_app.config["NOTIFICATION_MAX_ATTEMPTS"]:
        retry_at = utcnow() + timedelta(seconds=backoff(attempts))
        _finish(notification_id, not_before=retry_at, last_error=error)
        return "retry"
    _finish(notification_id, status=outbox.FAILED, not_before=None, last_error=error)
    if suppression.is_bounce(exc):
        address = db.session.get(Notification, notification_id).recipient_email
        db.session.rollback()
        if suppression.record_bounce(address, error):
            log.warning("address of notification %s suppressed after bounces", notification_id)
    return "failed"


def _log(
    notification_id: int,
    label: tuple[str, str],
    outcome: str,
    started: float,
    exc: BaseException | None = None,
) -> None:
    notifier, domain = label
    ms = round((time.monotonic() - started) * 1000, 1)
    fields = {
        "event": "delivery",
        "notification_id": notification_id,
        "notifier": notifier,
        "domain": domain,
        "outcome": outcome,
        "ms": ms,
    }
    if exc is not None:
        fields["error"] = repr(exc)
    # A final failure is an error someone should look at (and SENTRY_DSN reports it).
    log.log(
        logging.ERROR if outcome == "failed" else logging.INFO,
        "delivery notification=%s notifier=%s domain=%s outcome=%s ms=%.1f%s",
        notification_id,
        notifier,
        domain,
        outcome,
        ms,
        f" error={exc!r}" if exc else "",
        extra={"fields": fields},
    )
