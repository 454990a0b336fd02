"""The outbox: notifications are rows first, jobs second.

A service records a Notification in the same transaction as the change it reports.
Only after that transaction commits are RQ jobs enqueued, one per notification, so
a rolled-back change leaves neither row nor job. If Redis is unreachable at that
moment the rows simply stay `pending`; the relay, run periodically by the worker,
enqueues every pending row whose job has gone missing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_sqlalchemy.session import Session
from sqlalchemy import ColumnElement, event, select

from app import after_response
from app.extensions import db
from app.jobqueue import JobQueue, QueueUnavailable, job_queue
from app.models import AuditEvent, Loan, MailSuppression, Notification, User, utcnow
from app.notifications import preferences, suppression
from app.notifications.notifiers import NOTIFIERS, PAST_SUPPRESSION

log = logging.getLogger(__name__)

_NEW_IDS = "mooch_new_notifications"

# -- a row's statuses and when it is due, written once --------------------------------
#
#   pending --claim--> pending (leased: not_before = end of the lease) --> sent
#                                                               \--> pending (retry at not_before)
#                                                                \--> failed
#   skipped: decided against when the change was made; never sent.
#   suppressed: not sent because the address hard-bounced (suppression.py).
#   digest (HELD): its reader chose to get it in their daily digest: no job of its own;
#     `digest_id` names the digest row that carried it, once one did (digest.py).
PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
SUPPRESSED = "suppressed"
HELD = "digest"
STATUSES = (PENDING, SENT, FAILED, SKIPPED, SUPPRESSED, HELD)


def due(now: datetime) -> ColumnElement[bool]:
    """SQL: a row that may be sent now: pending, and not leased to a worker nor
    waiting for its next attempt (`not_before` unset or past)."""
    return (Notification.status == PENDING) & (
        Notification.not_before.is_(None) | (Notification.not_before <= now)
    )


def is_due(status: str, not_before: datetime | None, now: datetime) -> bool:
    """The same rule as `due`, for a row already read."""
    return status == PENDING and (not_before is None or not_before <= now)


@dataclass(frozen=True)
class Skipped:
    """A notification decided against when its change was made: recorded as a
    `skipped` row with the reason, so every surface can say why no mail went."""

    notifier: str
    reason: str


def record(
    notifier: str,
    recipient: User,
    *,
    loan: Loan | None = None,
    audit_event: AuditEvent | None = None,
    skipped: str | None = None,
) -> Notification:
    """Add a notification to the current transaction (it is sent only if that commits);
    with `skipped` (the reason), a row that is never sent. Its reader's choice decides
    the rest: turned off (skipped), held for their daily digest (HELD), or sent; a
    suppressed address wins over all of them."""
    if notifier not in NOTIFIERS:
        raise ValueError(f"unknown notifier {notifier!r}")
    status = SKIPPED if skipped else PENDING
    # Read without flushing: the caller may be half-way through building its rows (a
    # loan whose parties are not set yet).
    with db.session.no_autoflush:
        choice, bounced = (None, None) if skipped else _reader(recipient, notifier)
        if choice == preferences.NEVER:
            status, skipped = SKIPPED, preferences.TURNED_OFF
        elif choice == preferences.DAILY:
            status = HELD
        if status in (PENDING, HELD) and bounced is not None:
            status, skipped = SUPPRESSED, suppression.row_reason(bounced)
    notification = Notification(
        notifier=notifier,
        recipient=recipient,
        recipient_email=recipient.email,
        loan=loan,
        audit_event=audit_event,
        status=status,
        last_error=skipped,
        attempts=0,
    )
    db.session.add(notification)
    return notification


def _reader(recipient: User, notifier: str) -> tuple[str, MailSuppression | None]:
    """The reader's choice for this notifier and, unless the notifier goes past it, the
    suppression of their address: one statement (a row is made in the request that
    changed something, and each statement is time on that request)."""
    choice = preferences.choice_query(recipient.id, notifier)
    # The link that lifts a suppression is the one mail that reaches a suppressed
    # address (notifiers.PAST_SUPPRESSION): its owner asked for it.
    bounced = (
        None if notifier in PAST_SUPPRESSION else suppression.suppressed_query(recipient.email)
    )
    asked = [query for query in (choice, bounced) if query is not None]
    answers = iter(db.session.execute(select(*asked)).one() if asked else ())
    stored = next(answers) if choice is not None else None
    bounced_key = next(answers) if bounced is not None else None
    return (
        preferences.read_choice(stored),
        db.session.get(MailSuppression, bounced_key) if bounced_key is not None else None,
    )


# -- after commit, not before -------------------------------------------------


@event.listens_for(Session, "after_flush")
def _collect_new(session, flush_context) -> None:
    # A skipped row is never sent: it gets no job.
    new = [obj.id for obj in session.new if isinstance(obj, Notification) and obj.status == PENDING]
    if new:
        session.info.setdefault(_NEW_IDS, []).extend(new)


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session) -> None:
    # In a request, once its response is sent: nobody waits for the round trip to
    # Redis (app.after_response). If that never happens, the relay enqueues them.
    ids = session.info.pop(_NEW_IDS, None)
    if ids:
        queue = job_queue()
        if not after_response.later(_enqueue_to, queue, ids):
            _enqueue_to(queue, ids)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session) -> None:
    session.info.pop(_NEW_IDS, None)


def enqueue(ids: Sequence[int], once: bool = False) -> bool:
    """One job per notification, in one round trip (`once`: only for ids with no job
    at all, for rows someone else may be enqueueing too). Never raises: a row whose
    job could not be enqueued stays pending and the relay picks it up."""
    return _enqueue_to(job_queue(), ids, once)


def _enqueue_to(queue: JobQueue, ids: Sequence[int], once: bool = False) -> bool:
    """`enqueue` on a given queue: it needs no app context."""
    try:
        queue.enqueue(ids, once=once)
        return True
    except QueueUnavailable as exc:
        log.warning("could not enqueue notifications %s, the relay will: %s", list(ids), exc)
        return False


# -- the relay ----------------------------------------------------------------


def jobless(rows: list[tuple[int, datetime | None]]) -> list[int]:
    """Of these due pending rows, (id, not_before), the ids with no job that will
    still run, whose leftover jobs are discarded so a new one can take the id.

    A job will run if it waits in the queue, or if a live worker has taken it and not
    yet claimed the row. A row that was claimed (not_before set) and is due again
    outlived its lease: whoever holds its job is gone or stuck. Raises
    QueueUnavailable when the queue cannot be reached."""
    queue = job_queue()
    live = queue.live([nid for nid, _ in rows])
    missing = [
        nid
        for nid, claimed_until in rows
        if not (live.get(nid) == "waiting" or (live.get(nid) == "taken" and claimed_until is None))
    ]
    queue.discard(missing)
    return missing


def relay(now: datetime | None = None) -> int:
    """Enqueue due pending notifications whose job is gone: Redis was down at commit,
    restarted empty, or a worker died holding the job. Returns how many."""
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["NOTIFICATION_RELAY_GRACE"])
    rows = db.session.execute(
        select(Notification.id, Notification.not_before)
        .where(due(now))
        # A row just committed has its job on the way: leave it the grace period.
        .where(Notification.not_before.is_not(None) | (Notification.created_at <= now - grace))
        .order_by(Notification.id)
    ).all()
    db.session.rollback()  # hold no transaction while talking to Redis
    if not rows:
        return 0
    try:
        missing = jobless([tuple(row) for row in rows])
    except QueueUnavailable as exc:
        log.warning("relay: the queue is unreachable: %s", exc)
        return 0
    if missing and enqueue(missing, once=True):
        log.info("relay enqueued %d notification(s)", len(missing))
        return len(missing)
    return 0
