"""`flask demo`: demo users and loans through the services, once."""

from __future__ import annotations

from sqlalchemy import func, select

from app.accounts import service as accounts
from app.demo import PASSWORD
from app.extensions import db
from app.models import AuditEvent, Loan, Notification, User


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_creates_users_and_loans_once(app, enqueued):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "lena@example.com" in result.output and PASSWORD in result.output

    db.session.expire_all()
    users = db.session.scalars(select(User).order_by(User.email)).all()
    assert [(u.email, u.state) for u in users] == [
        ("bram@example.com", "active"),
        ("lena@example.com", "active"),
    ]
    assert accounts.authenticate("lena@example.com", PASSWORD).name == "Lena"
    states = sorted(db.session.scalars(select(Loan.state)))
    assert states == sorted(["requested", "agreed", "lent", "returned", "closed"])
    lent = db.session.scalar(select(Loan).where(Loan.state == "lent"))
    assert lent.due_date is not None and lent.lender.email == "lena@example.com"
    # Real steps: an audit row for each, and mail waiting in the outbox with its jobs.
    # sign-up and activation for each user, then 1 + 2 + 3 + 4 + 5 steps of the loans
    assert count(AuditEvent) == 4 + 15
    mail = enqueued.mail()
    assert ("loan_started", "bram@example.com") in mail
    assert ("welcome", "lena@example.com") in mail
    assert len(enqueued.jobs()) == count(Notification) == len(mail)

    before = (count(User), count(Loan), count(AuditEvent), count(Notification))
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert "already has users" in again.output and PASSWORD not in again.output
    assert (count(User), count(Loan), count(AuditEvent), count(Notification)) == before


def test_demo_leaves_an_existing_database_alone(app, make):
    make.user("Someone")
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert count(User) == 1 and count(Loan) == 0
