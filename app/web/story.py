"""What a loan looks like to one of its parties, in the loan's words
(app.lending.words): the headline, whose move it is, how due it is. The dashboard and
the loan page both read these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from app.i18n import N_
from app.lending import service as lending
from app.lending import words
from app.lending.states import BACKWARD, FINISHED
from app.models import Loan, User


@dataclass(frozen=True)
class Seen:
    loan: Loan
    role: str
    other: str  # the other party's name, as the viewer may see it
    headline: str
    forward: list[str]  # the names of the forward ones ("Accept", "Decline")
    due: str | None  # "due tomorrow", "3 days overdue"
    urgency: str | None  # "overdue", "due-soon" or None

    @property
    def finished(self) -> bool:
        return self.loan.state in FINISHED


def urgency(loan: Loan, today: date) -> str | None:
    if loan.state == "overdue" or (
        loan.due_date and loan.state == "lent" and loan.due_date < today
    ):
        return "overdue"
    if (
        loan.due_date
        and loan.state == "lent"
        and (loan.due_date - today).days <= lending.DUE_SOON_DAYS
    ):
        return "due-soon"
    return None


def headline(loan: Loan, viewer: User, today: date) -> str:
    role = loan.role_of(viewer) or "borrower"
    by_viewer = False
    if loan.state == "cancelled" and loan.events:
        by_viewer = loan.events[-1].actor_id == viewer.id
    elif loan.state == "declined":
        # Only the party who did not start the loan can decline it.
        by_viewer = loan.initiator_id is not None and loan.initiator_id != viewer.id
    created_as = "requested" if loan.initiator_id == loan.borrower_id else "offered"
    return words.headline(
        loan.state,
        role,
        other=loan.shown_name(loan.other_party(viewer), viewer),
        item=loan.item,
        due=loan.due_date,
        today=today,
        by_viewer=by_viewer,
        created_as=created_as,
        isolate=True,
    )


def seen(loan: Loan, viewer: User, today: date | None = None) -> Seen:
    today = today or lending.today()
    events = in_order(lending.allowed_events(loan, viewer))
    forward = [e for e in events if e not in BACKWARD]
    shows_due = loan.due_date is not None and loan.state in ("agreed", "lent", "overdue")
    return Seen(
        loan=loan,
        role=loan.role_of(viewer) or "borrower",
        other=loan.shown_name(loan.other_party(viewer), viewer),
        headline=headline(loan, viewer, today),
        forward=[words.event_name(e) for e in forward],
        due=words.due_phrase(loan.due_date, today) if shows_due else None,
        urgency=urgency(loan, today),
    )


# Steps that undo or contest: secondary, and each asks "are you sure?" first. Messages
# of the catalogue, in English here: translate with gettext where shown.
CONFIRM = {
    "cancel": N_(
        "Cancel the loan of the {item}? {other} will be told, and nothing more can happen to it."
    ),
    "dispute": N_(
        "{other} will read what you write here, on the loan page and in an email. "
        "Either of you can then add a note, and mark it resolved once you have sorted it out."
    ),
}
# The note's label, for the steps that need one (any other step's note is optional).
NOTE_LABELS = {
    "dispute": N_("What is wrong with the return? (required)"),
    "add_note": N_("Your note (required)"),
    "resolve": N_("How did you sort it out? One line is enough (required)"),
}
NOTE = N_("Note")
# The order of the buttons: the step that moves the loan on first, then the others,
# then the ones that undo or contest.
_RANK = {"decline": 1, "add_note": 1, "dispute": 2, "cancel": 3}


def in_order(events: list[str]) -> list[str]:
    return sorted(events, key=lambda e: _RANK.get(e, 0))


def other_moves(loan: Loan, viewer: User) -> list[str]:
    """The names of the other party's forward moves: what the viewer waits for."""
    other = loan.other_party(viewer)
    return [words.event_name(e) for e in lending.allowed_events(loan, other) if e not in BACKWARD]
