"""The loan's words: one human name for every state and every event, next to the
state table (states.py), and the sentences built from them. Every surface reads
these: the buttons, the dashboard, the state badge, the progress line, the timeline,
the flash messages, the API's labels and the emails. No page or mail shows a raw
event or state name (`mark_returned`, `lent`); tests/test_words.py holds them to it.

Each event's `name` is what a person does ("Mark as returned"); `done` is the same
words in the past, after the actor's name ("Ben marked it as returned"); `flash` is
what the actor is told after doing it, with {other} the other party's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from markupsafe import Markup


@dataclass(frozen=True)
class EventWords:
    name: str  # the button, and the event's label anywhere
    done: str  # "<actor> <done>" in the timeline
    flash: str = ""  # what the actor is told afterwards ({other}, {item}, {due})


# The badge and the progress line: a word or two each.
STATE_NAMES = {
    "requested": "Requested",
    "offered": "Offered",
    "agreed": "Agreed",
    "declined": "Declined",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "lent": "On loan",
    "overdue": "Overdue",
    "returned": "Returned",
    "disputed": "Disputed",
    "closed": "Closed",
}

EVENTS = {
    "create": EventWords("Start a loan", "started the loan"),
    "accept": EventWords("Accept", "accepted", "Accepted: {other} has been told."),
    "decline": EventWords("Decline", "declined", "Declined: {other} has been told."),
    "cancel": EventWords("Cancel", "cancelled the loan", "Cancelled: {other} has been told."),
    "expire": EventWords("Expire", "expired: nobody answered in time"),
    "hand_over": EventWords(
        "Hand over", "handed it over", "Handed over: {other} has been told it is due back {due}."
    ),
    "remind": EventWords("Remind", "reminded the borrower that it is due back soon"),
    "mark_overdue": EventWords("Mark overdue", "marked it overdue"),
    "mark_returned": EventWords(
        "Mark as returned",
        "marked it as returned",
        "Marked as returned: {other} has been asked to confirm.",
    ),
    "confirm_return": EventWords(
        "Confirm return", "confirmed the return", "Return confirmed: the loan is closed."
    ),
    "dispute": EventWords(
        "Dispute", "disputed the return", "Disputed: {other} has been told what is wrong."
    ),
    "add_note": EventWords("Add a note", "added a note", "Note added: {other} has been told."),
    "resolve": EventWords(
        "Resolve", "resolved the dispute", "Resolved: {other} has been told how it ended."
    ),
    # Not a step of the table: the initiator sent the loan to another address.
    "readdress": EventWords("Send it elsewhere", "sent it to another address"),
}

# How a creation reads in the timeline, by the state it created.
CREATED = {"requested": "asked to borrow it", "offered": "offered to lend it"}

# What each state means, one line, on the loan page beside its badge.
MEANINGS = {
    "requested": "The lender has not answered yet.",
    "offered": "The borrower has not answered yet.",
    "agreed": "Agreed; the lender has yet to hand it over.",
    "declined": "Declined; nothing more happens.",
    "cancelled": "Cancelled; nothing more happens.",
    "expired": "Nobody answered in time; nothing more happens.",
    "lent": "With the borrower until it comes back.",
    "overdue": "Past its due date and not back yet.",
    "returned": "The borrower says it is back; the lender has yet to confirm.",
    "disputed": "The lender says something is wrong with the return.",
    "closed": "Back with the lender. All done.",
}

# The loan page's headline, by state and by the viewer's side. {other} is the other
# party, {item} the item, {due} the due date ("Sat 12 Dec"), {late} how late
# ("3 days"). For declined and cancelled it depends on who did it: "you" or "them".
HEADLINES = {
    ("requested", "borrower"): "You asked {other} to lend you the {item}",
    ("requested", "lender"): "{other} asks to borrow your {item}",
    ("offered", "lender"): "You offered to lend {other} your {item}",
    ("offered", "borrower"): "{other} offers to lend you the {item}",
    ("agreed", "lender"): "You agreed to lend {other} your {item}: hand it over when you meet",
    ("agreed", "borrower"): "{other} agreed to lend you the {item}: waiting for the hand-over",
    ("lent", "lender"): "{other} has your {item} — due back {due}",
    ("lent", "borrower"): "You have {other}’s {item} — due back {due}",
    ("overdue", "lender"): "{other} still has your {item} — {late} overdue",
    ("overdue", "borrower"): "{other}’s {item} is {late} overdue: please give it back",
    ("returned", "lender"): "{other} says the {item} is back — please confirm",
    ("returned", "borrower"): "You gave the {item} back — {other} has been asked to confirm",
    ("disputed", "lender"): "You disputed the return of the {item}",
    ("disputed", "borrower"): "{other} says something is wrong with the return of the {item}",
    ("closed", "lender"): "Your {item} is back with you — all done",
    ("closed", "borrower"): "You gave the {item} back to {other} — all done",
    ("expired", "lender"): "Nobody answered in time: the loan of your {item} expired",
    ("expired", "borrower"): "Nobody answered in time: the loan of the {item} expired",
    # Declined and cancelled: by who did it, and whether it was a request or an offer.
    ("declined", "you", "requested"): "You declined {other}’s request to borrow your {item}",
    ("declined", "them", "requested"): "{other} declined your request to borrow the {item}",
    ("declined", "you", "offered"): "You declined {other}’s offer of the {item}",
    ("declined", "them", "offered"): "{other} declined your offer of the {item}",
    ("cancelled", "you"): "You cancelled the loan of the {item}",
    ("cancelled", "them"): "{other} cancelled the loan of the {item}",
}


def state_name(state: str) -> str:
    return STATE_NAMES[state]


def event_name(event: str) -> str:
    return EVENTS[event].name


def done(event: str, to_state: str | None = None) -> str:
    """The timeline's words after the actor's name."""
    if event == "create" and to_state in CREATED:
        return CREATED[to_state]
    return EVENTS[event].done if event in EVENTS else "changed the loan"


def short_day(value: date) -> str:
    """ "Sat 12 Dec": the due date as the headline and the dashboard say it."""
    return f"{value:%a} {value.day} {value:%b}"


def days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def due_phrase(due: date, today: date) -> str:
    """A due date relative to today: "due today", "due tomorrow", "due in 3 days",
    "1 day overdue", "3 days overdue"."""
    delta = (due - today).days
    if delta < 0:
        return f"{days(-delta)} overdue"
    if delta == 0:
        return "due today"
    if delta == 1:
        return "due tomorrow"
    return f"due in {days(delta)}"


def headline(
    state: str,
    role: str,
    *,
    other: str,
    item: str,
    due: date | None,
    today: date,
    by_viewer: bool = False,
    created_as: str | None = None,
    isolate: bool = False,
) -> str:
    """The loan page's headline for a viewer on `role`'s side. `by_viewer`: whether
    the viewer made the last move (who declined or cancelled); `created_as`: the state
    the loan started in (declined: a request or an offer); `isolate`: HTML (Markup)
    with each typed name in a <bdi>, for a page."""
    who = "you" if by_viewer else "them"
    key = {
        "declined": ("declined", who, created_as or "requested"),
        "cancelled": ("cancelled", who),
    }.get(state, (state, role))
    late = days(max((today - due).days, 1)) if due else ""
    template = HEADLINES[key]
    if isolate:
        # For a page: the names and the item, typed by people, each in a <bdi>, so
        # that right-to-left text cannot reorder the sentence around it.
        template, other, item = Markup(template), _bdi(other), _bdi(item)
    return template.format(
        other=other, item=item, due=short_day(due) if due else "not set", late=late
    )


def _bdi(text: str) -> Markup:
    return Markup("<bdi>{}</bdi>").format(text)


def flash(event: str, *, other: str, item: str, due: date | None) -> str:
    words = EVENTS[event]
    return (words.flash or f"{words.name}: done.").format(
        other=other, item=item, due=short_day(due) if due else ""
    )
