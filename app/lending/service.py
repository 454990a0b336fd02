"""Loan actions: create a loan, fire an event, run the loan clock.

Each checks the actor against the table in states.py, fires the trigger through
`transitions`, writes the audit row and the notifications in the transition's
callback, and commits, or raises a typed error from app.errors with nothing written.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import exists, func, inspect, select, union
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import flag_modified

from app import throttle, validation
from app.accounts import service as accounts
from app.accounts import signals as account_signals
from app.errors import Conflict, Forbidden, InvalidInput, MoochError, NotFound
from app.extensions import db
from app.history import record_step
from app.i18n import N_
from app.lending import limits
from app.lending import states as loan_states
from app.lending.states import (
    CREATION_STATES,
    IN_PROGRESS_STATES,
    LOAN,
    OPEN_STATES,
    PARTIES,
    other_side,
    sources,
)
from app.models import AuditEvent, Loan, Notification, User, utcnow
from app.notifications import retry
from app.notifications.outbox import Skipped
from app.transaction import atomic
from app.workflow import Step

log = logging.getLogger(__name__)

# The dashboard's groups of states, read off the table (app.web.views reads them here).
FINISHED, ACTIONABLE, WAITING = loan_states.FINISHED, loan_states.ACTIONABLE, loan_states.WAITING

# Not an event of the loan's table: it moves nothing, it changes who the request or
# offer goes to (its audit row and mail are written like an event's).
READDRESS = "readdress"

# Why an invitation was not sent (the later loans wait in the account it signs up to).
INVITED_TODAY = "invited earlier today"

MAX_ITEM = 200
MAX_MESSAGE = 2000
MAX_NOTE = 500
# What a step that needs a note asks for, when it is missing.
NOTE_REQUIRED = {  # messages of the catalogue: said through gettext where raised
    "dispute": N_("Say what is wrong with the return: the borrower will read it."),
    "add_note": N_("Write the note first."),
    "resolve": N_("Say in a line how it was sorted out: the other person will read it."),
}


def today() -> date:
    return utcnow().date()


# A loan on loan is "due soon" (reminded, and flagged on the dashboard) from this many
# days before its due date.
DUE_SOON_DAYS = 1


# -- reading ------------------------------------------------------------------


# Whoever reads a loan reads its two parties (to act on it, to mail the other one, to
# show it): in the loan's own query, not one query each after it.
WITH_PARTIES = (joinedload(Loan.lender), joinedload(Loan.borrower))


def loan_for(user: User, loan_id: object) -> Loan:
    """The loan if `user` is one of its parties; NotFound otherwise, whether it
    exists or not, so that ids cannot be probed."""
    if not isinstance(loan_id, int) or isinstance(loan_id, bool) or not 0 < loan_id < 2**31:
        raise NotFound(_("No such loan."))
    loan = db.session.get(Loan, loan_id, options=WITH_PARTIES)
    if loan is None or loan.role_of(user) is None:
        raise NotFound(_("No such loan."))
    return loan


def read_again(loan: Loan) -> Loan:
    """`loan` as committed, with its parties, in one query: a commit expired all three,
    and each would otherwise be read on its own."""
    [loan_id] = inspect(loan).identity  # not loan.id, which would read the row alone
    return db.session.get(Loan, loan_id, options=WITH_PARTIES, populate_existing=True)


def _check_version(loan: Loan, expected_version: object) -> None:
    """The one rule for acting on what one saw, for a party's page or client and for
    the loan clock's due list alike: a loan changed since then is a Conflict."""
    if expected_version is not None and expected_version != loan.version:
        raise Conflict(_("This loan has changed since you loaded it. Reload and try again."))


def allowed_events(loan: Loan, user: User) -> list[str]:
    return LOAN.allowed(loan.state, loan.role_of(user))


# Which states to list: one set for either side, or a set per side ("lender",
# "borrower"), where a side left out lists nothing. None lists every state.
States = Collection[str] | Mapping[str, Collection[str]] | None


@dataclass(frozen=True)
class Page:
    """Loans newest first, and whether more lie beyond them in the direction they
    were read: older ones after `before` (or the first page), newer ones for `after`."""

    loans: list[Loan]
    more: bool


def _by_side(states: States) -> dict[str, Collection[str] | None]:
    if isinstance(states, Mapping):
        return {role: states[role] for role in PARTIES if role in states}
    return dict.fromkeys(PARTIES, states)


def _side(role: str, user: User, states: Collection[str] | None):
    condition = Loan.side(role) == user.id
    return condition if states is None else condition & Loan.state.in_(list(states))


def loan_page(
    user: User,
    limit: int,
    *,
    before: int | None = None,
    after: int | None = None,
    states: States = None,
) -> Page:
    """A page of `user`'s loans by id, newest first: the `limit` newest, or the
    `limit` just older than id `before`, or the `limit` just newer than id `after`.

    Keyed on the id, not an offset, so loans created while a client pages never
    shift the pages it has still to read."""
    if before is not None and after is not None:
        raise ValueError("before or after, not both")
    newest_first = after is None
    # One arm per side rather than an OR of the sides: each arm walks its side's
    # (…_id, id, state) index in order, reading nothing else, and stops after
    # limit + 1 matches, where an OR would read and sort every one of the user's loans.
    arms = []
    for role, allowed in _by_side(states).items():
        arm = select(Loan.id).where(_side(role, user, allowed))
        if before is not None:
            arm = arm.where(Loan.id < before)
        if after is not None:
            arm = arm.where(Loan.id > after)
        arm = arm.order_by(Loan.id.desc() if newest_first else Loan.id.asc())
        arms.append(select(arm.limit(limit + 1).subquery()))
    if not arms:
        return Page([], False)
    ids = union(*arms).subquery()
    nearest = select(ids.c.id).order_by(ids.c.id.desc() if newest_first else ids.c.id.asc())
    found = list(db.session.scalars(nearest.limit(limit + 1)))
    # The rows by primary key in a statement of their own: joined to the ids instead,
    # PostgreSQL may merge-join by walking the primary key from the newest loan down.
    loans = db.session.scalars(
        select(Loan)
        .where(Loan.id.in_(found[:limit]))
        .options(selectinload(Loan.lender), selectinload(Loan.borrower))
        .order_by(Loan.id.desc())
    )
    return Page(list(loans), len(found) > limit)


def count_loans(user: User, *, states: States = None) -> int:
    # Side by side, as loan_page reads them: an OR of the sides is answered from the
    # one-column indexes and a read of every loan row. No loan has one person on
    # both sides (create_loan refuses it), so the sum counts none twice.
    return sum(
        db.session.scalar(select(func.count()).select_from(Loan).where(_side(role, user, allowed)))
        for role, allowed in _by_side(states).items()
    )


# -- writing ------------------------------------------------------------------


def _recipient(loan: Loan, actor: User | None):
    def resolve(role: str) -> User | None:
        if role == "other":
            return None if actor is None else loan.other_party(actor)
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
        raise InvalidInput(_('The role must be "borrower" or "lender".'), field="role")
    if not actor.is_active:
        raise Forbidden(_("Only an active account can start a loan."))
    what = validation.text(item, "item", max_length=MAX_ITEM, label=N_("item name"))
    note = validation.optional_text(message, "message", max_length=MAX_MESSAGE)
    due = None if due_date in (None, "") else validation.due_date(due_date, today())
    address = _counterparty_address(actor, counterparty_email)
    step = LOAN.creation("create", role)

    with atomic():
        limits.check_loan_rate(actor)
        loan = Loan(item=what, message=note, due_date=due, state=step.dest, initiator_id=actor.id)
        db.session.add(loan)
        other, notifier_for = _name_counterparty(actor, address, loan)
        loan.set_party(role, actor)
        loan.set_party(other_side(role), other)
        _record(step, loan, None, actor, notifier_for=notifier_for)
    return loan


def _counterparty_address(actor: User, value: object) -> str:
    address = validation.email_address(value, field="counterparty_email")
    if address == actor.email:
        raise InvalidInput(
            _("You cannot lend to or borrow from yourself."), field="counterparty_email"
        )
    return address


def _name_counterparty(actor: User, address: str, loan: Loan):
    """The account `loan` will name at `address` (inviting the address if it has none),
    and the notifier_for that tells it; part of the caller's transaction, after the
    cap on new addresses. A closed account's address is free: naming it invites it
    afresh. The answer is the same whether the address has an account, an invitation
    or neither."""
    with db.session.no_autoflush:  # a new loan has no parties yet: not flushed half-made
        other = accounts.find_by_email(address)
        limits.check_new_address(actor, other)
    newly_invited = other is None
    if newly_invited:
        other = accounts.invite(address, actor, loan)

    def notifier_for(user: User, notifier: str) -> str | Skipped | None:
        # Someone without an account is invited instead of told about the loan,
        # once a day at most: later loans wait in the account they sign up to.
        if user.state == "invited":
            if newly_invited:
                return None  # the invite step itself mails the invitation
            if limits.invited_lately(user):
                return Skipped("invitation", INVITED_TODAY)
            return "invitation"
        return notifier

    return other, notifier_for


def fire_event(
    actor: User,
    loan_id: object,
    event: object,
    due_date: object = None,
    expected_version: object = None,
    note: object = None,
) -> Loan:
    """Fire `event` on a loan as `actor`, one of its parties, with an optional `note`
    (required by the steps that need one: a dispute's reason, its outcome)."""
    with atomic():
        loan = loan_for(actor, loan_id)
        if not actor.is_active:
            raise Forbidden(
                _("Only an active account can do that: sign up and confirm your address.")
            )
        if not isinstance(event, str) or not event:
            raise InvalidInput(_("An event name is required."), field="event")
        _check_version(loan, expected_version)
        step = LOAN.check(loan.state, event, loan.role_of(actor))
        written = validation.optional_text(note, "note", max_length=MAX_NOTE)
        if "note" in step.needs and written is None:
            raise InvalidInput(_(NOTE_REQUIRED[step.event]), field="note")
        if "due_date" in step.needs:
            loan.due_date = validation.due_date(
                due_date if due_date is not None else loan.due_date, today()
            )
        _fire(loan, step, actor, note=written)
    return loan


def _fire(loan: Loan, step: Step, actor: User | None, **kw) -> None:
    def after(before: str, now: str) -> None:
        if step.dest:  # before _record, so the loan is written in one UPDATE
            loan.state_changed_at = utcnow()
        else:
            # A step that moves nothing (remind) still writes the row, so that its
            # version is checked and bumped: it conflicts with any other event on the
            # loan, and of two clocks firing it, one wins.
            flag_modified(loan, "state")
        if actor is not None and actor.id != loan.initiator_id and loan.role_of(actor):
            loan.counterparty_answered = True
        _record(step, loan, before, actor, **kw)

    LOAN.fire(loan, step.event, after=after)


def call_off_open_loans(user: User) -> int:
    """Cancel every open loan of an account being closed; each counterparty is told.

    The table's `cancel` rows say which party may cancel from which state; an account
    closing is not a party's move, so the check is skipped and the mail goes to
    whoever is left. Part of the caller's transaction."""
    loans = db.session.scalars(select(Loan).where(Loan.of(user), Loan.state.in_(OPEN_STATES))).all()
    for loan in loans:
        step = LOAN.step_from(loan.state, "cancel")
        forced = Step(step.event, step.source, step.dest, step.who, (("other", "loan_cancelled"),))
        _fire(loan, forced, user)
    return len(loans)


def _refuse_while_loans_under_way(user: User, **_kw: object) -> None:
    """An account asking to close (accounts.signals.closing) must settle first."""
    busy = db.session.scalar(
        select(Loan.id).where(Loan.of(user), Loan.state.in_(IN_PROGRESS_STATES)).limit(1)
    )
    if busy is not None:
        raise Forbidden(
            _("You still have loans under way: settle them before closing your account.")
        )


def _call_off_when_closed(user: User, **_: object) -> None:
    call_off_open_loans(user)


# Lending depends on accounts, never the other way round: accounts tells of an account
# closing, and lending answers here (module-level functions, so the weak references
# blinker keeps stay alive).
account_signals.closing.connect(_refuse_while_loans_under_way)
account_signals.closed.connect(_call_off_when_closed)


# -- mail that did not arrive ----------------------------------------------------


def can_change_counterparty(loan: Loan, user: User) -> bool:
    """Whether `user` may send `loan` to another address: they asked or offered, and
    the other person has not answered yet."""
    return (
        loan.initiator_id == user.id
        and not loan.counterparty_answered
        and loan.state in CREATION_STATES
    )


def change_counterparty(
    actor: User, loan_id: object, counterparty_email: object, expected_version: object = None
) -> Loan:
    """Send a request or offer to another address (a mistyped one bounced, say): the
    loan names the new address instead, which is told as at creation."""
    address = _counterparty_address(actor, counterparty_email)
    with atomic():
        loan = loan_for(actor, loan_id)
        _check_version(loan, expected_version)
        if not can_change_counterparty(loan, actor):
            raise Forbidden(
                _(
                    "Only the one who asked or offered can send it to another address, "
                    "and only until the other person answers."
                )
            )
        if address == loan.other_party(actor).email:
            raise InvalidInput(
                _("That is the address it was sent to already."), field="counterparty_email"
            )
        role = loan.role_of(actor)
        created = LOAN.creation("create", role)
        step = Step(READDRESS, (loan.state,), None, frozenset((role,)), created.notify)
        other, notifier_for = _name_counterparty(actor, address, loan)
        loan.set_party(other_side(role), other)
        _record(step, loan, loan.state, actor, notifier_for=notifier_for)
    return loan


def retry_mail(actor: User, loan_id: object, notification_id: object) -> None:
    """Try again a failed mail to the other party of one of `actor`'s loans; at most
    RATELIMIT_MAIL_PER_ADDRESS an hour to one address."""
    loan = loan_for(actor, loan_id)
    row = (
        db.session.get(Notification, notification_id) if isinstance(notification_id, int) else None
    )
    if row is None or row.loan_id != loan.id or row.recipient_id == actor.id:
        raise NotFound(_("No such mail."))
    if row.status != "failed":
        raise Conflict(_("That mail has not failed: there is nothing to try again."))
    address = row.recipient_email
    db.session.rollback()
    throttle.mail_to("retry", address)
    retry.retry(row.id)


# -- the loan clock -------------------------------------------------------------


class Due(NamedTuple):
    """A timed event the clock found due, and the loan's version when it looked."""

    loan_id: int
    event: str
    version: int


def _due_for_clock(now: datetime) -> list[Due]:
    """Every timed event due now, found in the database alone, so that a restarted
    worker or an emptied Redis loses none of them; each with the version of the loan
    as found, which firing it requires still to be the loan's."""
    day = now.date()
    expiry = now - timedelta(days=current_app.config["LOAN_EXPIRY_DAYS"])
    loans = select(Loan.id, Loan.version)
    expire = loans.where(Loan.state.in_(sources("expire")), Loan.state_changed_at <= expiry)
    overdue = loans.where(Loan.state.in_(sources("mark_overdue")), Loan.due_date < day)
    reminded = exists().where(AuditEvent.loan_id == Loan.id, AuditEvent.event == "remind")
    remind = loans.where(
        Loan.state.in_(sources("remind")),
        Loan.due_date >= day,
        Loan.due_date <= day + timedelta(days=DUE_SOON_DAYS),
        ~reminded,
    )
    found = []
    for event, query in (("expire", expire), ("mark_overdue", overdue), ("remind", remind)):
        found += [
            Due(row.id, event, row.version) for row in db.session.execute(query.order_by(Loan.id))
        ]
    db.session.rollback()
    return found


def fire_system_event(loan_id: int, event: str, expected_version: int | None = None) -> Loan:
    """Fire one of the clock's events (expire, remind, mark_overdue) on a loan, under
    the parties' rule: Conflict if the loan is no longer at `expected_version` (the
    version the clock saw), or if another event writes it before this one commits."""
    with atomic():
        loan = db.session.get(Loan, loan_id)
        if loan is None:
            raise NotFound(_("No such loan."))
        _check_version(loan, expected_version)
        step = LOAN.check(loan.state, event, "system")
        _fire(loan, step, None)
    return loan


def run_clock(now: datetime | None = None) -> dict[str, int]:
    """Fire every timed event that is due, each at most once however many clocks run
    at the same time: each event writes the loan's row under its version, so of two
    clocks (or a clock and a party) that saw the same loan, one wins and the other
    skips it. Idempotent: each event changes the state (or, for `remind`, leaves an
    audit row) that its query then excludes."""
    fired: dict[str, int] = {}
    for due in _due_for_clock(now or utcnow()):
        try:
            fire_system_event(due.loan_id, due.event, due.version)
        except MoochError as exc:  # a party or another clock moved it first
            log.info("clock: %s on loan %s skipped: %s", due.event, due.loan_id, exc.message)
            continue
        fired[due.event] = fired.get(due.event, 0) + 1
    return fired
