"""Every notifier rendered with sample data, for `/dev/mail/previews` (like Rails'
mailer previews) and for the tests that read every mail (tests/test_mail_words.py).

The samples are read off the two state tables: one per row of the loan table (each
state it leaves, each side that may fire it) and recipient it emails, and one per
row of the account table that emails. They are built in memory as unsaved model
objects, never added to a session: nothing is written, and the ids are negative so
that no link in a preview (a signed one included) names a real row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.accounts.states import ACCOUNT
from app.lending import words
from app.lending.states import CREATION_STATES, LOAN, PARTIES, other_side
from app.models import AuditEvent, Loan, Notification, User
from app.notifications.compose import render
from app.notifications.notifiers import DIGEST, NOTIFIERS
from app.workflow import Step

SAMPLE_ITEM = "tent"
# What the steps that need a note carry, by event.
NOTES = {
    "dispute": "One of the poles is bent and the bag is missing.",
    "add_note": "I can get a new pole by Friday — would that do?",
    "resolve": "A new pole is fitted and the bag turned up in the car: all good.",
}
MESSAGE = "For a weekend at the lake, if that’s all right."


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    to: str


@dataclass(frozen=True)
class Preview:
    slug: str
    notifier: str
    recipient_role: str  # "lender", "borrower", or the account's own state
    actor_role: str | None  # who fired it: a side, "self" (the account), None (Mooch)
    about: str  # what happened, in the loan's words
    build: Callable[[str], Notification]

    @property
    def reader(self) -> str:
        if self.notifier == "invitation":
            return f"the {self.recipient_role}, invited"
        if self.recipient_role in PARTIES:
            return f"the {self.recipient_role}"
        return f"an account that is {self.recipient_role}"

    @property
    def by_recipient(self) -> bool:
        return self.actor_role in (self.recipient_role, "self")

    def render(self, item: str = SAMPLE_ITEM, locale: str | None = None) -> Rendered:
        """Needs an app context. Writes nothing. `locale`: the reader's language (their
        account's, English, by default)."""
        notification = self.build(item)
        if locale:
            notification.recipient.locale = locale
        _, subject, text, html = render(notification)
        return Rendered(subject, text, html, notification.recipient_email)


# -- the cast ---------------------------------------------------------------------

_NOW = datetime(2026, 11, 20, 10, 0)


def _user(uid: int, name: str, email: str, state: str = "active") -> User:
    return User(id=uid, name=name, email=email, state=state, is_admin=False, password_hash=None)


def _cast() -> dict[str, User]:
    return {
        "lender": _user(-1, "Lena", "lena@example.com"),
        "borrower": _user(-2, "Bram", "bram@example.com"),
    }


def _loan(item: str, lender: User, borrower: User, state: str, initiator: str) -> Loan:
    answered = state not in (*CREATION_STATES, "expired")
    due = _NOW.date() + timedelta(days=-3 if state == "overdue" else 2)
    return Loan(
        id=-7,
        item=item,
        message=MESSAGE,
        lender=lender,
        borrower=borrower,
        lender_id=lender.id,
        borrower_id=borrower.id,
        initiator_id=(lender if initiator == "lender" else borrower).id,
        counterparty_answered=answered,
        due_date=due,
        state=state,
        created_at=_NOW - timedelta(days=10),
        state_changed_at=_NOW,
    )


def _notification(
    notifier: str, recipient: User, loan: Loan | None, event: AuditEvent
) -> Notification:
    return Notification(
        id=-1,
        notifier=notifier,
        recipient=recipient,
        recipient_id=recipient.id,
        recipient_email=recipient.email,
        loan=loan,
        audit_event=event,
        status="pending",
        message_token="preview",
    )


# -- the loan table ---------------------------------------------------------------


def _loan_builder(
    step: Step, source: str, actor_role: str | None, notified: str, notifier: str
) -> Callable[[str], Notification]:
    def build(item: str) -> Notification:
        people = _cast()
        # A request or an offer was started by its asker; later loans by the borrower.
        initiator = "lender" if source == "offered" else "borrower"
        dest = step.target(source)
        loan = _loan(item, people["lender"], people["borrower"], dest, initiator)
        actor = people[actor_role] if actor_role else None
        event = AuditEvent(
            id=-1,
            event=step.event,
            from_state=source,
            to_state=dest,
            actor=actor,
            actor_id=actor.id if actor else None,
            note=NOTES.get(step.event),
            created_at=_NOW,
        )
        return _notification(notifier, people[notified], loan, event)

    return build


def _who(actor_role: str | None) -> str:
    return f"the {actor_role}" if actor_role else "Mooch"


def _loan_previews() -> list[Preview]:
    found: dict[str, Preview] = {}
    for step in LOAN.steps:
        if step.source is None:  # a creation: the creator's side is the asker
            sources: tuple[str, ...] = (step.dest,)
        else:
            sources = step.source
        actors = [r for r in PARTIES if r in step.who] or [None]
        for source in sources:
            for actor_role in actors:
                if step.source is None:
                    source_state = None
                    kind = step.dest
                else:
                    source_state = source
                    kind = source if source in CREATION_STATES else None
                for notified, notifier in step.notify:
                    role = other_side(actor_role) if notified == "other" else notified
                    parts = [notifier, "to", role, "by", actor_role or "mooch"]
                    slug = "-".join(parts + ([kind] if kind else []))
                    if slug in found:
                        continue
                    about = f"{_who(actor_role)}: {words.event_name(step.event)}"
                    if source_state:
                        about += f" ({words.state_name(source_state)})"
                    build = (
                        _creation_builder(step, actor_role, role, notifier)
                        if source_state is None
                        else _loan_builder(step, source_state, actor_role, role, notifier)
                    )
                    found[slug] = Preview(slug, notifier, role, actor_role, about, build)
    found.update({p.slug: p for p in _extra_previews()})
    return list(found.values())


def _creation_builder(
    step: Step, actor_role: str | None, notified: str, notifier: str
) -> Callable[[str], Notification]:
    def build(item: str) -> Notification:
        people = _cast()
        loan = _loan(item, people["lender"], people["borrower"], step.dest, actor_role)
        actor = people[actor_role]
        event = AuditEvent(
            id=-1, event="create", from_state=None, to_state=step.dest, actor=actor,
            actor_id=actor.id, created_at=_NOW,
        )  # fmt: skip
        return _notification(notifier, people[notified], loan, event)

    return build


def _extra_previews() -> list[Preview]:
    """Mail no table row shows by itself: a loan called off because its other party
    closed their account."""

    def build(item: str) -> Notification:
        people = _cast()
        people["borrower"].state = "closed"
        loan = _loan(item, people["lender"], people["borrower"], "cancelled", "borrower")
        event = AuditEvent(
            id=-1, event="cancel", from_state="agreed", to_state="cancelled",
            actor=people["borrower"], actor_id=people["borrower"].id, created_at=_NOW,
        )  # fmt: skip
        return _notification("loan_cancelled", people["lender"], loan, event)

    return [
        Preview(
            "loan_cancelled-to-lender-by-borrower-closed-account",
            "loan_cancelled",
            "lender",
            "borrower",
            "the borrower closed their account (Agreed)",
            build,
        )
    ]


# -- the account table ------------------------------------------------------------


def _account_builder(step: Step, notifier: str, side: str | None) -> Callable[[str], Notification]:
    def build(item: str) -> Notification:
        people = _cast()
        state = step.target(step.source[0] if step.source else None)
        if state == "invited":
            # An invited account's name is the address's local part, a placeholder
            # nobody chose: the mail must not call its reader by it.
            me = _user(-3, "nobody.122941", "nobody.122941@example.com", state)
        else:
            me = _user(-3, "Nia", "nia@example.com", state)
        loan = None
        actor = me
        if side is not None:  # an invitation about a loan: `me` is its other party
            inviter = people[other_side(side)]
            people[side] = me
            loan = _loan(
                item,
                people["lender"],
                people["borrower"],
                ("offered" if side == "borrower" else "requested"),
                other_side(side),
            )
            actor = inviter
        event = AuditEvent(
            id=-1, event=step.event, from_state=step.source[0] if step.source else None,
            to_state=state, actor=actor, actor_id=actor.id, created_at=_NOW,
        )  # fmt: skip
        return _notification(notifier, me, loan, event)

    return build


def _account_previews() -> list[Preview]:
    found: dict[str, Preview] = {}
    for step in ACCOUNT.steps:
        for _, notifier in step.notify:
            state = step.target(step.source[0] if step.source else None)
            if notifier == "invitation":
                for side in PARTIES:
                    slug = f"{notifier}-to-{side}"
                    about = f"the {other_side(side)} named an address with no account"
                    build = _account_builder(step, notifier, side)
                    found[slug] = Preview(slug, notifier, side, other_side(side), about, build)
                continue
            slug = notifier
            if slug not in found:
                about = step.event.replace("_", " ").capitalize()
                build = _account_builder(step, notifier, None)
                found[slug] = Preview(slug, notifier, state, "self", about, build)
    return list(found.values())


# -- the daily digest ---------------------------------------------------------------


def _digest_build(item: str) -> Notification:
    """Lena's digest of a morning: her tent, lent to Bram (overdue, then given back),
    and the bike she borrowed from Nia (handed over), in her time zone."""
    people = _cast()
    lena, bram = people["lender"], people["borrower"]
    lena.time_zone = "Europe/Amsterdam"
    nia = _user(-3, "Nia", "nia@example.com")
    tent = _loan(item, lena, bram, "returned", "borrower")
    tent.due_date = _NOW.date() - timedelta(days=2)
    bike = _loan("bike", nia, lena, "lent", "borrower")
    bike.id = -8

    def held(notifier, loan, event, actor, source, dest, hours_ago) -> Notification:
        at = _NOW - timedelta(hours=hours_ago)
        step = AuditEvent(
            id=-1, event=event, from_state=source, to_state=dest, actor=actor,
            actor_id=actor.id if actor else None, created_at=at,
        )  # fmt: skip
        row = _notification(notifier, lena, loan, step)
        row.status, row.created_at = "digest", at
        return row

    digest = _notification(DIGEST, lena, None, None)
    digest.digest_day = _NOW.date()
    digest.covered = [
        held("loan_overdue_lender", tent, "mark_overdue", None, "lent", "overdue", 21),
        held("loan_started", bike, "hand_over", nia, "agreed", "lent", 17),
        held("loan_returned", tent, "mark_returned", bram, "overdue", "returned", 3),
    ]
    return digest


def _digest_previews() -> list[Preview]:
    about = "the morning after: what the reader chose to get in a daily digest"
    return [Preview(DIGEST, DIGEST, "active", None, about, _digest_build)]


def previews() -> list[Preview]:
    """Every sample, grouped by notifier in the order of the NOTIFIERS table."""
    order = {name: i for i, name in enumerate(NOTIFIERS)}
    every = _loan_previews() + _account_previews() + _digest_previews()
    return sorted(every, key=lambda p: order.get(p.notifier, len(order)))


def preview(slug: str) -> Preview | None:
    return next((p for p in previews() if p.slug == slug), None)
