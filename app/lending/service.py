"""Loan actions: create a loan, fire an event, run the loan clock.

Each checks the actor against the table in states.py, fires the trigger through
`transitions`, writes the audit row and the notifications in the transition's
callback, and commits, or raises a typed error from app.errors with nothing written.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from app import validation
from app.accounts import service as accounts
from app.errors import Conflict, Forbidden, InvalidInput, MoochError, NotFound
from app.extensions import db
from app.history import record_step
from app.lending.states import LOAN, OPEN_STATES, PARTIES
from app.models import AuditEvent, Loan, User, utcnow
from app.transaction import atomic
from app.workflow import Step

log = logging.getLogger(__name__)

MAX_ITEM = 200
MAX_MESSAGE = 2000


def today() -> date:
    return utcnow().date()


# -- reading ------------------------------------------------------------------


def loan_for(user: User, loan_id: object) -> Loan:
    """The loan if `user` is one of its parties; NotFound otherwise, whether it
    exists or not, so that ids cannot be probed."""
    if not isinstance(loan_id, int) or isinstance(loan_id, bool) or not 0 < loan_id < 2**31:
        raise NotFound("No such loan.")
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.role_of(user) is None:
        raise NotFound("No such loan.")
    return loan


def loans_for(user: User) -> list[Loan]:
    return list(
        db.session.scalars(
            select(Loan)
            .where((Loan.lender_id == user.id) | (Loan.borrower_id == user.id))
            .options(selectinload(Loan.lender), selectinload(Loan.borrower))
            .order_by(Loan.id.desc())
        )
    )


def allowed_events(loan: Loan, user: User) -> list[str]:
    return LOAN.allowed(loan.state, loan.role_of(user))


# -- writing ------------------------------------------------------------------


def _recipient(loan: Loan, actor: User | None):
    def resolve(role: str) -> User | None:
        if role == "other":
            if actor is None:
                return None
            return loan.borrower if actor.id == loan.lender_id else loan.lender
        return loan.party(role)

    return resolve


def _record(step: Step, loan: Loan, before: str | None, actor: User | None, **kw) -> None:
    record_step(
        step,
        from_state=before,
        to_state=loan.state,
        actor=actor,
        loan=loan,
        recipient=_recipient(loan, actor),
        **kw,
    )


def create_loan(
    actor: User,
    role: object,
    counterparty_email: object,
    item: object,
    due_date: object = None,
    message: object = None,
) -> Loan:
    """Ask to borrow (role "borrower") or offer to lend (role "lender")."""
    if role not in PARTIES:
        raise InvalidInput('The role must be "borrower" or "lender".', field="role")
    if actor.state not in ("active", "closing"):
        raise Forbidden("Only an active account can start a loan.")
    what = validation.text(item, "item", max_length=MAX_ITEM, label="item name")
    note = validation.optional_text(message, "message", max_length=MAX_MESSAGE)
    due = None if due_date in (None, "") else validation.due_date(due_date, today())
    address = validation.email_address(counterparty_email, field="counterparty_email")
    if address == actor.email:
        raise InvalidInput(
            "You cannot lend to or borrow from yourself.", field="counterparty_email"
        )
    step = LOAN.creation("create", role)

    with atomic():
        other = accounts.find_by_email(address)
        if other is not None and other.state == "closed":
            raise InvalidInput("That account is closed.", field="counterparty_email")
        loan = Loan(item=what, message=note, due_date=due, state=step.dest)
        db.session.add(loan)
        newly_invited = other is None
        if newly_invited:
            other = accounts.invite(address, actor, loan)
        loan.lender, loan.borrower = (actor, other) if role == "lender" else (other, actor)

        def notifier_for(user: User, notifier: str) -> str | None:
            # Someone without an account is invited instead of told about the loan.
            if user.state == "invited":
                return None if newly_invited else "invitation"
            return notifier

        _record(step, loan, None, actor, notifier_for=notifier_for)
    return loan


def fire_event(
    actor: User,
    loan_id: object,
    event: object,
    due_date: object = None,
    expected_version: object = None,
) -> Loan:
    """Fire `event` on a loan as `actor`, one of its parties."""
    with atomic():
        loan = loan_for(actor, loan_id)
        if actor.state not in ("active", "closing"):
            raise Forbidden("Only an active account can do that: sign up and confirm your address.")
        if not isinstance(event, str) or not event:
            raise InvalidInput("An event name is required.", field="event")
        if expected_version is not None and expected_version != loan.version:
            raise Conflict("This loan has changed since you loaded it. Reload and try again.")
        step = LOAN.check(loan.state, event, loan.role_of(actor))
        if "due_date" in step.needs:
            loan.due_date = validation.due_date(
                due_date if due_date is not None else loan.due_date, today()
            )
        _fire(loan, step, actor)
    return loan


def _fire(loan: Loan, step: Step, actor: User | None, **kw) -> None:
    def after(before: str, now: str) -> None:
        if step.dest:  # before _record, so the loan is written in one UPDATE
            loan.state_changed_at = utcnow()
        _record(step, loan, before, actor, **kw)

    LOAN.fire(loan, step.event, after=after)


def call_off_open_loans(user: User) -> int:
    """Cancel every open loan of an account being closed; each counterparty is told.

    The table's `cancel` rows say which party may cancel from which state; an account
    closing is not a party's move, so the check is skipped and the mail goes to
    whoever is left. Part of the caller's transaction."""
    loans = db.session.scalars(
        select(Loan)
        .where((Loan.lender_id == user.id) | (Loan.borrower_id == user.id))
        .where(Loan.state.in_(OPEN_STATES))
    ).all()
    for loan in loans:
        step = LOAN.step_from(loan.state, "cancel")
        forced = Step(step.event, step.source, step.dest, step.who, (("other", "loan_cancelled"),))
        _fire(loan, forced, user)
    return len(loans)


# -- the loan clock -------------------------------------------------------------


def _due_for_clock(now: datetime) -> list[tuple[int, str]]:
    """(loan id, event) for every timed event due now, found in the database alone,
    so that a restarted worker or an emptied Redis loses none of them."""
    day = now.date()
    expiry = now - timedelta(days=current_app.config["LOAN_EXPIRY_DAYS"])
    expire = select(Loan.id).where(
        Loan.state.in_(("requested", "offered")), Loan.state_changed_at <= expiry
    )
    overdue = select(Loan.id).where(Loan.state == "lent", Loan.due_date < day)
    reminded = exists().where(AuditEvent.loan_id == Loan.id, AuditEvent.event == "remind")
    remind = select(Loan.id).where(
        Loan.state == "lent",
        Loan.due_date >= day,
        Loan.due_date <= day + timedelta(days=1),
        ~reminded,
    )
    found = []
    for event, query in (("expire", expire), ("mark_overdue", overdue), ("remind", remind)):
        found += [(loan_id, event) for loan_id in db.session.scalars(query.order_by(Loan.id))]
    db.session.rollback()
    return found


def fire_system_event(loan_id: int, event: str) -> Loan:
    """Fire one of the clock's events (expire, remind, mark_overdue) on a loan."""
    with atomic():
        loan = db.session.get(Loan, loan_id)
        if loan is None:
            raise NotFound("No such loan.")
        step = LOAN.check(loan.state, event, "system")
        _fire(loan, step, None)
    return loan


def run_clock(now: datetime | None = None) -> dict[str, int]:
    """Fire every timed event that is due. Idempotent: each event changes the state
    (or, for `remind`, leaves an audit row) that its query then excludes."""
    fired: dict[str, int] = {}
    for loan_id, event in _due_for_clock(now or utcnow()):
        try:
            fire_system_event(loan_id, event)
        except MoochError as exc:  # a party moved it first; the next tick looks again
            log.info("clock: %s on loan %s skipped: %s", event, loan_id, exc.message)
            continue
        fired[event] = fired.get(event, 0) + 1
    return fired
