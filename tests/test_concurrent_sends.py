"""Every delivery guarantee holds per send when a worker process sends several mails at
once (app.worker.runner.AppWorker, --concurrency / WORKER_CONCURRENCY): a graceful
SIGTERM finishes or gives back each send in hand, a SIGKILL leaves each one to its
lease and the relay, and two processes draining one queue send every row once.

Real `python worker.py` processes (tests/processes.py), the test's Redis and database,
and a real SMTP server (devtools.mailcatcher) that holds deliveries in hand: several
held at once is what shows the sends overlap."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter

import pytest

from app.accounts import service as accounts
from app.jobqueue import job_id
from app.models import Notification
from devtools.mailcatcher import MailCatcher
from tests.processes import (
    Workers,
    describe,
    each_sent_once,
    listening,
    queued_ids,
    rows,
    sign_up,
    state,
    wait_until,
)

pytestmark = pytest.mark.slow

CONCURRENCY = 4
MAILS = 6  # more than one worker holds at once: two wait in the queue
# A lease longer than any send here. The FAST one (2 s) is shorter than a held send,
# so the worker's own relay would take a send still in hand for an abandoned one.
LONG_LEASE = 60


def sign_ups(count: int) -> list[int]:
    """`count` committed sign-ups, one notification (and one job) each; their row ids."""
    return [sign_up(f"user{n}@example.com", f"User {n}") for n in range(count)]


def held_at_once(mail_server: MailCatcher, workers: Workers, count: int) -> list[Notification]:
    """Until the server holds `count` deliveries at the same time, and no more come:
    the worker's threads are all in the middle of a send. Returns the rows they claimed
    (each leased: attempts 1, not_before set), after checking the rest are untouched
    and still queued."""
    wait_until(
        lambda: mail_server.held_count() >= count,
        f"{count} deliveries held at once",
        details=lambda: state(workers, mail_server),
    )
    time.sleep(0.5)  # a thread too many would reach DATA by now
    assert mail_server.held_count() == count, state(workers, mail_server)
    found = rows()
    claimed = [r for r in found if r.attempts == 1]
    assert len(claimed) == count, state(workers, mail_server)
    for row in claimed:
        assert (row.status, row.not_before is not None) == ("pending", True), describe(row)
    waiting = [r for r in found if r not in claimed]
    for row in waiting:
        assert (row.status, row.attempts, row.not_before) == ("pending", 0, None), describe(row)
    assert sorted(queued_ids()) == sorted(job_id(r.id) for r in waiting), state(
        workers, mail_server
    )
    return claimed


# -- SIGTERM with sends in hand -----------------------------------------------------------


def test_sigterm_with_a_long_grace_finishes_every_send_in_hand(app, mail_server, workers):
    mail_server.hold()
    first = workers.start(
        "--concurrency",
        str(CONCURRENCY),
        WORKER_SHUTDOWN_GRACE=30,
        NOTIFICATION_CLAIM_SECONDS=LONG_LEASE,
    )
    listening(first)
    sign_ups(MAILS)
    in_hand = held_at_once(mail_server, workers, CONCURRENCY)

    first.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert first.alive(), "the worker left its sends in hand\n" + workers.tails()
    assert f"finishing the sends in hand ({CONCURRENCY}," in first.output(), workers.tails()
    mail_server.release()

    assert first.exits_within(15), workers.tails()
    assert first.process.returncode == 0, workers.tails()
    # The sends in hand were finished, and no new one was started after the signal.
    assert len(mail_server.messages) == CONCURRENCY, state(workers, mail_server)
    by_id = {r.id: r for r in rows()}
    for row in in_hand:
        assert (by_id[row.id].status, by_id[row.id].attempts) == ("sent", 1), describe(row)
    rest = [r for r in by_id.values() if r.id not in {h.id for h in in_hand}]
    assert [(r.status, r.attempts) for r in rest] == [("pending", 0)] * (MAILS - CONCURRENCY)
    assert sorted(queued_ids()) == sorted(job_id(r.id) for r in rest)

    workers.start("--concurrency", str(CONCURRENCY))
    sent = each_sent_once(mail_server, workers, MAILS)
    assert [r.attempts for r in sent] == [1] * MAILS, [describe(r) for r in sent]


def test_sigterm_with_a_short_grace_gives_every_send_in_hand_back(app, mail_server, workers):
    mail_server.hold()
    first = workers.start(
        WORKER_CONCURRENCY=CONCURRENCY,
        WORKER_SHUTDOWN_GRACE=1,
        NOTIFICATION_CLAIM_SECONDS=LONG_LEASE,
    )
    listening(first)
    notifications = sign_ups(MAILS)
    held_at_once(mail_server, workers, CONCURRENCY)

    first.process.send_signal(signal.SIGTERM)
    assert first.exits_within(10), workers.tails()
    assert first.process.returncode == 0, workers.tails()
    assert f"grace period of 1s ran out; giving {CONCURRENCY} send(s) back" in first.output()
    assert first.output().count("outcome=given_back") == CONCURRENCY, workers.tails()

    # Every send given back: pending, its attempt uncounted, due now, its job queued
    # again beside the jobs that were never taken.
    for row in rows():
        assert (row.status, row.attempts, row.not_before) == ("pending", 0, None), describe(row)
    assert sorted(queued_ids()) == sorted(job_id(n) for n in notifications)

    mail_server.release()  # the catcher drops a message whose client is gone
    time.sleep(0.5)
    assert mail_server.messages == [], "an abandoned send was delivered"
    workers.start(WORKER_CONCURRENCY=CONCURRENCY)
    sent = each_sent_once(mail_server, workers, MAILS)
    assert [r.attempts for r in sent] == [1] * MAILS, [describe(r) for r in sent]


# -- SIGKILL with sends in hand -----------------------------------------------------------


def test_sigkill_with_sends_in_hand_resends_each_once_after_its_lease(app, mail_server, workers):
    mail_server.hold()
    # The FAST lease (2 s), which may run out while the sends are held: no clock in this
    # worker, so its relay does not send them again before it is killed.
    first = workers.start("--concurrency", str(CONCURRENCY), "--no-clock")
    listening(first)
    sign_ups(MAILS)
    in_hand = held_at_once(mail_server, workers, CONCURRENCY)
    tokens = {r.id: r.message_token for r in in_hand}

    first.kill()
    mail_server.release()  # the catcher drops a message whose client is gone
    time.sleep(0.5)
    assert mail_server.messages == [], "an abandoned send was delivered"

    # The rows stay leased until their lease runs out; then the relay sends them again.
    workers.start("--concurrency", str(CONCURRENCY))
    sent = each_sent_once(mail_server, workers, MAILS)
    for row in sent:
        if row.id in tokens:
            # Claimed twice, sent once, with the Message-ID of the interrupted send.
            assert (row.attempts, row.message_token) == (2, tokens[row.id]), describe(row)
        else:
            assert row.attempts == 1, describe(row)


# -- two processes, many sends ------------------------------------------------------------

MANY = 200
SENT_LINE = re.compile(r"delivery notification=(\d+) .*outcome=sent")


def test_two_workers_sending_eight_at_a_time_send_every_row_once(app, mail_server, workers):
    pair = [
        workers.start("--concurrency", "8", NOTIFICATION_CLAIM_SECONDS=LONG_LEASE) for _ in range(2)
    ]
    for worker in pair:
        listening(worker)
    # Committed while both workers take them: the sends and the commits interleave.
    for n in range(MANY):
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    notifications = [r.id for r in rows()]
    assert len(notifications) == MANY

    sent = each_sent_once(mail_server, workers, MANY)
    assert Counter(r.attempts for r in sent) == {1: MANY}, [
        describe(r) for r in sent if r.attempts != 1
    ]
    # Each worker's log says which rows it sent: together every row, none twice, and
    # both took part.
    wait_until(
        lambda: sum(len(SENT_LINE.findall(w.output())) for w in pair) >= MANY,
        "a sent line for every row",
        details=workers.tails,
    )
    by_worker = [[int(n) for n in SENT_LINE.findall(w.output())] for w in pair]
    assert sorted(by_worker[0] + by_worker[1]) == sorted(notifications)
    assert all(by_worker), [len(ids) for ids in by_worker]
    for worker in pair:
        assert worker.alive(), workers.tails()
        assert "Traceback" not in worker.output(), worker.tail()


# -- which thread sends ------------------------------------------------------------------


def test_mails_that_come_one_at_a_time_go_over_the_connection_used_last(app, mail_server, workers):
    """Once a burst has given every thread its own SMTP connection, a light load goes
    to the thread that finished last (app/worker/send_threads.py), on its warm
    connection; taking the threads in turn would pick the idlest connection each time,
    the one a real server most likely closed."""
    worker = workers.start(f"--concurrency={CONCURRENCY}", NOTIFICATION_CLAIM_SECONDS=LONG_LEASE)
    listening(worker)
    mail_server.hold()
    sign_ups(CONCURRENCY)
    held_at_once(mail_server, workers, CONCURRENCY)  # each thread on its own connection
    mail_server.release()
    each_sent_once(mail_server, workers, CONCURRENCY)
    assert len({c.peer for c in mail_server.caught}) == CONCURRENCY

    later = 8
    for n in range(later):
        accounts.sign_up(f"later{n}@example.com", f"Later {n}")
        wait_until(
            lambda: all(r.status == "sent" for r in rows()),
            f"later mail {n} recorded sent",
            details=lambda: state(workers, mail_server),
        )
        time.sleep(0.1)  # its thread back among the idle ones
    used = Counter(c.peer for c in mail_server.caught[CONCURRENCY:])
    assert sum(used.values()) == later
    # In turn, the 8 would have gone over all 4 connections.
    assert len(used) <= 2, used
