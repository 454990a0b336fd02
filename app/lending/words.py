"""The loan's words: one human name for every state and every event, next to the
state table (states.py), and the sentences built from them. Every surface reads
these: the buttons, the dashboard, the state badge, the progress line, the timeline,
the flash messages, the API's labels and the emails. No page or mail shows a raw
event or state name (`mark_returned`, `lent`); tests/test_words.py holds them to it.

Each event's `name` is what a person does ("Mark as returned"); `done` is the same
words in the past, after the actor's name ("Ben marked it as returned"); `flash` is
what the actor is told after doing it, with {other} the other party's name.

Every word here is a message of the catalogue (app.i18n). The tables hold the English,
marked with N_ for extraction; the functions below say each word in the reader's
language when it is read (state_name, event_name, done, meaning, headline, flash), so
read the tables through them. English, the source, reads exactly as written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup

from app import i18n
from app.i18n import N_


@dataclass(frozen=True)
class EventWords:
    name: str  # the button, and the event's label anywhere
    done: str  # "<actor> <done>" in the timeline
    flash: str = ""  # what the actor is told afterwards ({other}, {item}, {due})


# The badge and the progress line: a word or two each.
STATE_NAMES = {
    "requested": N_("Requested"),
    "offered": N_("Offered"),
    "agreed": N_("Agreed"),
    "declined": N_("Declined"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
    "lent": N_("On loan"),
    "overdue": N_("Overdue"),
    "returned": N_("Returned"),
    "disputed": N_("Disputed"),
    "closed": N_("Closed"),
}

EVENTS = {
    "create": EventWords(N_("Start a loan"), N_("started the loan")),
    "accept": EventWords(N_("Accept"), N_("accepted"), N_("Accepted: {other} has been told.")),
    "decline": EventWords(N_("Decline"), N_("declined"), N_("Declined: {other} has been told.")),
    "cancel": EventWords(
        N_("Cancel"), N_("cancelled the loan"), N_("Cancelled: {other} has been told.")
    ),
    "expire": EventWords(N_("Expire"), N_("expired: nobody answered in time")),
    "hand_over": EventWords(
        N_("Hand over"),
        N_("handed it over"),
        N_("Handed over: {other} has been told it is due back {due}."),
    ),
    "remind": EventWords(N_("Remind"), N_("reminded the borrower that it is due back soon")),
    "mark_overdue": EventWords(N_("Mark overdue"), N_("marked it overdue")),
    "mark_returned": EventWords(
        N_("Mark as returned"),
        N_("marked it as returned"),
        N_("Marked as returned: {other} has been asked to confirm."),
    ),
    "confirm_return": EventWords(
        N_("Confirm return"),
        N_("confirmed the return"),
        N_("Return confirmed: the loan is closed."),
    ),
    "dispute": EventWords(
        N_("Dispute"),
        N_("disputed the return"),
        N_("Disputed: {other} has been told what is wrong."),
    ),
    "add_note": EventWords(
        N_("Add a note"), N_("added a note"), N_("Note added: {other} has been told.")
    ),
    "resolve": EventWords(
        N_("Resolve"),
        N_("resolved the dispute"),
        N_("Resolved: {other} has been told how it ended."),
    ),
    # Not a step of the table: the initiator sent the loan to another address.
    "readdress": EventWords(N_("Send it elsewhere"), N_("sent it to another address")),
}

# How a creation reads in the timeline, by the state it created.
CREATED = {"requested": N_("asked to borrow it"), "offered": N_("offered to lend it")}

# What each state means, one line, on the loan page beside its badge.
MEANINGS = {
    "requested": N_("The lender has not answered yet."),
    "offered": N_("The borrower has not answered yet."),
    "agreed": N_("Agreed; the lender has yet to hand it over."),
    "declined": N_("Declined; nothing more happens."),
    "cancelled": N_("Cancelled; nothing more happens."),
    "expired": N_("Nobody answered in time; nothing more happens."),
    "lent": N_("With the borrower until it comes back."),
    "overdue": N_("Past its due date and not back yet."),
    "returned": N_("The borrower says it is back; the lender has yet to confirm."),
    "disputed": N_("The lender says something is wrong with the return."),
    "closed": N_("Back with the lender. All done."),
}

# The loan page's headline, by state and by the viewer's side. {other} is the other
# party, {item} the item, {due} the due date ("Sat 12 Dec"), {late} how late ("3 days
# overdue", one phrase so that a language can put the number where it belongs). For
# declined and cancelled it depends on who did it: "you" or "them".
HEADLINES = {
    ("requested", "borrower"): N_("You asked {other} to lend you the {item}"),
    ("requested", "lender"): N_("{other} asks to borrow your {item}"),
    ("offered", "lender"): N_("You offered to lend {other} your {item}"),
    ("offered", "borrower"): N_("{other} offers to lend you the {item}"),
    ("agreed", "lender"): N_("You agreed to lend {other} your {item}: hand it over when you meet"),
    ("agreed", "borrower"): N_("{other} agreed to lend you the {item}: waiting for the hand-over"),
    ("lent", "lender"): N_("{other} has your {item} — due back {due}"),
    ("lent", "borrower"): N_("You have {other}’s {item} — due back {due}"),
    ("overdue", "lender"): N_("{other} still has your {item} — {late}"),
    ("overdue", "borrower"): N_("{other}’s {item} is {late}: please give it back"),
    ("returned", "lender"): N_("{other} says the {item} is back — please confirm"),
    ("returned", "borrower"): N_("You gave the {item} back — {other} has been asked to confirm"),
    ("disputed", "lender"): N_("You disputed the return of the {item}"),
    ("disputed", "borrower"): N_("{other} says something is wrong with the return of the {item}"),
    ("closed", "lender"): N_("Your {item} is back with you — all done"),
    ("closed", "borrower"): N_("You gave the {item} back to {other} — all done"),
    ("expired", "lender"): N_("Nobody answered in time: the loan of your {item} expired"),
    ("expired", "borrower"): N_("Nobody answered in time: the loan of the {item} expired"),
    # Declined and cancelled: by who did it, and whether it was a request or an offer.
    ("declined", "you", "requested"): N_("You declined {other}’s request to borrow your {item}"),
    ("declined", "them", "requested"): N_("{other} declined your request to borrow the {item}"),
    ("declined", "you", "offered"): N_("You declined {other}’s offer of the {item}"),
    ("declined", "them", "offered"): N_("{other} declined your offer of the {item}"),
    ("cancelled", "you"): N_("You cancelled the loan of the {item}"),
    ("cancelled", "them"): N_("{other} cancelled the loan of the {item}"),
}


def state_name(state: str) -> str:
    return _(STATE_NAMES[state])


def event_name(event: str) -> str:
    return _(EVENTS[event].name)


def meaning(state: str) -> str:
    return _(MEANINGS[state])


def done(event: str, to_state: str | None = None) -> str:
    """The timeline's words after the actor's name."""
    if event == "create" and to_state in CREATED:
        return _(CREATED[to_state])
    return _(EVENTS[event].done) if event in EVENTS else _("changed the loan")


def short_day(value: date) -> str:
    """ "Sat 12 Dec": the due date as the headline and the dashboard say it (in the
    reader's language: app.i18n.FORMATS)."""
    return i18n.day(value, "short")


def days(n: int) -> str:
    return ngettext("%(num)d day", "%(num)d days", n)


def overdue_by(n: int) -> str:
    """ "3 days overdue": one phrase, for languages whose number of days changes form
    after a preposition (German: "seit 3 Tagen überfällig")."""
    return ngettext("%(num)d day overdue", "%(num)d days overdue", n)


def due_phrase(due: date, today: date) -> str:
    """A due date relative to today: "due today", "due tomorrow", "due in 3 days",
    "1 day overdue", "3 days overdue"."""
    delta = (due - today).days
    if delta < 0:
        return overdue_by(-delta)
    if delta == 0:
        return _("due today")
    if delta == 1:
        return _("due tomorrow")
    return ngettext("due in %(num)d day", "due in %(num)d days", delta)


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
    late = overdue_by(max((today - due).days, 1)) if due else ""
    template = _(HEADLINES[key])
    if isolate:
        # For a page: the names and the item, typed by people, each in a <bdi>, so
        # that right-to-left text cannot reorder the sentence around it.
        template, other, item = Markup(template), _bdi(other), _bdi(item)
    return template.format(
        other=other, item=item, due=short_day(due) if due else _("not set"), late=late
    )


def _bdi(text: str) -> Markup:
    return Markup("<bdi>{}</bdi>").format(text)


def flash(event: str, *, other: str, item: str, due: date | None) -> str:
    words = EVENTS[event]
    said = _(words.flash) if words.flash else _("%(name)s: done.", name=_(words.name))
    return said.format(other=other, item=item, due=short_day(due) if due else "")
