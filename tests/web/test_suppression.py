"""Bounces (issue 12, part 4): an address the receiving server refuses for good
MAIL_BOUNCE_LIMIT (2) times stops getting mail. Its new rows are recorded
`suppressed`, the other party reads why on the loan page, and an admin can lift it."""

from __future__ import annotations

import smtplib
import threading

import pytest
from sqlalchemy import select

from app.extensions import db
from app.lending import service as lending
from app.models import MailSuppression, Notification
from app.notifications import outbox, suppression


def rows(notifier: str | None = None) -> list[Notification]:
    query = select(Notification).order_by(Notification.id)
    if notifier:
        query = query.where(Notification.notifier == notifier)
    db.session.expire_all()
    return list(db.session.scalars(query))


@pytest.mark.parametrize(
    ("exc", "bounce"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"5.1.1 No such user")}), True),
        (smtplib.SMTPRecipientsRefused({"a@x.test": (450, b"4.2.1 Try later")}), False),
        (smtplib.SMTPDataError(550, b"5.1.1 <a@x.test>: Recipient address rejected"), True),
        (smtplib.SMTPDataError(550, b"5.2.1 Mailbox disabled"), True),
        (smtplib.SMTPDataError(554, b"5.7.1 Message rejected as spam"), False),
        (smtplib.SMTPDataError(451, b"4.3.0 Try again"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
    ],
)
def test_only_a_refusal_of_the_address_is_a_bounce(exc, bounce):
    assert suppression.is_bounce(exc) is bounce


def test_two_hard_bounces_suppress_the_address(app, make, delivered, mail_server):
    lena, bob = make.user("Lena"), make.user("Bob", email="Bob@Example.com")
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    delivered.run()  # to Lena: fine
    mail_server.fail_next(1, "550 5.1.1 No such user")
    lending.fire_event(lena, loan.id, "accept")
    assert delivered.run() == []  # to Bob: 550
    assert suppression.suppressed(bob.email) is None  # one refusal is not enough
    mail_server.fail_next(1, "550 5.1.1 No such user")
    outbox.record("welcome", bob)  # a mail to Bob alone
    db.session.commit()
    assert delivered.run() == []
    listed = suppression.suppressed("bob@example.com")  # any case
    assert listed is not None and listed.failures == 2 and "No such user" in listed.reason

    # From now on Bob's rows are recorded suppressed, with why; Lena's still go.
    lending.fire_event(lena, loan.id, "hand_over", due_date="2099-01-01")
    started = {n.recipient_email: n.status for n in rows("loan_started")}
    assert started == {lena.email: "pending", bob.email: "suppressed"}
    delivered.run()
    lending.fire_event(bob, loan.id, "mark_returned")
    [returned] = rows("loan_returned")
    assert returned.status == "pending"  # to Lena
    lending.fire_event(lena, loan.id, "confirm_return")
    closed = {n.recipient_email: n for n in rows("loan_closed")}
    assert closed[bob.email].status == "suppressed"
    assert closed[bob.email].last_error.startswith("the address bounced: ")
    assert closed[lena.email].status == "pending"
    assert [m["To"].addresses[0].addr_spec for m in delivered.run()] == [lena.email] * 2
    # Nothing is dropped in the worker: a suppressed row never had a job.
    assert all(n.attempts == 0 for n in rows() if n.status == "suppressed")


def test_the_other_party_reads_why_on_the_loan_page(client, make):
    lena, bob = make.user("Lena"), make.user("Bob")
    db.session.add(
        MailSuppression(
            address=bob.email, reason="550 5.1.1", failures=2, suppressed_at=db.func.now()
        )
    )
    db.session.commit()
    loan = make.loan(lena, bob, state="requested")
    lending.fire_event(lena, loan.id, "accept")
    html = client.log_in(lena).page(f"/loans/{loan.id}")
    assert "not emailed: Bob’s address bounced; ask them for another" in html


def test_a_message_refused_as_spam_counts_nothing(make, delivered, mail_server):
    bob = make.user("Bob")
    for _ in range(3):
        mail_server.fail_next(1, "554 5.7.1 Message rejected as spam")
        outbox.record("welcome", bob)
        db.session.commit()
        delivered.run()
    assert db.session.scalar(select(MailSuppression)) is None


def test_bounces_counted_at_once_lose_no_count(app):
    app.config["MAIL_BOUNCE_LIMIT"] = 5

    def bounce():
        with app.app_context():
            suppression.record_bounce("busy@example.com", "550 5.1.1")

    threads = [threading.Thread(target=bounce) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.session.expire_all()
    row = db.session.get(MailSuppression, "busy@example.com")
    assert row.failures == 8 and row.suppressed_at is not None


def test_an_admin_lifts_an_address(client, make):
    admin = make.user("Ada")
    admin.is_admin = True
    db.session.commit()
    suppression.record_bounce("gone@example.com", "550 5.1.1 No such user")
    suppression.record_bounce("gone@example.com", "550 5.1.1 No such user")
    client.log_in(admin)
    page = client.page("/admin/suppressions")
    assert "gone@example.com" in page and "No such user" in page
    response = client.post("/admin/suppressions/lift", data={"address": "gone@example.com"})
    assert response.status_code == 302
    assert "gone@example.com gets mail again." in client.page("/admin/suppressions")
    assert suppression.suppressed("gone@example.com") is None
    assert make.user("Nobody").is_admin is False
    client.log_in(make.user("Eve"))
    assert client.get("/admin/suppressions").status_code == 403
