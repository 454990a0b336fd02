"""The loan workflow, as data: the table "The loan" of docs/architecture.md, one row
per line.

Roles: "lender", "borrower", "system" (the loan clock). Recipients: "lender",
"borrower", or "other" (the party who did not fire the event).
"""

from __future__ import annotations

from app.lending import words
from app.workflow import Workflow, step

STATES = (
    "requested",
    "offered",
    "agreed",
    "declined",
    "cancelled",
    "expired",
    "lent",
    "overdue",
    "returned",
    "disputed",
    "closed",
)

PARTIES = ("lender", "borrower")
BOTH = PARTIES


def both(notifier: str) -> dict[str, str]:
    return {"lender": notifier, "borrower": notifier}


STEPS = (
    # event            from                      to           who may fire   who is emailed
    step("create",     None,                     "requested", "borrower",    {"lender": "loan_requested"}),
    step("create",     None,                     "offered",   "lender",      {"borrower": "loan_offered"}),
    step("accept",     "requested",              "agreed",    "lender",      {"borrower": "loan_accepted"}),
    step("accept",     "offered",                "agreed",    "borrower",    {"lender": "loan_accepted"}),
    step("decline",    "requested",              "declined",  "lender",      {"borrower": "loan_declined"}),
    step("decline",    "offered",                "declined",  "borrower",    {"lender": "loan_declined"}),
    step("cancel",     "requested",              "cancelled", "borrower",    {"lender": "loan_cancelled"}),
    step("cancel",     "offered",                "cancelled", "lender",      {"borrower": "loan_cancelled"}),
    step("cancel",     "agreed",                 "cancelled", BOTH,          {"other": "loan_cancelled"}),
    step("expire",     ("requested", "offered"), "expired",   "system",      both("loan_expired")),
    step("hand_over",  "agreed",                 "lent",      "lender",      both("loan_started"), needs=["due_date"]),
    step("remind",     "lent",                   None,        "system",      {"borrower": "loan_due_soon"}),
    step("mark_overdue", "lent",                 "overdue",   "system",      {"borrower": "loan_overdue", "lender": "loan_overdue_lender"}),
    step("mark_returned", ("lent", "overdue"),   "returned",  "borrower",    {"lender": "loan_returned"}),
    step("confirm_return", "returned",           "closed",    "lender",      both("loan_closed")),
    step("dispute",    "returned",               "disputed",  "lender",      both("loan_disputed"), needs=["note"]),
    step("add_note",   "disputed",               None,        BOTH,          {"other": "loan_note"}, needs=["note"]),
    step("resolve",    "disputed",               "closed",    BOTH,          both("loan_resolved"), needs=["note"]),
)  # fmt: skip

# Every state and event has its human name (app.lending.words): a row without one
# fails here, at import.
LOAN = Workflow(
    "loan",
    STATES,
    STEPS,
    event_names={e: words.EVENTS[e].name for e in words.EVENTS},
    state_names=words.STATE_NAMES,
)
_meaningless = [s for s in STATES if s not in words.MEANINGS]
if _meaningless:
    raise ValueError(f"app.lending.words.MEANINGS has nothing for {_meaningless}")


def other_side(role: str) -> str:
    """The party who is not `role`: "lender" for "borrower" and the other way round."""
    return PARTIES[1 - PARTIES.index(role)]


def sources(event: str) -> tuple[str, ...]:
    """Every state `event` leaves, by the table."""
    return tuple(s for s in STATES if LOAN.step_from(s, event) is not None)


# The groups of states, read off the table so that each rule lives in its rows alone.
# The states a new loan starts in (a request or an offer, not yet answered).
CREATION_STATES = tuple(s.dest for s in STEPS if s.source is None)
# States from which a loan can still be called off (by cancel, or by an account closing).
OPEN_STATES = sources("cancel")
# States no step leaves: the loan needs nobody any more (app.web.labels.FINISHED).
FINISHED = tuple(s for s in STATES if not any(s in (t.source or ()) for t in STEPS))
# States in which the item is out of the lender's hands: neither open nor finished.
IN_PROGRESS_STATES = tuple(s for s in STATES if s not in OPEN_STATES and s not in FINISHED)
# Events that move a loan forward: all but calling it off (a party who can only
# cancel is waiting on the other, not holding the loan up).
BACKWARD = ("cancel",)
# The states in which each side has a forward move of its own (the dashboard's "Needs
# your action").
ACTIONABLE = {
    role: tuple(s for s in STATES if any(e not in BACKWARD for e in LOAN.allowed(s, role)))
    for role in PARTIES
}
# The rest of the open states: each side waits, on the other or on the loan clock.
WAITING = {
    role: tuple(s for s in STATES if s not in FINISHED and s not in ACTIONABLE[role])
    for role in PARTIES
}
