"""Every row of the loan table in docs/architecture.md, walked through the service layer.

The expected table below is copied from docs/architecture.md by hand, on purpose: the test
compares the running code with the design, not the code's table with itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.errors import Forbidden, InvalidInput, NotAllowedInState, NotFound
from app.extensions import db
from app.jobqueue import job_id
from app.lending import service as lending
from app.lending import words
from app.lending.states import LOAN, STATES
from app.models import AuditEvent, Loan, utcnow

# The service and its table: the queue's in-memory twin is enough (tests/conftest.py).
JOB_QUEUE = "memory"

BOTH = ("lender", "borrower")

# event, from, to, who may fire it, {recipient: notifier}  (docs/architecture.md, "The loan")
DESIGN = [
    ("accept", "requested", "agreed", ("lender",), {"borrower": "loan_accepted"}),
    ("accept", "offered", "agreed", ("borrower",), {"lender": "loan_accepted"}),
    ("decline", "requested", "declined", ("lender",), {"borrower": "loan_declined"}),
    ("decline", "offered", "declined", ("borrower",), {"lender": "loan_declined"}),
    ("cancel", "requested", "cancelled", ("borrower",), {"lender": "loan_cancelled"}),
    ("cancel", "offered", "cancelled", ("lender",), {"borrower": "loan_cancelled"}),
    ("cancel", "agreed", "cancelled", BOTH, {"other": "loan_cancelled"}),
    ("expire", "requested", "expired", ("system",), dict.fromkeys(BOTH, "loan_expired")),
    ("expire", "offered", "expired", ("system",), dict.fromkeys(BOTH, "loan_expired")),
    ("hand_over", "agreed", "lent", ("lender",), dict.fromkeys(BOTH, "loan_started")),
    ("remind", "lent", "lent", ("system",), {"borrower": "loan_due_soon"}),
    (
        "mark_overdue",
        "lent",
        "overdue",
        ("system",),
        {"borrower": "loan_overdue", "lender": "loan_overdue_lender"},
    ),
    ("mark_returned", "lent", "returned", ("borrower",), {"lender": "loan_returned"}),
    ("mark_returned", "overdue", "returned", ("borrower",), {"lender": "loan_returned"}),
    ("confirm_return", "returned", "closed", ("lender",), dict.fromkeys(BOTH, "loan_closed")),
    ("dispute", "returned", "disputed", ("lender",), dict.fromkeys(BOTH, "loan_disputed")),
    ("add_note", "disputed", "disputed", BOTH, {"other": "loan_note"}),
    ("resolve", "disputed", "closed", BOTH, dict.fromkeys(BOTH, "loan_resolved")),
]
# The steps that need a note (a dispute's reason, a note, the outcome) get this one.
NEEDS_NOTE = ("dispute", "add_note", "resolve")
NOTE = "The handle is cracked."
CREATION = [
    ("borrower", "requested", {"lender": "loan_requested"}),
    ("lender", "offered", {"borrower": "loan_offered"}),
]

# One case per (row, actor allowed to fire it).
ALLOWED = [(row, actor) for row in DESIGN for actor in row[3]]
REFUSED_ACTOR = [
    (row, actor) for row in DESIGN for actor in ("lender", "borrower") if actor not in row[3]
]
EVENTS = sorted({row[0] for row in DESIGN})
REFUSED_STATE = [
    (event, state)
    for event in EVENTS
    for state in STATES
    if state not in {row[1] for row in DESIGN if row[0] == event}
]


def _case_id(case) -> str:
    (event, source, *_), actor = case
    return f"{event}-from-{source}-by-{actor}"


def test_code_table_is_the_design_table():
    code = set()
    for step in LOAN.steps:
        for source in step.source or (None,):
            for actor in sorted(step.who):
                code.add(
                    (step.event, source, step.dest or source, actor, tuple(sorted(step.notify)))
                )
    design = {
        (event, source, dest, actor, tuple(sorted(notify.items())))
        for event, source, dest, who, notify in DESIGN
        for actor in who
    } | {("create", None, dest, role, tuple(sorted(n.items()))) for role, dest, n in CREATION}
    assert code == design


def _scene(make, state):
    lender = make.user("Lena")
    borrower = make.user("Bram")
    due = utcnow().date() + timedelta(days=1)
    loan = make.loan(lender, borrower, state=state, due_date=due)
    return loan, {"lender": lender, "borrower": borrower}


def _counts(loan_id):
    audits = db.session.scalar(select(func.count()).where(AuditEvent.loan_id == loan_id))
    return audits


@pytest.mark.parametrize("case", ALLOWED, ids=[_case_id(c) for c in ALLOWED])
def test_allowed(case, make, enqueued):
    (event, source, dest, _who, notify), actor = case
    loan, people = _scene(make, source)
    note = NOTE if event in NEEDS_NOTE else None
    if actor == "system":
        lending.fire_system_event(loan.id, event)
    else:
        lending.fire_event(people[actor], loan.id, event, note=note)

    db.session.expire_all()
    loan = db.session.get(Loan, loan.id)
    assert loan.state == dest
    [audit] = loan.events
    assert (audit.event, audit.from_state, audit.to_state) == (event, source, dest)
    assert audit.note == note
    assert audit.actor_id == (None if actor == "system" else people[actor].id)

    def resolve(role):
        if role == "other":
            return people["borrower" if actor == "lender" else "lender"]
        return people[role]

    expected = sorted((notifier, resolve(role).email) for role, notifier in notify.items())
    assert sorted(enqueued.mail()) == expected
    rows = enqueued.notifications()
    assert {n.audit_event_id for n in rows} == {audit.id}
    assert sorted(enqueued.job_ids()) == sorted(job_id(n.id) for n in rows)


@pytest.mark.parametrize("case", REFUSED_ACTOR, ids=[_case_id(c) for c in REFUSED_ACTOR])
def test_refused_for_the_wrong_party(case, make, enqueued):
    (event, source, *_), actor = case
    loan, people = _scene(make, source)
    with pytest.raises(Forbidden) as refused:
        lending.fire_event(people[actor], loan.id, event)
    assert refused.value.status == 403
    assert f"“{words.EVENTS[event].name}”" in refused.value.message
    db.session.expire_all()
    assert db.session.get(Loan, loan.id).state == source
    assert _counts(loan.id) == 0
    assert enqueued.notifications() == [] and enqueued.job_ids() == []


@pytest.mark.parametrize("event", EVENTS)
def test_refused_for_a_stranger(event, make, enqueued):
    source = next(row[1] for row in DESIGN if row[0] == event)
    loan, _ = _scene(make, source)
    stranger = make.user("Sam")
    with pytest.raises(NotFound):
        lending.fire_event(stranger, loan.id, event)
    assert enqueued.notifications() == [] and _counts(loan.id) == 0


@pytest.mark.parametrize(("event", "state"), REFUSED_STATE)
def test_refused_in_the_wrong_state(event, state, make, enqueued):
    loan, people = _scene(make, state)
    for actor in ("lender", "borrower"):
        with pytest.raises(NotAllowedInState) as refused:
            lending.fire_event(people[actor], loan.id, event)
        assert refused.value.status == 409
        assert f"“{words.STATE_NAMES[state]}”" in refused.value.message
    if event in ("expire", "remind", "mark_overdue"):
        with pytest.raises(NotAllowedInState):
            lending.fire_system_event(loan.id, event)
    db.session.expire_all()
    assert db.session.get(Loan, loan.id).state == state
    assert _counts(loan.id) == 0
    assert enqueued.notifications() == [] and enqueued.job_ids() == []


@pytest.mark.parametrize(("role", "state", "notify"), CREATION)
def test_creation(role, state, notify, make, enqueued):
    me = make.user("Mia")
    other = make.user("Olle")
    loan = lending.create_loan(me, role, other.email, "  tent  ")
    assert (loan.state, loan.item) == (state, "tent")
    assert loan.party(role).id == me.id
    [audit] = loan.events
    assert (audit.event, audit.from_state, audit.to_state, audit.actor_id) == (
        "create",
        None,
        state,
        me.id,
    )
    [(recipient_role, notifier)] = notify.items()
    assert enqueued.mail() == [(notifier, loan.party(recipient_role).email)]


def test_unknown_event_is_invalid_input(make, enqueued):
    loan, people = _scene(make, "requested")
    with pytest.raises(InvalidInput) as bad:
        lending.fire_event(people["lender"], loan.id, "teleport")
    assert bad.value.field == "event"
    with pytest.raises(InvalidInput):
        lending.fire_event(people["lender"], loan.id, "create")
    assert enqueued.notifications() == []


def test_allowed_events_follow_the_table(make):
    loan, people = _scene(make, "agreed")
    assert lending.allowed_events(loan, people["lender"]) == ["cancel", "hand_over"]
    assert lending.allowed_events(loan, people["borrower"]) == ["cancel"]
