"""The "How loans work" page: the whole state machine, drawn and in plain words.

Public (no login): the loan page links here from its progress line. Everything on it
is read off the table the code runs (app.lending.states) and its words
(app.lending.words): the diagram (app.web.diagram) and, per state, what it means and
which steps lead on from it, by whom.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template
from flask_babel import gettext as _

from app.lending import words
from app.lending.states import FINISHED, LOAN, STATES
from app.web.diagram import state_diagram
from app.web.progress import DETOURS
from app.web.views import web

# Who may take a step, as the page says it ("system": the loan clock).
WHO = {
    "lender": words.N_("the lender"),
    "borrower": words.N_("the borrower"),
    "system": words.N_("Mooch, on its own"),
}


@dataclass(frozen=True)
class Move:
    event: str
    name: str  # "Mark as returned"
    who: str  # "the borrower", "the lender or the borrower"
    to: str | None  # the next state's name; None: the step leaves the loan where it is
    to_state: str | None = None


@dataclass(frozen=True)
class Stage:
    state: str
    name: str
    meaning: str
    moves: tuple[Move, ...]
    finished: bool


def who(roles) -> str:
    return _(" or ").join(
        _(WHO[role]) if role in WHO else f"the {role}" for role in sorted(roles, reverse=True)
    )


def starts() -> list[Move]:
    """How a loan begins: one move per creation row of the table."""
    return [
        Move(s.event, words.event_name(s.event), who(s.who), words.state_name(s.dest), s.dest)
        for s in LOAN.steps
        if s.source is None and s.dest
    ]


def stages() -> list[Stage]:
    """Every state, in the table's order, with the steps that leave it."""
    found = []
    for state in STATES:
        moves = tuple(
            Move(
                s.event,
                words.event_name(s.event),
                who(s.who),
                words.state_name(s.dest) if s.dest and s.dest != state else None,
                s.dest if s.dest != state else None,
            )
            # The happy path first, then the detours, then what leaves it as it is.
            for s in sorted(
                (s for s in LOAN.steps if s.source and state in s.source),
                key=lambda s: (s.dest in (None, state), s.event in DETOURS),
            )
        )
        found.append(
            Stage(
                state,
                words.state_name(state),
                words.meaning(state),
                moves,
                state in FINISHED,
            )
        )
    return found


@web.get("/how-loans-work")
def how_loans_work():
    return render_template(
        "web/how_loans_work.html", diagram=state_diagram(), starts=starts(), stages=stages()
    )
