"""Two conflicting events on one loan at once: exactly one wins, the other gets a
409 and produces no notification. Each side has its own app context, hence its own
database session and connection."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from app.errors import Conflict, MoochError
from app.extensions import db
from app.lending import service as lending
from app.models import User

on_postgres = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL (PostgreSQL)"
)


def _fire_in_own_session(app, results, name, user_id, loan_id, event, ready=None):
    with app.app_context():
        try:
            actor = db.session.get(User, user_id)
            if ready is not None:
                ready.wait(10)
            lending.fire_event(actor, loan_id, event)
            results[name] = "won"
        except MoochError as exc:
            results[name] = exc
        finally:
            db.session.remove()


def _race(app, lena, bram, loan_id, ready=None):
    results = {}
    threads = [
        threading.Thread(
            target=_fire_in_own_session,
            args=(app, results, "decline", lena.id, loan_id, "decline", ready),
        ),
        threading.Thread(
            target=_fire_in_own_session,
            args=(app, results, "cancel", bram.id, loan_id, "cancel", ready),
        ),
    ]
    for t in threads:
        t.start()
    return threads, results


def _check_one_winner(results, enqueued, lena, bram):
    winners = [name for name, r in results.items() if r == "won"]
    losers = [r for r in results.values() if r != "won"]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].status == 409, losers[0]
    expected = {
        "decline": [("loan_declined", bram.email)],
        "cancel": [("loan_cancelled", lena.email)],
    }[winners[0]]
    return winners[0], expected


def test_concurrent_events_one_wins(app, make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    expected_mail = []
    for _ in range(8):
        loan = make.loan(lena, bram, state="requested")
        ready = threading.Barrier(2)
        threads, results = _race(app, lena, bram, loan.id, ready)
        for t in threads:
            t.join(20)
        _, expected = _check_one_winner(results, enqueued, lena, bram)
        expected_mail += expected
    db.session.expire_all()
    assert sorted(enqueued.mail()) == sorted(expected_mail)


@on_postgres
def test_both_writes_wait_on_the_row_then_one_conflicts(app, make, enqueued, database_url):
    """Deterministic on PostgreSQL: a third connection holds the loan's row lock until
    both services are blocked writing it; released, one commits and the other's
    version check fails."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="requested")
    db.session.commit()
    engine = create_engine(database_url)
    blocker = engine.connect()
    holding = blocker.begin()
    blocker.execute(text("SELECT id FROM loans WHERE id = :id FOR UPDATE"), {"id": loan.id})
    # Autocommit: pg_stat_activity is a snapshot for the length of a transaction.
    watcher = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        threads, results = _race(app, lena, bram, loan.id)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
            if waiting >= 2:
                break
            time.sleep(0.05)
        assert waiting >= 2, "both writers should be waiting on the row lock"
        holding.rollback()
        for t in threads:
            t.join(20)
    finally:
        blocker.close()
        watcher.close()
        engine.dispose()
    _, expected = _check_one_winner(results, enqueued, lena, bram)
    assert isinstance(next(r for r in results.values() if r != "won"), Conflict)
    assert enqueued.mail() == expected
    assert len(enqueued.jobs()) == 1
