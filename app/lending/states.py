"""The loan workflow, as data: DESIGN.md's table "The loan", one row per line.

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
BOTH_NOTIFIED = lambda notifier: {"lender": notifier, "borrower": notifier}  # noqa: E731

STEPS = (
    # event            from                      to           who may fire   who is emailed
    step("create",     None,                     "requested", "borrower",    {"lender": "loan_requested"}),  # noqa: E501
    step("create",     None,                     "offered",   "lender",      {"borrower": "loan_offered"}),  # noqa: E501
    step("accept",     "requested",              "agreed",    "lender",      {"borrower": "loan_accepted"}),  # noqa: E501
    step("accept",     "offered",                "agreed",    "borrower",    {"lender": "loan_accepted"}),  # noqa: E501
    step("decline",    "requested",              "declined",  "lender",      {"borrower": "loan_declined"}),  # noqa: E501
    step("decline",    "offered",                "declined",  "borrower",    {"lender": "loan_declined"}),  # noqa: E501
    step("cancel",     "requested",              "cancelled", "borrower",    {"lender": "loan_cancelled"}),  # noqa: E501
    step("cancel",     "offered",                "cancelled", "lender",      {"borrower": "loan_cancelled"}),  # noqa: E501
    step("cancel",     "agreed",                 "cancelled", BOTH,          {"other": "loan_cancelled"}),  # noqa: E501
    step("expire",     ("requested", "offered"), "expired",   "system",      BOTH_NOTIFIED("loan_expired")),  # noqa: E501
    step("hand_over",  "agreed",                 "lent",      "lender",      BOTH_NOTIFIED("loan_started"), needs=["due_date"]),  # noqa: E501
    step("remind",     "lent",                   None,        "system",      {"borrower": "loan_due_soon"}),  # noqa: E501
    step("mark_overdue", "lent",                 "overdue",   "system",      {"borrower": "loan_overdue", "lender": "loan_overdue_lender"}),  # noqa: E501
    step("mark_returned", ("lent", "overdue"),   "returned",  "borrower",    {"lender": "loan_returned"}),  # noqa: E501
    step("confirm_return", "returned",           "closed",    "lender",      BOTH_NOTIFIED("loan_closed")),  # noqa: E501
    step("dispute",    "returned",               "disputed",  "lender",      BOTH_NOTIFIED("loan_disputed")),  # noqa: E501
    step("resolve",    "disputed",               "closed",    BOTH,          BOTH_NOTIFIED("loan_resolved")),  # noqa: E501
)  # fmt: skip

LOAN = Workflow("loan", STATES, STEPS)

# States from which a loan can still be called off (by cancel, or by an account closing).
OPEN_STATES = ("requested", "offered", "agreed")
# States in which the item is out of the lender's hands.
IN_PROGRESS_STATES = ("lent", "overdue", "returned", "disputed")
