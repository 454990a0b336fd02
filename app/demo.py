"""`flask demo`: two demo accounts and a few loans, for a development database.

Everything goes through the services, so the loans have their real audit rows and
their mail sits in the outbox like any other (the worker delivers it to the mail
catcher, readable at /dev/mail). Does nothing if the database has any user.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import click
from sqlalchemy import func, select

from app.extensions import db
from app.models import User

PASSWORD = "mooch-demo-password"
PEOPLE = (("lena@example.com", "Lena"), ("bram@example.com", "Bram"))


def has_users() -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(User)))


def create_demo() -> tuple[list[User], dict[str, str]]:
    """The demo users and loans; returns (users, {state: item})."""
    from app.accounts import service as accounts
    from app.accounts.tokens import make_token
    from app.lending import service as lending

    users = []
    for address, name in PEOPLE:
        accounts.sign_up(address, name)
        user = accounts.find_by_email(address)
        users.append(accounts.activate(make_token("confirm", user), PASSWORD))
    lena, bram = users
    soon = lending.today() + timedelta(days=7)

    def loan(lender_moves: bool, item: str, *events: str) -> None:
        # Lena lends, Bram borrows; the event list says who moves each time.
        starter, role = (lena, "lender") if lender_moves else (bram, "borrower")
        other = bram if starter is lena else lena
        made = lending.create_loan(starter, role, other.email, item)
        for event in events:
            actor = lena if event in ("hand_over", "confirm_return") else bram
            if event == "accept":
                actor = other
            lending.fire_event(actor, made.id, event, due_date=soon)

    loans = {
        "requested": "ladder",
        "agreed": "camping tent",
        "lent": "cordless drill",
        "returned": "board game",
        "closed": "bike pump",
    }
    loan(False, loans["requested"])
    loan(True, loans["agreed"], "accept")
    loan(False, loans["lent"], "accept", "hand_over")
    loan(True, loans["returned"], "accept", "hand_over", "mark_returned")
    loan(False, loans["closed"], "accept", "hand_over", "mark_returned", "confirm_return")
    return users, loans


@click.command("demo")
def demo_command() -> None:
    """Create two demo users and a few loans, if the database has no users yet."""
    if has_users():
        click.echo("demo: the database already has users; nothing to do.")
        return
    # Without a running Redis (`make run` seeds before it starts one) every commit
    # would warn that its jobs wait: they do, and the worker's relay sends them.
    outbox_log = logging.getLogger("app.notifications.outbox")
    level = outbox_log.level
    outbox_log.setLevel(logging.ERROR)
    try:
        users, loans = create_demo()
    finally:
        outbox_log.setLevel(level)
    click.echo("demo: created two users and a loan in each of: " + ", ".join(loans) + ".")
    for user in users:
        click.echo(f"  log in as {user.email}  password: {PASSWORD}")
    click.echo("  Their mail goes out when the worker runs (see /dev/mail).")
