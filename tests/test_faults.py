"""The delivery pipeline's guarantees under real faults (docs/architecture.md, "The
delivery pipeline"): real worker processes, a real Redis that dies, a real
SMTP server that stalls, refuses or is not there. Nothing is mocked.

Worker processes share the test's database, Redis and mail server; the test reads the
rows they change after ending its own transaction, so it never holds a lock they need.
"""

from __future__ import annotations

import signal
import time

import pytest
from flask import current_app
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import create_engine, select, update

from app.accounts import service as accounts
from app.errors import Conflict
from app.extensions import db
from app.lending import service as lending
from app.lending.states import LOAN
from app.models import AuditEvent, Loan, Notification, User
from app.notifications.compose import mail_domain
from app.transaction import atomic
from devtools.mailcatcher import MailCatcher
from devtools.redis_server import RedisServer
from tests.processes import (
    SETTLE,
    Workers,
    assert_stays_one,
    describe,
    free_port,
    one_row,
    resent_once_by_a_new_worker,
    rows,
    sign_up,
    state,
    wait_for_mail,
    wait_until,
)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, which it may kill and restart."""
    server = RedisServer(directory=tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def app_on_own_redis(request, settings, own_redis):
    """The app (and any worker started later) configured with the test's own Redis."""
    settings["REDIS_URL"] = own_redis.url
    return request.getfixturevalue("app")


# -- 1. the worker dies in the middle of a delivery ---------------------------------


@pytest.mark.slow
def test_worker_killed_mid_delivery_is_resent_once_with_the_same_message_id(
    app, mail_server, workers
):
    mail_server.hold()
    first = workers.start()
    sign_up()

    def holding() -> bool:
        return mail_server.held_count() >= 1

    wait_until(holding, "the first worker to reach DATA", details=lambda: state(workers))
    claimed = one_row()
    assert (claimed.status, claimed.attempts) == ("pending", 1), describe(claimed)

    first.kill()
    row = resent_once_by_a_new_worker(mail_server, workers)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None), describe(row)
    [message] = mail_server.messages
    assert message["To"].addresses[0].addr_spec == "bob@example.com"
    # The resend is the same message: a client that did get the first one can tell.
    assert message["Message-ID"] == f"<{row.message_token}@{mail_domain()}>"


# -- 2. Redis is down when a change commits ------------------------------------------


@pytest.mark.slow
def test_commit_while_redis_is_down_succeeds_and_the_mail_goes_after_restart(
    app_on_own_redis, own_redis, mail_server, workers
):
    own_redis.kill()
    assert not own_redis.is_running()

    started = time.monotonic()
    accounts.sign_up("bob@example.com", "Bob")  # must not raise
    took = time.monotonic() - started
    assert took < 5, f"a commit with Redis down took {took:.1f}s"

    db.session.rollback()
    user = db.session.scalar(select(User).where(User.email == "bob@example.com"))
    assert user is not None and user.state == "pending"
    row = one_row()
    assert (row.notifier, row.status, row.attempts) == ("signup_confirmation", "pending", 0)

    own_redis.restart()  # empty: no job for the row exists anywhere
    workers.start()
    wait_for_mail(mail_server, 1, workers)
    assert_stays_one(mail_server, workers)

    row = one_row()
    assert (row.status, row.attempts) == ("sent", 1), describe(row)
    assert mail_server.messages[0]["Subject"] == "Confirm your email address for Mooch"


def wait_idle(own_redis: RedisServer, workers: Workers) -> None:
    """Until every worker waits on an empty queue: none is between Redis calls of a job."""
    connection = Redis.from_url(own_redis.url, socket_timeout=5)
    queue = Queue(current_app.config["RQ_QUEUE"], connection=connection)

    def idle() -> bool:
        found = Worker.all(connection=connection)
        return queue.count == 0 and bool(found) and all(w.get_state() == "idle" for w in found)

    try:
        wait_until(idle, "the worker to be idle", details=lambda: state(workers))
    finally:
        connection.close()


def two_mails_after_the_outage(mail_server: MailCatcher, workers: Workers) -> None:
    wait_for_mail(mail_server, 2, workers)
    time.sleep(SETTLE)
    assert len(mail_server.messages) == 2, state(workers, mail_server)
    assert [r.status for r in rows()] == ["sent", "sent"], state(workers, mail_server)
    assert sorted(m["To"] for m in mail_server.messages) == [
        "carol@example.com",
        "dave@example.com",
    ]


@pytest.mark.slow
def test_an_idle_worker_survives_redis_dying_and_coming_back_empty(
    app_on_own_redis, own_redis, mail_server, workers
):
    worker = workers.start()
    sign_up("carol@example.com", "Carol")
    wait_for_mail(mail_server, 1, workers)
    wait_idle(own_redis, workers)

    own_redis.kill()
    accounts.sign_up("dave@example.com", "Dave")
    time.sleep(1)  # the worker's wait on the queue and its clock both meet the outage
    own_redis.restart()

    two_mails_after_the_outage(mail_server, workers)
    assert worker.alive(), workers.tails()


@pytest.mark.slow
def test_sigterm_stops_an_idle_worker(app_on_own_redis, own_redis, workers):
    worker = workers.start()
    wait_idle(own_redis, workers)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.exits_within(10), workers.tails()
    assert worker.process.returncode == 0, workers.tails()


@pytest.mark.slow
def test_an_idle_worker_keeps_waiting_for_work_without_errors(
    app_on_own_redis, own_redis, mail_server, workers
):
    """RQ blocks on Redis for minutes waiting for a job: that wait must not run into the
    app's short Redis read timeout (5 s), fail, and back off before taking new work."""
    workers.start(WORKER_TICK_SECONDS=3600, NOTIFICATION_RELAY_GRACE=3600)  # no relay help
    wait_idle(own_redis, workers)
    time.sleep(7)
    sign_up("carol@example.com", "Carol")
    wait_for_mail(mail_server, 1, workers)
    log = workers.tails()
    assert "Timeout reading" not in log and "could not connect" not in log, log


@pytest.mark.slow
def test_a_busy_worker_survives_redis_dying_under_it(
    app_on_own_redis, own_redis, mail_server, workers
):
    mail_server.hold()
    worker = workers.start()
    first = sign_up("carol@example.com", "Carol")
    wait_until(lambda: mail_server.held_count() >= 1, "DATA", details=lambda: state(workers))

    own_redis.kill()
    accounts.sign_up("dave@example.com", "Dave")
    mail_server.release()  # the send succeeds; RQ then records the job's end in Redis

    def recorded() -> bool:
        return next(r for r in rows() if r.id == first).status == "sent"

    wait_until(recorded, "the first mail to be recorded", details=lambda: state(workers))
    assert not worker.exits_within(5), workers.tails()
    own_redis.restart()
    two_mails_after_the_outage(mail_server, workers)


@pytest.mark.slow
def test_a_worker_started_before_redis_waits_for_it(
    app_on_own_redis, own_redis, mail_server, workers
):
    own_redis.kill()
    sign_up("carol@example.com", "Carol")
    worker = workers.start()
    assert not worker.exits_within(8), workers.tails()
    own_redis.restart()
    wait_for_mail(mail_server, 1, workers)


# -- 3. the SMTP server is down, refuses for a while, or refuses for good --------------


@pytest.mark.slow
def test_smtp_connection_refused_retries_until_a_server_listens(app, workers):
    port = free_port()  # nothing listens here yet
    workers.start(MAIL_PORT=port, NOTIFICATION_RETRY_BASE=0.5)
    sign_up()

    def failed_once() -> bool:
        row = one_row()
        return row.attempts >= 1 and row.last_error is not None

    wait_until(failed_once, "a failed attempt to be recorded", details=lambda: state(workers))
    row = one_row()
    assert row.status == "pending", describe(row)
    assert "ConnectionRefusedError" in row.last_error, describe(row)

    with MailCatcher(port=port) as late:
        wait_for_mail(late, 1, workers)
        assert_stays_one(late, workers)
        row = one_row()
        assert (row.status, row.last_error) == ("sent", None), describe(row)
        assert row.attempts >= 2, describe(row)


@pytest.mark.slow
def test_smtp_temporary_failure_retries_with_backoff_then_delivers_once(app, mail_server, workers):
    mail_server.fail_always("421 4.3.2 Service not available")
    workers.start(NOTIFICATION_RETRY_BASE=0.5)
    sign_up()

    def retried() -> bool:
        return one_row().attempts >= 2

    wait_until(retried, "a second attempt", details=lambda: state(workers, mail_server))
    row = one_row()
    assert row.status == "pending", describe(row)
    assert "421" in row.last_error and "Service not available" in row.last_error, describe(row)
    assert mail_server.messages == []

    mail_server.reset_faults()
    wait_for_mail(mail_server, 1, workers)
    assert_stays_one(mail_server, workers)
    row = one_row()
    assert (row.status, row.last_error) == ("sent", None), describe(row)


@pytest.mark.slow
def test_smtp_permanent_failure_ends_failed_with_the_error_and_no_retry(app, mail_server, workers):
    mail_server.fail_next(1, "550 5.1.1 No such user")
    workers.start(NOTIFICATION_RETRY_BASE=0.5)
    sign_up()

    def ended() -> bool:
        return one_row().status != "pending"

    wait_until(ended, "the notification to end", details=lambda: state(workers, mail_server))
    time.sleep(SETTLE)  # a retry, if there were one, would happen now (and succeed)
    row = one_row()
    assert (row.status, row.attempts, row.not_before) == ("failed", 1, None), describe(row)
    assert "550" in row.last_error and "No such user" in row.last_error, describe(row)
    assert mail_server.messages == [], state(workers, mail_server)


# -- 4. a transition rolled back after its callbacks ran ----------------------------


def _activate(make) -> tuple[str, str]:
    user = make.user("Carol", state="pending")
    accounts._fire(user, "activate", actor=user)
    return "activate", "welcome"


def _accept(make) -> tuple[str, str]:
    lender, borrower = make.user("Lena"), make.user("Bob")
    loan = make.loan(lender, borrower, state="requested")
    lending._fire(loan, LOAN.check(loan.state, "accept", "lender"), lender)
    return "accept", "loan_accepted"


@pytest.mark.parametrize("transition", [_activate, _accept], ids=["account", "loan"])
def test_rolled_back_transition_leaves_no_notification_job_or_mail(
    app, make, enqueued, delivered, transition
):
    event, notifier = transition(make)
    db.session.flush()  # the callback's rows are really written, in this transaction
    assert [n.notifier for n in db.session.scalars(select(Notification))] == [notifier]
    assert [a.event for a in db.session.scalars(select(AuditEvent))] == [event]

    db.session.rollback()

    assert enqueued.notifications() == []
    assert enqueued.jobs() == []
    assert delivered.run() == []
    assert delivered.messages == []
    # Nothing of the rolled-back transaction rides along with the next commit.
    make.user("Zoe")
    assert enqueued.jobs() == []
    accounts.sign_up("yan@example.com", "Yan")
    assert enqueued.mail() == [("signup_confirmation", "yan@example.com")]
    assert len(enqueued.jobs()) == 1
    [message] = delivered.run()
    assert message["To"] == "yan@example.com"  # a pending account's name is not proven


def _bump_version(app, loan_id: int) -> list[str]:
    """Another process changed the loan: only its version says so."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.begin() as conn:
            conn.execute(update(Loan).where(Loan.id == loan_id).values(version=Loan.version + 1))
    finally:
        engine.dispose()
    return []


def _borrower_cancels(app, loan_id: int) -> list[str]:
    """The other party called the loan off first, through the service, in its own
    session: its mail is the only one that may go."""
    with app.app_context():
        loan = db.session.get(Loan, loan_id)
        lending.fire_event(loan.borrower, loan_id, "cancel")
    return ["loan_cancelled"]


@pytest.mark.parametrize(
    "concurrent", [_bump_version, _borrower_cancels], ids=["version-bump", "other-party"]
)
def test_commit_failing_after_callbacks_leaves_no_notification_job_or_mail(
    app, make, enqueued, delivered, concurrent
):
    lender, borrower = make.user("Lena"), make.user("Bob")
    loan = make.loan(lender, borrower, state="requested")
    loan_id, lender_email = loan.id, lender.email

    winners: list[str] = []
    with pytest.raises(Conflict), atomic():
        loan = lending.loan_for(lender, loan_id)
        # Both parties loaded now, so the callback needs no query and causes no autoflush:
        # everything it adds is still unwritten when the commit finds the conflict.
        assert (loan.lender.name, loan.borrower.name) == ("Lena", "Bob")
        winners = concurrent(app, loan_id)
        lending._fire(loan, LOAN.check(loan.state, "accept", "lender"), lender)
        pending = [n.notifier for n in db.session.new if isinstance(n, Notification)]
        assert pending == ["loan_accepted"]  # the callback ran; its rows await the commit

    assert [n.notifier for n in enqueued.notifications()] == winners
    assert len(enqueued.jobs()) == len(winners)
    sent = delivered.run()
    assert [m["To"] for m in sent] == [f"Lena <{lender_email}>" for _ in winners]
    assert "agreed" not in [r.state for r in db.session.scalars(select(Loan))]
