"""The loan clock: expire, remind, mark_overdue, found in the database, idempotent."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.lending.service import run_clock
from app.models import utcnow
from app.worker.clock import tick


def days(n: int):
    return utcnow().date() + timedelta(days=n)


def test_unanswered_requests_and_offers_expire(app, make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    old = make.loan(lena, bram, state="requested")
    offer = make.loan(lena, bram, state="offered")
    fresh = make.loan(lena, bram, state="requested")
    week_ago = utcnow() - timedelta(days=app.config["LOAN_EXPIRY_DAYS"], minutes=1)
    old.state_changed_at = offer.state_changed_at = week_ago
    db.session.commit()

    assert run_clock() == {"expire": 2}
    db.session.expire_all()
    assert (old.state, offer.state, fresh.state) == ("expired", "expired", "requested")
    assert sorted(enqueued.mail()) == sorted(
        [("loan_expired", lena.email), ("loan_expired", bram.email)] * 2
    )
    assert run_clock() == {}
    assert len(enqueued.notifications()) == 4


def test_reminder_once_the_day_before(make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    soon = make.loan(lena, bram, state="lent", due_date=days(1))
    later = make.loan(lena, bram, state="lent", due_date=days(3))
    assert run_clock() == {"remind": 1}
    assert run_clock() == {}
    assert enqueued.mail() == [("loan_due_soon", bram.email)]
    db.session.expire_all()
    assert (soon.state, later.state) == ("lent", "lent")
    assert [e.event for e in soon.events] == ["remind"]


def test_overdue_once_the_due_date_has_passed(make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    late = make.loan(lena, bram, state="lent", due_date=days(-1))
    assert run_clock() == {"mark_overdue": 1}
    assert run_clock() == {}
    db.session.expire_all()
    assert late.state == "overdue"
    assert sorted(enqueued.mail()) == sorted(
        [("loan_overdue", bram.email), ("loan_overdue_lender", lena.email)]
    )


def test_clock_follows_time(make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="lent", due_date=days(5))
    assert run_clock() == {}
    assert run_clock(now=utcnow() + timedelta(days=4)) == {"remind": 1}
    assert run_clock(now=utcnow() + timedelta(days=6)) == {"mark_overdue": 1}
    db.session.expire_all()
    assert [e.event for e in loan.events] == ["remind", "mark_overdue"]


def test_redis_restart_loses_no_reminder(app, make, redis, delivered):
    """The worker's tick runs the clock and the relay: a reminder whose job Redis lost
    is sent all the same, once."""
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    lena, bram = make.user("Lena"), make.user("Bram")
    make.loan(lena, bram, state="lent", due_date=days(1))
    assert tick(app) == {"remind": 1, "relayed": 0}
    redis.flushdb()  # Redis restarts empty: the reminder's job is gone
    assert tick(app) == {"relayed": 1}
    [message] = delivered.run()
    assert bram.email in message["To"] and message["Subject"].startswith("Due back ")
    assert tick(app) == {"relayed": 0}
    assert delivered.run() == []
