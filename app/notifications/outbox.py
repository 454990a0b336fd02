"""The outbox: notifications are rows first, jobs second.

A service records a Notification in the same transaction as the change it reports.
Only after that transaction commits are RQ jobs enqueued, one per notification, so
a rolled-back change leaves neither row nor job. If Redis is unreachable at that
moment the rows simply stay `pending`; the relay, run periodically by the worker,
enqueues every pending row whose job has gone missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_sqlalchemy.session import Session
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import event, or_, select

from app.extensions import db
from app.models import AuditEvent, Loan, Notification, User, utcnow
from app.notifications.notifiers import NOTIFIERS
from app.notifications.queue import job_id, mail_queue, redis_connection

log = logging.getLogger(__name__)

_NEW_IDS = "mooch_new_notifications"
JOB_FUNCTION = "app.notifications.jobs.deliver_notification"
# A job in one of these states will still run. A "started" job whose row was claimed
# and is due again belongs to a worker whose claim lapsed: that worker is gone.
WAITING_JOB_STATES = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


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
    with `skipped` (the reason), a row that is never sent."""
    if notifier not in NOTIFIERS:
        raise ValueError(f"unknown notifier {notifier!r}")
    notification = Notification(
        notifier=notifier,
        recipient=recipient,
        recipient_email=recipient.email,
        loan=loan,
        audit_event=audit_event,
        status="skipped" if skipped else "pending",
        last_error=skipped,
        attempts=0,
    )
    db.session.add(notification)
    return notification


# -- after commit, not before -------------------------------------------------


@event.listens_for(Session, "after_flush")
def _collect_new(session, flush_context) -> None:
    # A skipped row is never sent: it gets no job.
    new = [
        obj.id for obj in session.new if isinstance(obj, Notification) and obj.status == "pending"
    ]
    if new:
        session.info.setdefault(_NEW_IDS, []).extend(new)


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session) -> None:
    ids = session.info.pop(_NEW_IDS, None)
    if ids:
        enqueue(ids)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session) -> None:
    session.info.pop(_NEW_IDS, None)


def enqueue(ids: list[int], queue: Queue | None = None) -> bool:
    """One job per notification, in one round trip. Never raises: a row whose job
    could not be enqueued stays pending and the relay picks it up."""
    try:
        queue = queue or mail_queue()
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    JOB_FUNCTION,
                    args=(nid,),
                    job_id=job_id(nid),
                    result_ttl=0,
                    description=f"notification {nid}",
                )
                for nid in ids
            ]
        )
        return True
    except RedisError as exc:
        log.warning("could not enqueue notifications %s, the relay will: %s", ids, exc)
        return False


# -- the relay ----------------------------------------------------------------


def jobless(rows: list[tuple[int, datetime | None]]) -> list[int]:
    """Of these pending rows, (id, not_before), the ids with no job that will still
    run; the leftover job of a dead or failed attempt is deleted, so a new one can
    take its id. Raises RedisError when Redis cannot be reached."""
    jobs = Job.fetch_many(
        [job_id(nid) for nid, _ in rows], connection=redis_connection(), serializer=JSONSerializer
    )
    missing = []
    for (nid, claimed_until), job in zip(rows, jobs, strict=True):
        if job is not None:
            status = job.get_status(refresh=False)
            if status in WAITING_JOB_STATES:
                continue
            if status == JobStatus.STARTED and claimed_until is None:
                continue  # a worker has just started it and is about to claim the row
            job.delete()
        missing.append(nid)
    return missing


def relay(now=None) -> int:
    """Enqueue pending notifications whose job is gone: Redis was down at commit,
    restarted empty, or a worker died holding the job. Returns how many."""
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["NOTIFICATION_RELAY_GRACE"])
    due = db.session.execute(
        select(Notification.id, Notification.not_before)
        .where(Notification.status == "pending")
        .where(
            or_(
                Notification.not_before <= now,
                (Notification.not_before.is_(None)) & (Notification.created_at <= now - grace),
            )
        )
        .order_by(Notification.id)
    ).all()
    db.session.rollback()  # hold no transaction while talking to Redis
    if not due:
        return 0
    missing = jobless([tuple(row) for row in due])
    if missing and enqueue(missing):
        log.info("relay enqueued %d notification(s)", len(missing))
        return len(missing)
    return 0
