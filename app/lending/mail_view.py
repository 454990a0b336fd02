"""A loan's mail as one of its parties may see it (the loan page and the API).

Until the counterparty answers, the person who asked or offered must not learn from
the loan whether the address they typed has an account: the mail it got is shown as
the request or offer it carried, whether it went out as that notifier or as an
invitation to sign up, and an invitation left out because the address was invited
earlier the same day is shown with the status of that invitation. For the same
reason a mail held for the counterparty's daily digest (which only an account can
choose) is shown to the initiator as queued, then as its digest went, and a mail the
counterparty turned off (which only an account can) as sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.lending.states import LOAN
from app.models import Loan, Notification, User
from app.notifications.preferences import TURNED_OFF


@dataclass(frozen=True)
class SeenMail:
    row: Notification
    notifier: str
    status: str
    sent_at: datetime | None

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def carrier(self) -> Notification | None:
        """For a mail held for its reader's daily digest: the digest that carried it,
        once one did."""
        return self.row.digest if self.status == "digest" else None


def _masked(loan: Loan, viewer: User, row: Notification) -> bool:
    return (
        viewer.id == loan.initiator_id
        and not loan.counterparty_answered
        and row.recipient_id != viewer.id
    )


def _creation_notifier(loan: Loan) -> str:
    """The notifier the loan's creation sent the counterparty (the table's create row
    for whoever started it: a request or an offer)."""
    [(_, notifier)] = LOAN.creation("create", loan.role_of_id(loan.initiator_id)).notify
    return notifier


def _covering(row: Notification) -> tuple[str, datetime | None]:
    """The status and time of the invitation that covered a skipped one: the latest
    sent to the same account before it."""
    found = db.session.execute(
        select(Notification.status, Notification.sent_at)
        .where(
            Notification.recipient_id == row.recipient_id,
            Notification.notifier == "invitation",
            Notification.status != "skipped",
            Notification.id < row.id,
        )
        .order_by(Notification.id.desc())
        .limit(1)
    ).first()
    return (found.status, found.sent_at) if found else ("sent", None)


def _held(loan: Loan, viewer: User, row: Notification) -> SeenMail:
    """A row held for a daily digest: sent when its digest was."""
    carrier = row.digest
    sent_at = carrier.sent_at if carrier is not None else None
    if not _masked(loan, viewer, row):
        return SeenMail(row, row.notifier, row.status, sent_at)
    status = "sent" if carrier is not None and carrier.status == "sent" else "pending"
    return SeenMail(row, row.notifier, status, sent_at)


def seen(loan: Loan, viewer: User, row: Notification) -> SeenMail:
    if row.status == "digest":
        return _held(loan, viewer, row)
    if not _masked(loan, viewer, row):
        return SeenMail(row, row.notifier, row.status, row.sent_at)
    notifier = _creation_notifier(loan) if row.notifier == "invitation" else row.notifier
    if row.status == "skipped" and row.notifier == "invitation":
        return SeenMail(row, notifier, *_covering(row))
    if row.status == "skipped" and row.last_error == TURNED_OFF:
        # Only an account can turn mail off: it reads as the mail any address gets.
        return SeenMail(row, notifier, "sent", row.created_at)
    return SeenMail(row, notifier, row.status, row.sent_at)


def mail_as_seen(loan: Loan, viewer: User) -> list[SeenMail]:
    return [seen(loan, viewer, row) for row in loan.notifications]
