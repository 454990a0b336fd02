"""Loans through the services: whole lives by mail, invitations, bad input,
closing an account with open loans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts import service as accounts
from app.accounts.tokens import make_token
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.extensions import db
from app.lending import service as lending
from app.models import AuditEvent, Loan, User, utcnow
from tests.support import action_link, html_of, text_of

# The service and its table: the queue's in-memory twin is enough (tests/conftest.py).
JOB_QUEUE = "memory"


def tomorrow(days: int = 1):
    return utcnow().date() + timedelta(days=days)


def test_request_to_closed_by_mail(make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = lending.create_loan(
        bram, "borrower", lena.email, "cordless drill", message="For shelves"
    )
    [asked] = delivered.run()
    assert lena.email in asked["To"]
    assert asked["Subject"] == "Bram asks to borrow your cordless drill"
    assert "For shelves" in text_of(asked)
    assert action_link(asked) == f"https://mooch.test/loans/{loan.id}"
    assert f'href="https://mooch.test/loans/{loan.id}"' in html_of(asked)

    lending.fire_event(lena, loan.id, "accept")
    [accepted] = delivered.run()
    assert (
        bram.email in accepted["To"]
        and accepted["Subject"] == "Lena agreed to lend you the cordless drill"
    )

    due = tomorrow(7)
    lending.fire_event(lena, loan.id, "hand_over", due_date=due.isoformat())
    started = delivered.run()
    subjects = {m["To"].addresses[0].addr_spec: m["Subject"] for m in started}
    when = f"{due:%a} {due.day} {due:%b}"
    assert subjects == {
        bram.email: f"Lena lent you the cordless drill — due {when}",
        lena.email: f"You lent Bram the cordless drill — due {when}",
    }
    for message in started:
        [ics] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
        body = ics.get_content()
        body = body.decode() if isinstance(body, bytes) else body
        assert f"DTSTART;VALUE=DATE:{due:%Y%m%d}" in body
        assert "Return the cordless drill to Lena" in body

    lending.fire_event(bram, loan.id, "mark_returned")
    [returned] = delivered.run()
    assert lena.email in returned["To"]
    lending.fire_event(lena, loan.id, "confirm_return")
    closed = delivered.run()
    assert len(closed) == 2

    db.session.expire_all()
    loan = db.session.get(Loan, loan.id)
    assert loan.state == "closed"
    assert [e.event for e in loan.events] == [
        "create",
        "accept",
        "hand_over",
        "mark_returned",
        "confirm_return",
    ]
    assert all(n.status == "sent" and n.sent_at for n in loan.notifications)


def test_mail_about_one_loan_threads_together(make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = lending.create_loan(lena, "lender", bram.email, "tent")
    lending.fire_event(bram, loan.id, "accept")
    lending.fire_event(lena, loan.id, "cancel")
    other = lending.create_loan(lena, "lender", bram.email, "stove")
    mail = delivered.run()
    about = {m["Subject"]: m for m in mail}
    ids = {m["Message-ID"] for m in mail}
    assert len(ids) == len(mail) == 4
    roots = {m["References"] for m in mail if "tent" in m["Subject"]}
    assert len(roots) == 1
    [root] = roots
    assert all(m["In-Reply-To"] == root for m in mail if "tent" in m["Subject"])
    assert about["Lena offers to lend you the stove"]["References"] != root
    assert root.startswith(f"<loan-{loan.id}-") and other.id != loan.id
    db.session.expire_all()
    tent = {f"<{n.message_token}@mooch.test>" for n in db.session.get(Loan, loan.id).notifications}
    assert tent == {m["Message-ID"] for m in mail if "tent" in m["Subject"]}


def test_unknown_counterparty_is_invited_then_signs_up(make, delivered):
    lena = make.user("Lena")
    loan = lending.create_loan(lena, "lender", "Newcomer@Example.com", "ladder")
    [invite] = delivered.run()
    assert "newcomer@example.com" in invite["To"]
    assert invite["Subject"] == "Lena invited you to Mooch about the ladder"
    assert action_link(invite) == "https://mooch.test/signup?email=newcomer%40example.com"
    invited = db.session.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert invited.state == "invited" and loan.borrower_id == invited.id
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.user_id == invited.id))
    assert (audit.event, audit.to_state, audit.actor_id) == ("invite", "invited", lena.id)

    # A second loan to the same address the same day sends nothing: one invitation a
    # day at most, and the loan waits in the account the address signs up to.
    saw = lending.create_loan(lena, "lender", "newcomer@example.com", "saw")
    assert delivered.run() == []

    with pytest.raises(Forbidden, match="sign up"):
        lending.fire_event(invited, loan.id, "accept")
    accounts.sign_up("newcomer@example.com", "Nico")
    [confirm] = delivered.run()
    user = accounts.activate(action_link(confirm).rsplit("/", 1)[-1], "kettle mosaic harbor")
    assert user.id == invited.id and user.name == "Nico"
    lending.fire_event(user, loan.id, "accept")
    lending.fire_event(user, saw.id, "accept")
    assert db.session.get(Loan, loan.id).state == "agreed"
    assert db.session.get(Loan, saw.id).state == "agreed"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": "thief"}, "role"),
        ({"counterparty_email": "not an address"}, "counterparty_email"),
        ({"counterparty_email": None}, "counterparty_email"),
        ({"item": "   "}, "item"),
        ({"item": "x" * 201}, "item"),
        ({"due_date": "2001-01-01"}, "due_date"),
        ({"due_date": "next tuesday"}, "due_date"),
        ({"message": "m" * 2001}, "message"),
        ({"item": "drill\x00"}, "item"),
        ({"item": "drill \ud800"}, "item"),
        ({"message": "see you\x1b[2J"}, "message"),
    ],
)
def test_create_loan_bad_input(kwargs, field, make, enqueued):
    me, other = make.user("Mia"), make.user("Olle")
    args = {"role": "borrower", "counterparty_email": other.email, "item": "kayak", **kwargs}
    with pytest.raises(InvalidInput) as bad:
        lending.create_loan(me, **args)
    assert bad.value.field == field and bad.value.message
    assert db.session.scalars(select(Loan)).all() == []
    assert enqueued.notifications() == [] and enqueued.job_ids() == []


def test_cannot_lend_to_yourself(make, enqueued):
    me = make.user("Mia")
    with pytest.raises(InvalidInput, match="yourself"):
        lending.create_loan(me, "lender", me.email.upper(), "kayak")
    assert enqueued.notifications() == []


def test_a_closed_accounts_address_is_simply_invited_afresh(make, enqueued):
    me, closed = make.user("Mia"), make.user("Cleo", state="closed")
    loan = lending.create_loan(me, "lender", closed.email, "kayak")
    assert loan.borrower_id != closed.id
    assert (loan.borrower.email, loan.borrower.state) == (closed.email, "invited")
    assert enqueued.mail() == [("invitation", closed.email)]


def test_hand_over_needs_a_due_date_today_or_later(make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="agreed")
    with pytest.raises(InvalidInput) as missing:
        lending.fire_event(lena, loan.id, "hand_over")
    assert missing.value.field == "due_date"
    with pytest.raises(InvalidInput, match="past"):
        lending.fire_event(lena, loan.id, "hand_over", due_date=utcnow().date() - timedelta(days=1))
    db.session.expire_all()
    assert (loan.state, loan.due_date) == ("agreed", None)
    lending.fire_event(lena, loan.id, "hand_over", due_date=utcnow().date())
    assert loan.state == "lent" and len(enqueued.notifications()) == 2


def test_stale_version_is_a_conflict(make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="requested")
    seen = loan.version
    lending.fire_event(lena, loan.id, "accept", expected_version=seen)
    with pytest.raises(Conflict):
        lending.fire_event(bram, loan.id, "cancel", expected_version=seen)
    assert [n for n, _ in enqueued.mail()] == ["loan_accepted"]


def test_loans_are_visible_to_their_parties_only(make):
    lena, bram, sam = make.user("Lena"), make.user("Bram"), make.user("Sam")
    loan = make.loan(lena, bram)
    assert lending.loan_for(lena, loan.id).id == loan.id
    assert [x.id for x in lending.loan_page(bram, 50).loans] == [loan.id]
    assert lending.loan_page(sam, 50).loans == []
    for probe in (loan.id, loan.id + 1000, "1", None, 2**31, 2**63, -1, 0, True):
        with pytest.raises(NotFound) as hidden:
            lending.loan_for(sam, probe)
        assert hidden.value.message == "No such loan."


def test_closing_an_account_calls_off_its_open_loans(make, delivered):
    mia = make.user("Mia")
    lena, bram, olle = make.user("Lena"), make.user("Bram"), make.user("Olle")
    requested = make.loan(lena, mia, state="requested")  # Mia asked Lena
    offered = make.loan(mia, bram, state="offered")  # Mia offered to Bram
    agreed = make.loan(olle, mia, state="agreed")
    done = make.loan(lena, mia, state="closed")
    accounts.start_disconnect(mia)
    delivered.run()
    accounts.disconnect(make_token("disconnect", mia))
    mail = delivered.run()
    told = sorted((m["To"].addresses[0].addr_spec, m["Subject"].split(":")[0]) for m in mail)
    assert told == sorted(
        [
            (mia.email, "Your Mooch account is closed"),
            (lena.email, "Mia left Mooch"),
            (bram.email, "Mia left Mooch"),
            (olle.email, "Mia left Mooch"),
        ]
    )
    db.session.expire_all()
    assert [requested.state, offered.state, agreed.state, done.state] == [
        "cancelled",
        "cancelled",
        "cancelled",
        "closed",
    ]
    assert mia.state == "closed"


def test_cannot_close_an_account_with_a_loan_under_way(make, enqueued):
    mia, lena = make.user("Mia"), make.user("Lena")
    make.loan(lena, mia, state="lent", due_date=tomorrow())
    with pytest.raises(Forbidden, match="under way"):
        accounts.start_disconnect(mia)
    assert mia.state == "active" and enqueued.notifications() == []


def test_an_event_writes_the_loan_once(make):
    """One UPDATE per event: the version goes up by one, however the loan was loaded."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loan_id = make.loan(lena, bram, state="requested").id
    db.session.expire_all()
    loan = lending.fire_event(lena, loan_id, "accept")
    assert loan.version == 2


def test_a_message_keeps_its_line_breaks(make):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = lending.create_loan(bram, "borrower", lena.email, "kayak", message="Hi!\r\n\tThanks")
    assert loan.message == "Hi!\r\n\tThanks"
