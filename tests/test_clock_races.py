"""The loan clock against the parties and against other clocks.

A system event is held to the same rule as a party's: it conflicts with any change
made to the loan since the clock looked (the loan's version), and it happens at most
once however many clocks run at the same time (`flask loans clock` beside a worker,
or every worker ticking while Redis is down). Runs on SQLite, and on PostgreSQL with
TEST_DATABASE_URL.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import Conflict, MoochError
from app.extensions import db
from app.lending import service as lending
from app.models import AuditEvent, Loan, Notification, User, utcnow


def days(n: int):
    return utcnow().date() + timedelta(days=n)


def _count(*where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Notification).where(*where))


def _events(loan_id: int) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(AuditEvent.event).where(AuditEvent.loan_id == loan_id).order_by(AuditEvent.id)
        )
    )


def _fire_due(entry):
    """Fire one entry of the clock's due list the way run_clock does."""
    return lending.fire_system_event(*entry)


def test_a_stale_due_list_reminds_no_one_who_returned_the_item(make, enqueued):
    """The clock looks, the borrower marks the loan returned, then the clock fires
    from what it saw: refused, and no "due soon" mail."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="lent", due_date=days(1))
    due = lending._due_for_clock(utcnow())
    assert [e[:2] for e in due] == [(loan.id, "remind")]

    lending.fire_event(bram, loan.id, "mark_returned")
    with pytest.raises(MoochError) as refused:
        _fire_due(due[0])
    assert refused.value.status == 409

    assert _count(Notification.notifier == "loan_due_soon") == 0
    assert _events(loan.id) == ["mark_returned"]
    assert lending.run_clock() == {}


def test_a_return_committed_while_the_clock_reminds_wins(app, make, enqueued, monkeypatch):
    """The interleaving of the defect, made deterministic: the clock has read the loan
    (lent) inside its own transaction when the borrower's mark_returned commits from
    another session. The clock's remind must lose like a party's event would, not
    commit "lent → lent" after "lent → returned"."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="lent", due_date=days(1))
    loan_id, bram_id = loan.id, bram.id
    original = lending._fire

    def borrower_first(row, step, actor, **kw):
        if step.event == "remind":
            with app.app_context():  # a session and connection of its own
                try:
                    lending.fire_event(db.session.get(User, bram_id), loan_id, "mark_returned")
                finally:
                    db.session.remove()
        return original(row, step, actor, **kw)

    monkeypatch.setattr(lending, "_fire", borrower_first)
    with pytest.raises(Conflict):
        lending.fire_system_event(*lending._due_for_clock(utcnow())[0])
    monkeypatch.setattr(lending, "_fire", original)

    db.session.expire_all()
    assert db.session.get(Loan, loan_id).state == "returned"
    assert _events(loan_id) == ["mark_returned"]
    assert sorted(enqueued.mail()) == [("loan_returned", lena.email)]
    assert lending.run_clock() == {}


@pytest.mark.parametrize(
    ("state", "due", "event"),
    [("lent", 1, "remind"), ("lent", -1, "mark_overdue"), ("requested", None, "expire")],
)
def test_two_clocks_from_one_due_list_fire_once(app, make, enqueued, state, due, event):
    """Two clocks both look before either fires; then both fire what they saw."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loans = [
        make.loan(lena, bram, state=state, due_date=None if due is None else days(due))
        for _ in range(3)
    ]
    if event == "expire":
        for loan in loans:
            loan.state_changed_at = utcnow() - timedelta(days=app.config["LOAN_EXPIRY_DAYS"] + 1)
        db.session.commit()
    now = utcnow()
    first, second = lending._due_for_clock(now), lending._due_for_clock(now)
    assert sorted(e[:2] for e in first) == sorted((loan.id, event) for loan in loans)

    for entry in first:
        _fire_due(entry)
    for entry in second:
        with pytest.raises(MoochError) as refused:
            _fire_due(entry)
        assert refused.value.status == 409

    for loan in loans:
        assert _events(loan.id) == [event]
    per_loan = {"remind": 1, "mark_overdue": 2, "expire": 2}[event]
    assert _count() == per_loan * len(loans)
    assert lending.run_clock() == {}


def _clock_in_own_session(app, results, index):
    with app.app_context():
        try:
            results[index] = lending.run_clock()
        except BaseException as exc:  # reported by the test
            results[index] = exc
        finally:
            db.session.remove()


@pytest.mark.parametrize("clocks", [2, 3])
def test_clocks_running_at_once_remind_each_loan_once(app, make, enqueued, monkeypatch, clocks):
    """Several clocks at once, each in its own app context (session, connection),
    all having read the due list before any fires: each loan is reminded once."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loans = [make.loan(lena, bram, state="lent", due_date=days(1)) for _ in range(15)]
    looked = threading.Barrier(clocks)
    original = lending._due_for_clock

    def due_then_wait(now):
        found = original(now)
        looked.wait(20)
        return found

    monkeypatch.setattr(lending, "_due_for_clock", due_then_wait)
    results: dict[int, object] = {}
    threads = [
        threading.Thread(target=_clock_in_own_session, args=(app, results, n))
        for n in range(clocks)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.setattr(lending, "_due_for_clock", original)

    assert all(isinstance(r, dict) for r in results.values()), results
    assert sum(r.get("remind", 0) for r in results.values()) == len(loans), results
    assert _count(Notification.notifier == "loan_due_soon") == len(loans)
    for loan in loans:
        assert _events(loan.id) == ["remind"]
    assert sorted(enqueued.mail()) == [("loan_due_soon", bram.email)] * len(loans)


def test_clocks_racing_freely_remind_each_loan_once(app, make, enqueued):
    """No barrier: three clocks started together, several rounds."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loans = [make.loan(lena, bram, state="lent", due_date=days(1)) for _ in range(15)]
    results: dict[int, object] = {}
    threads = [
        threading.Thread(target=_clock_in_own_session, args=(app, results, n)) for n in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(isinstance(r, dict) for r in results.values()), results
    assert _count(Notification.notifier == "loan_due_soon") == len(loans)
    for loan in loans:
        assert _events(loan.id) == ["remind"]


def _act(app, ready, results, name, fire):
    with app.app_context():
        try:
            ready.wait(10)
            fire()
            results[name] = "won"
        except MoochError as exc:
            results[name] = exc
        finally:
            db.session.remove()


def _clock_and_borrower_at_once(app, due, borrower_id) -> dict[str, object]:
    ready = threading.Barrier(2)
    results: dict[str, object] = {}

    def clock():
        _fire_due(due)

    def borrower():
        lending.fire_event(db.session.get(User, borrower_id), due[0], "mark_returned")

    threads = [
        threading.Thread(target=_act, args=(app, ready, results, name, fire))
        for name, fire in (("clock", clock), ("borrower", borrower))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_the_clock_and_the_borrower_at_once(app, make, enqueued):
    """Remind and mark_returned on one loan from two sessions at once, several times:
    a loser gets 409 and writes nothing; never "due soon" after "returned"."""
    lena, bram = make.user("Lena"), make.user("Bram")
    for _ in range(6):
        loan = make.loan(lena, bram, state="lent", due_date=days(1))
        [due] = lending._due_for_clock(utcnow())
        results = _clock_and_borrower_at_once(app, due, bram.id)
        lost = [r for r in results.values() if r != "won"]
        assert len(results) == 2 and len(lost) <= 1, results
        assert all(r.status == 409 for r in lost), results
        # Both win only when the remind committed before the borrower even read the
        # loan; what must never be is a remind recorded after the return.
        assert _events(loan.id) in (["remind"], ["mark_returned"], ["remind", "mark_returned"])
