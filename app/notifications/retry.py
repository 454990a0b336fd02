"""Retrying notifications by hand: the admin page's buttons and
`flask notifications retry [--all|ID]`.

What a retry does depends on the row's status:

- `failed`: back to `pending` with `attempts` 0 and no `not_before`, so it gets the
  full round of attempts again, and a fresh job is enqueued. `last_error` stays, so
  the reason it failed is still visible until a delivery succeeds and clears it.
  The UPDATE is conditional on `status = 'failed'`: of two admins retrying the same
  row at once, one moves it and the other finds it pending (below).
- `pending` and due (no `not_before`, or one in the past): the row is "stuck", waiting
  for a job that Redis lost or a worker died holding. Nothing changes in the row; its
  job is enqueued unless one is already waiting in the queue. This is what the relay
  would do at its next round, done now.
- `pending` and not due: a worker holds it (the claim's lease) or it waits for its next
  attempt after a temporary SMTP failure. The two cannot be told apart, and clearing
  the lease of a row being sent could send it twice, so this is refused (Conflict),
  saying when the next attempt is.
- `sent`: refused (Conflict); sending again is not a retry.
- no such row: NotFound.

The database change commits before anything is enqueued, and no transaction is held
while Redis is talked to. If Redis is unreachable the row still becomes pending and
the relay enqueues it once Redis answers; the outcome says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from app.errors import Conflict, NotFound
from app.extensions import db
from app.jobqueue import QueueUnavailable
from app.models import Notification, utcnow
from app.notifications import outbox
from app.transaction import atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retried:
    """What a retry did: which failed rows went back to pending, which stuck pending
    rows were enqueued again, and whether their jobs reached the queue."""

    reset: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    already_queued: list[int] = field(default_factory=list)
    enqueued: bool = True

    @property
    def ids(self) -> list[int]:
        return sorted([*self.reset, *self.requeued, *self.already_queued])

    @property
    def message(self) -> str:
        if not self.ids:
            return "No failed notifications to retry."
        parts = []
        if self.reset:
            parts.append(
                _say(
                    self.reset,
                    "Notification {} is pending again, with a fresh round of attempts.",
                    "{} failed notifications are pending again, with a fresh round of attempts.",
                )
            )
        if self.requeued:
            parts.append(
                _say(
                    self.requeued,
                    "Notification {} was stuck pending; its job is queued again.",
                    "{} stuck notifications have their jobs queued again.",
                )
            )
        if self.already_queued:
            parts.append(
                _say(
                    self.already_queued,
                    "Notification {} is pending and already queued.",
                    "{} notifications are pending and already queued.",
                )
            )
        if not self.enqueued:
            them = "it" if len(self.ids) == 1 else "them"
            parts.append(f"Redis is unreachable: the relay will queue {them} once it answers.")
        return " ".join(parts)


def _say(ids: list[int], one: str, many: str) -> str:
    return one.format(ids[0]) if len(ids) == 1 else many.format(len(ids))


def retry(notification_id: int) -> Retried:
    """Retry one notification (see the module docstring for what that means per status).

    Raises NotFound for an unknown id, Conflict for a sent row or a pending one that
    is not due."""
    with atomic():
        reset = db.session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == outbox.FAILED)
            .values(status=outbox.PENDING, attempts=0, not_before=None)
        ).rowcount
    if reset:
        log.info("retry: notification %s failed -> pending", notification_id)
        return _enqueue(reset=[notification_id])

    row = db.session.execute(
        select(Notification.status, Notification.not_before).where(
            Notification.id == notification_id
        )
    ).first()
    db.session.rollback()  # hold no transaction while talking to Redis
    if row is None:
        raise NotFound(f"There is no notification {notification_id}.")
    status, not_before = row
    if status == outbox.SENT:
        raise Conflict(f"Notification {notification_id} was already sent; it is not retried.")
    if status == outbox.SKIPPED:
        raise Conflict(f"Notification {notification_id} was not to be sent; it is not retried.")
    if status == outbox.HELD:
        raise Conflict(
            f"Notification {notification_id} is held for its reader's daily digest: it is "
            "never sent on its own (retry the digest that carries it, if that failed)."
        )
    if not outbox.is_due(status, not_before, utcnow()):
        raise Conflict(
            f"Notification {notification_id} is pending: it is being sent or waits for its "
            f"next attempt at {not_before:%Y-%m-%d %H:%M:%S} UTC."
        )
    return _enqueue(stuck=[(notification_id, not_before)])


def retry_all_failed() -> Retried:
    """Every failed notification back to pending, and a job for each."""
    with atomic():
        ids = list(
            db.session.scalars(
                update(Notification)
                .where(Notification.status == outbox.FAILED)
                .values(status=outbox.PENDING, attempts=0, not_before=None)
                .returning(Notification.id)
            )
        )
    if ids:
        log.info("retry: %d failed notification(s) -> pending", len(ids))
    return _enqueue(reset=sorted(ids))


def _enqueue(
    reset: list[int] | None = None, stuck: list[tuple[int, datetime | None]] | None = None
) -> Retried:
    """A job for each row whose job will not run (the relay's rule: outbox.jobless),
    `reset` rows as just reset, `stuck` ones as (id, not_before)."""
    reset, stuck = reset or [], stuck or []
    rows = [(nid, None) for nid in reset] + stuck
    stuck_ids = [nid for nid, _ in stuck]
    if not rows:
        return Retried()
    try:
        missing = outbox.jobless(rows)
    except QueueUnavailable as exc:
        log.warning("retry: Redis unreachable, the relay will enqueue %s: %s", rows, exc)
        return Retried(reset=reset, requeued=stuck_ids, enqueued=False)
    enqueued = outbox.enqueue(missing, once=True) if missing else True
    return Retried(
        reset=reset,
        requeued=[nid for nid in stuck_ids if nid in missing],
        already_queued=[nid for nid in stuck_ids if nid not in missing],
        enqueued=enqueued,
    )
