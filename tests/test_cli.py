"""The flask commands: relay once, run the loan clock once, create an admin."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import User, utcnow
from app.notifications import outbox


def test_relay_once(app, make, redis, enqueued):
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    outbox.record("welcome", make.user("Bob"))
    db.session.commit()
    redis.flushdb()
    result = app.test_cli_runner().invoke(args=["notifications", "relay"])
    assert result.exit_code == 0 and "relayed 1 notification(s)" in result.output
    assert len(enqueued.jobs()) == 1


def test_loan_clock_once(app, make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    make.loan(lena, bram, state="lent", due_date=utcnow().date() - timedelta(days=2))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["loans", "clock"]).output.strip() == "mark_overdue: 1"
    assert runner.invoke(args=["loans", "clock"]).output.strip() == "nothing due"


def test_create_admin(app, enqueued):
    runner = app.test_cli_runner()
    args = ["create-admin", "--email", "Root@Example.com", "--name", "Root"]
    weak = runner.invoke(args=args, input="long password\nlong password\n")
    assert weak.exit_code != 0 and "commonly used password" in weak.output
    strong = "kettle mosaic harbor"
    result = runner.invoke(args=args, input=f"{strong}\n{strong}\n")
    assert result.exit_code == 0, result.output
    admin = db.session.query(User).one()
    assert (admin.email, admin.state, admin.is_admin) == ("root@example.com", "active", True)
    again = runner.invoke(args=args, input=f"{strong}\n{strong}\n")
    assert again.exit_code != 0 and "already exists" in again.output
    assert enqueued.notifications() == []
