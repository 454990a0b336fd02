"""The delivery pipeline: outbox rows, jobs after commit, delivery, retries, relay."""

from __future__ import annotations

import json
import time
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts import service as accounts
from app.extensions import db
from app.jobqueue import job_id
from app.lending import service as lending
from app.models import Notification, utcnow
from app.notifications import outbox
from app.notifications.compose import compose
from app.notifications.mailer import Mailer
from devtools.mailcatcher import MailCatcher
from devtools.redis_server import free_port
from tests.support import notifications


def later(seconds: float):
    return utcnow() + timedelta(seconds=seconds)


def test_jobs_are_enqueued_after_commit_not_before(make, enqueued):
    bob = make.user("Bob")
    outbox.record("welcome", bob)
    db.session.flush()
    [row] = db.session.scalars(select(Notification)).all()
    assert enqueued.jobs() == []  # written, not committed: no job yet
    db.session.commit()
    [job] = enqueued.jobs()
    assert job.id == job_id(row.id) == f"notification-{row.id}"
    assert (job.func_name, job.args) == ("app.notifications.jobs.deliver_notification", [row.id])


def test_jobs_are_json(app, redis, enqueued):
    accounts.sign_up("json@example.com", "Jay")
    [row] = enqueued.notifications()
    raw = zlib.decompress(redis.hget(f"rq:job:{job_id(row.id)}", "data"))
    assert json.loads(raw)[0] == "app.notifications.jobs.deliver_notification"


def test_rolled_back_change_leaves_no_row_and_no_job(make, enqueued):
    bob = make.user("Bob")
    outbox.record("welcome", bob)
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert enqueued.notifications() == [] and enqueued.jobs() == []


def test_one_job_per_notification(make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="agreed")
    lending.fire_event(lena, loan.id, "hand_over", due_date=later(86400 * 3).date())
    rows = enqueued.notifications()
    assert len(rows) == 2
    assert sorted(j.id for j in enqueued.jobs()) == sorted(job_id(n.id) for n in rows)


def test_sent_row_is_never_sent_again(make, delivered, enqueued):
    bob = make.user("Bob")
    outbox.record("welcome", bob)
    db.session.commit()
    [row] = notifications()
    assert len(delivered.run()) == 1
    outbox.enqueue([row.id])  # a stray duplicate job
    outbox.enqueue([row.id])
    assert delivered.run() == []
    [row] = notifications()
    assert (row.status, row.attempts) == ("sent", 1)
    assert outbox.relay(now=later(3600)) == 0


def test_delivery_records_message_id_and_time(make, delivered):
    bob = make.user("Bob")
    outbox.record("welcome", bob)
    db.session.commit()
    [message] = delivered.run()
    [row] = notifications()
    assert row.status == "sent" and row.sent_at is not None and row.last_error is None
    assert message["Message-ID"] == f"<{row.message_token}@mooch.test>"
    assert compose(row).msgId == message["Message-ID"]  # a resend carries the same id


def test_every_statement_of_a_delivery_runs_outside_a_transaction(app, make, delivered):
    """The read, the claim and the record each commit as they run: no BEGIN and
    ROLLBACK around the read (on PostgreSQL two round trips of a mail's five)."""
    from sqlalchemy import event

    lena = make.user("Lena")
    lending.create_loan(lena, "lender", "bram@example.com", "tent")
    statements = []

    def look(connection, cursor, statement, parameters, context, executemany) -> None:
        if "notifications" in statement.split("WHERE")[0]:
            dbapi = cursor.connection
            outside = (
                dbapi.isolation_level is None  # sqlite3
                if type(dbapi).__module__.startswith("sqlite3")
                else dbapi.autocommit  # psycopg
            )
            statements.append((statement.split()[0], outside))

    event.listen(db.engine, "before_cursor_execute", look)
    try:
        [message] = delivered.run()
    finally:
        event.remove(db.engine, "before_cursor_execute", look)
    assert "bram@example.com" in message["To"]
    assert statements == [("SELECT", True), ("UPDATE", True), ("UPDATE", True)]


def test_a_delivery_reads_and_claims_on_one_connection_and_holds_none_while_sending(
    app, make, mail_server
):
    """The read and the claim share one connection from the pool, returned before the
    SMTP conversation; recording the mail sent takes another. Two checkouts a mail, not
    three: on PostgreSQL each is a round trip for the pool's ping."""
    from sqlalchemy import event

    from app.notifications.delivery import deliver

    bob = make.user("Bob")
    row = outbox.record("welcome", bob)
    db.session.commit()
    notification_id = row.id
    db.session.remove()
    seen = []

    def out(*_) -> None:
        seen.append(("checkout", len(mail_server.messages)))

    def back(*_) -> None:
        seen.append(("checkin", len(mail_server.messages)))

    def statement(connection, cursor, text, *_) -> None:
        if "notifications" in text.split("WHERE")[0]:
            seen.append((text.split()[0], len(mail_server.messages)))

    hooks = [(db.engine.pool, "checkout", out), (db.engine.pool, "checkin", back)]
    hooks.append((db.engine, "before_cursor_execute", statement))
    for target, name, hook in hooks:
        event.listen(target, name, hook)
    try:
        assert deliver(notification_id) == "sent"
    finally:
        for target, name, hook in hooks:
            event.remove(target, name, hook)
    # The second number: mails the server had received at that moment.
    assert seen == [
        ("checkout", 0),
        ("SELECT", 0),
        ("UPDATE", 0),
        ("checkin", 0),
        ("checkout", 1),
        ("UPDATE", 1),
        ("checkin", 1),
    ]


def test_a_delivery_ends_the_callers_transaction_and_makes_no_session_of_its_own(
    app, make, mail_server
):
    """A transaction the caller left open (here, one holding SQLite's write lock) is
    rolled back first, or the claim would wait on it; and a mail other than a digest
    is read and recorded without a session at all."""
    from app.notifications.delivery import deliver

    bob, ann = make.user("Bob"), make.user("Ann")
    first, second = outbox.record("welcome", bob), outbox.record("welcome", ann)
    db.session.commit()
    first_id, second_id = first.id, second.id
    ann.name = "Ann, renamed and not committed"
    db.session.flush()  # a write in an open transaction
    assert deliver(first_id) == "sent"
    assert not db.session().in_transaction()
    db.session.remove()
    assert deliver(second_id) == "sent"
    assert not db.session.registry.has()
    assert [m["To"].split()[0] for m in mail_server.messages] == ["Bob", "Ann"]


def wait_until(moment) -> None:
    while utcnow() < moment:
        time.sleep(0.05)


def test_temporary_failure_retries_with_backoff(app, make, delivered, mail_server):
    app.config["NOTIFICATION_RETRY_BASE"] = 0.5
    bob = make.user("Bob")
    mail_server.fail_next(1, "451 4.3.0 Try again later")
    outbox.record("welcome", bob)
    db.session.commit()
    assert delivered.run() == []
    [row] = notifications()
    assert (row.status, row.attempts) == ("pending", 1)
    assert "451" in row.last_error
    assert utcnow() < row.not_before <= later(0.5)
    assert outbox.relay() == 0  # not due yet
    wait_until(row.not_before)
    assert outbox.relay() == 1
    assert len(delivered.run()) == 1
    [row] = notifications()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(mail_server.messages) == 1


def test_permanent_failure_ends_failed_with_the_error(make, delivered, mail_server):
    bob = make.user("Bob")
    mail_server.fail_next(1, "550 5.1.1 No such user")
    outbox.record("welcome", bob)
    db.session.commit()
    assert delivered.run() == []
    [row] = notifications()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "550" in row.last_error and "No such user" in row.last_error
    assert outbox.relay(now=later(86400)) == 0
    assert delivered.run() == [] and mail_server.messages == []


def test_gives_up_after_max_attempts(app, make, delivered, mail_server):
    app.config["NOTIFICATION_MAX_ATTEMPTS"] = 2
    app.config["NOTIFICATION_RETRY_BASE"] = 0.2
    bob = make.user("Bob")
    mail_server.fail_always("421 4.3.2 Service not available")
    outbox.record("welcome", bob)
    db.session.commit()
    delivered.run()
    wait_until(notifications()[0].not_before)
    assert outbox.relay() == 1
    delivered.run()
    [row] = notifications()
    assert (row.status, row.attempts) == ("failed", 2) and "421" in row.last_error


def test_smtp_connection_is_reused_and_reopened_when_dropped(app, make):
    # Each sending thread of a worker has one Mailer: one connection, kept open.
    port = free_port()
    app.config["MAIL_PORT"] = port
    app.extensions["mail"].port = port
    bob = make.user("Bob")
    row = outbox.record("welcome", bob)
    db.session.commit()
    message = compose(row)
    mailer = Mailer(app)
    with MailCatcher(port=port) as first:
        for _ in range(3):
            mailer.send(message)
        assert len(first.messages) == 3
    assert mailer.connects == 1
    time.sleep(1.2)  # idle long enough to be checked before reuse
    with MailCatcher(port=port) as second:
        mailer.send(message)
        assert len(second.messages) == 1
    assert mailer.connects == 2
    mailer.close()


def test_commit_succeeds_when_redis_is_down(settings, redis):
    from app import create_app

    settings["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(settings)
    with app.app_context():
        started = time.monotonic()
        accounts.sign_up("down@example.com", "Dot")
        assert time.monotonic() - started < 5
        assert accounts.find_by_email("down@example.com").state == "pending"
        [row] = notifications()
        assert row.status == "pending"
        db.session.remove()


def test_relay_enqueues_what_redis_lost(make, delivered, redis, enqueued):
    bob = make.user("Bob")
    outbox.record("welcome", bob)
    db.session.commit()
    redis.flushdb()  # Redis restarted empty
    assert outbox.relay(now=utcnow()) == 0  # within the grace period: leave it
    assert outbox.relay(now=later(120)) == 1
    assert outbox.relay(now=later(120)) == 0  # its job is queued now
    assert len(delivered.run()) == 1
    assert outbox.relay(now=later(240)) == 0


def test_relay_leaves_queued_jobs_alone(make, enqueued):
    bob = make.user("Bob")
    outbox.record("welcome", bob)
    db.session.commit()
    assert outbox.relay(now=later(3600)) == 0
    assert len(enqueued.jobs()) == 1


@pytest.mark.parametrize("notifier", ["welcome", "farewell", "password_reset"])
def test_every_mail_has_text_and_html(notifier, make, delivered):
    bob = make.user("Bob")
    outbox.record(notifier, bob)
    db.session.commit()
    [message] = delivered.run()
    kinds = {part.get_content_type() for part in message.walk()}
    assert {"text/plain", "text/html"} <= kinds
