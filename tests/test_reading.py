"""A delivery's read (app.notifications.reading): one Core statement gives the same
rows, and so the same mail, as the ORM's own load of them, for every sample mail."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm.exc import DetachedInstanceError

from app.dev.previews import Preview, previews
from app.extensions import db
from app.models import AuditEvent, Loan, Notification, User
from app.notifications import reading
from app.notifications.compose import compose, render
from app.notifications.delivery import EVERYTHING_MAIL_SHOWS
from app.notifications.notifiers import DIGEST
from app.transaction import autocommit

JOB_QUEUE = "memory"

# The digest is read by the session (delivery._read): what it carries is loaded as it
# is rendered. Its samples' carried rows also share one made-up id.
SAMPLES = [p for p in previews() if p.notifier != DIGEST]
HOSTILE_ITEM = '<b>tent</b> & "poles"\r\nBcc: x@y'
# A signed link's token: what it says, then when it was signed and the signature, which
# differ between two renders a second apart.
SIGNED = re.compile(r"/([\w-]+)\.[\w-]+\.[\w-]+")


def unsigned(text: str | None) -> str | None:
    return text and SIGNED.sub(r"/\1.(signed)", text)


def stored(preview: Preview) -> int:
    """The sample's rows written to the database; the notification's id."""
    notification = db.session.merge(preview.build(HOSTILE_ITEM))
    db.session.commit()
    return notification.id


def by_the_orm(notification_id: int) -> Notification:
    return db.session.get(Notification, notification_id, options=EVERYTHING_MAIL_SHOWS)


def by_reading(notification_id: int) -> Notification | None:
    with autocommit() as connection:
        return reading.read(connection, notification_id)


def columns(instance) -> dict:
    return {p.key: getattr(instance, p.key) for p in inspect(type(instance)).column_attrs}


def everything(notification: Notification) -> dict:
    loan, event = notification.loan, notification.audit_event
    return {
        "notification": columns(notification),
        "recipient": columns(notification.recipient),
        "loan": loan and columns(loan),
        "lender": loan and columns(loan.lender),
        "borrower": loan and columns(loan.borrower),
        "event": event and columns(event),
        "actor": event and event.actor and columns(event.actor),
    }


@pytest.mark.parametrize("preview", SAMPLES, ids=lambda p: p.slug)
def test_the_read_gives_the_rows_and_the_mail_the_orm_gives(app, preview):
    nid = stored(preview)
    ours = by_reading(nid)
    db.session.expunge_all()
    theirs = by_the_orm(nid)
    assert everything(ours) == everything(theirs)
    ours_rendered, theirs_rendered = render(ours)[1:], render(theirs)[1:]
    assert [unsigned(t) for t in ours_rendered] == [unsigned(t) for t in theirs_rendered]
    mine, other = compose(ours), compose(theirs)
    for field in ("subject", "to", "extra_headers", "msgId"):
        assert getattr(mine, field) == getattr(other, field), field
    for field in ("body", "html"):
        assert unsigned(getattr(mine, field)) == unsigned(getattr(other, field)), field
    assert [(a.filename, a.data) for a in mine.attachments] == [
        (a.filename, a.data) for a in other.attachments
    ]


def test_one_person_in_two_roles_is_one_instance(app, make):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="agreed")
    row = Notification(
        notifier="loan_accepted",
        recipient=lena,
        recipient_email=lena.email,
        loan=loan,
        status="pending",
    )
    db.session.add(row)
    db.session.commit()
    read = by_reading(row.id)
    assert read.recipient is read.loan.lender
    assert read.loan.borrower.name == "Bram"
    assert read.audit_event is None


def test_what_the_read_did_not_load_raises_instead_of_loading(app):
    nid = stored(next(p for p in SAMPLES if p.notifier == "loan_disputed"))
    read = by_reading(nid)
    assert isinstance(read.loan, Loan) and isinstance(read.audit_event, AuditEvent)
    assert isinstance(read.recipient, User)
    for touch in (
        lambda: read.loan.events,
        lambda: read.audit_event.subject,
        lambda: read.covered,
    ):
        with pytest.raises(DetachedInstanceError):
            touch()
    assert read not in db.session


def test_no_such_row_reads_as_none(app):
    assert by_reading(123456) is None
