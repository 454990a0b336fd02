"""Caps on starting loans, so that Mooch is never a way to mail strangers at will.

- `LOANS_PER_HOUR`: loans one person may start in an hour.
- `INVITES_PER_DAY`: new addresses one person may name in a day. An address is new
  to someone when they have no loan with it yet, whether or not it has an account:
  counting only addresses without one would let a person at the cap tell which
  addresses have accounts. Someone who started a loan with you is not new either.
- An invited address gets at most one invitation a day, however many loans name it;
  the later loans wait for it in the account it signs up to.

Counted in the database, in the loan's own transaction: the counts are exact, cannot
be reset by emptying Redis, and a refused loan writes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Loan, Notification, User, utcnow
from app.throttle import refuse

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _wait(oldest: datetime, window: timedelta) -> int:
    return max(1, int((oldest + window - utcnow()).total_seconds()) + 1)


def check_loan_rate(actor: User) -> None:
    limit = current_app.config["LOANS_PER_HOUR"]
    since = utcnow() - HOUR
    started = (
        select(Loan.created_at)
        .where(Loan.initiator_id == actor.id, Loan.created_at >= since)
        .order_by(Loan.created_at)
    )
    recent = db.session.scalars(started.limit(limit)).all()
    if len(recent) >= limit:
        raise refuse(
            _(
                "You have started %(num)d loans in the last hour, the most we allow. "
                "Try again in {when}.",
                num=limit,
            ),
            _wait(recent[0], HOUR),
        )


def new_addresses_today(actor: User) -> dict[int, datetime]:
    """The accounts `actor` named for the first time in the last day (id → when), by
    loans they started, and that never started one with them."""
    since = utcnow() - DAY
    started = (
        select(Loan.other_party_id(actor).label("other"), Loan.created_at)
        .where(Loan.initiator_id == actor.id, Loan.created_at >= since)
        .subquery()
    )
    named = dict(
        db.session.execute(
            select(started.c.other, func.min(started.c.created_at)).group_by(started.c.other)
        ).all()
    )
    if not named:
        return {}
    known = set(
        db.session.scalars(
            select(Loan.other_party_id(actor))
            .where(Loan.between(actor, list(named)))
            .where(or_(Loan.created_at < since, Loan.initiator_id != actor.id))
            .distinct()
        )
    )
    return {other: at for other, at in named.items() if other not in known}


def check_new_address(actor: User, other: User | None) -> None:
    """Refuse a loan naming an address new to `actor` once they have named
    INVITES_PER_DAY new ones in the last day."""
    known = select(Loan.id).where(Loan.between(actor, [other.id])).limit(1) if other else None
    if known is not None and db.session.scalar(known) is not None:
        return  # they have a loan already: not a new address
    limit = current_app.config["INVITES_PER_DAY"]
    fresh = new_addresses_today(actor)
    if len(fresh) >= limit:
        raise refuse(
            _(
                "You have asked %(num)d new people today, the most we allow in a day, so "
                "that nobody can use Mooch to mail strangers. Try again in {when}, or start "
                "a loan with someone you have lent to or borrowed from before.",
                num=limit,
            ),
            _wait(min(fresh.values()), DAY),
        )


def invited_lately(user: User) -> bool:
    """Whether `user`, an invited address, was sent an invitation in the last day."""
    since = utcnow() - DAY
    return (
        db.session.scalar(
            select(Notification.id)
            .where(
                Notification.recipient_id == user.id,
                Notification.notifier == "invitation",
                Notification.created_at >= since,
            )
            .limit(1)
        )
        is not None
    )
