"""The loan workflow, as data: the table "The loan" of docs/architecture.md, one row
per line.

Roles: "lender", "borrower", "system" (the loan clock). Recipients: "lender",
"borrower", or "other" (the party who did not fire the event).
"""

from __future__ import annotations

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
    step("dispute",    "returned",               "disputed",  "lender",      both("loan_disputed")),
    step("resolve",    "disputed",               "closed",    BOTH,          both("loan_resolved")),
)  # fmt: skip

LOAN = Workflow("loan", STATES, STEPS)


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
# The states in which each side has an event of its own to fire.
ACTIONABLE = {role: tuple(s for s in STATES if LOAN.allowed(s, role)) for role in PARTIES}
# The rest of the open states: each side waits, on the other or on the loan clock.
WAITING = {
    role: tuple(s for s in STATES if s not in FINISHED and s not in ACTIONABLE[role])
    for role in PARTIES
}
