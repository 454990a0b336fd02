"""The words the pages use for states, events and emails."""

from __future__ import annotations

# What each state means, to the person reading the loan page.
STATES = {
    "requested": "Asked for: waiting for the lender to accept or decline.",
    "offered": "Offered: waiting for the borrower to accept or decline.",
    "agreed": "Agreed: waiting for the lender to hand it over.",
    "declined": "Declined.",
    "cancelled": "Called off.",
    "expired": "Expired: nobody answered in time.",
    "lent": "Lent: with the borrower until it comes back.",
    "overdue": "Overdue: past its due date and not back yet.",
    "returned": "Given back: waiting for the lender to confirm.",
    "disputed": "Disputed: the lender says the return is not right.",
    "closed": "Closed: all done.",
}

# The button for each event a party may fire.
EVENTS = {
    "accept": "Accept",
    "decline": "Decline",
    "cancel": "Call it off",
    "hand_over": "Hand it over",
    "mark_returned": "I gave it back",
    "confirm_return": "I got it back",
    "dispute": "Something is wrong",
    "resolve": "We sorted it out",
}

# What an event did, for the timeline.
DONE = {
    "create": "started the loan",
    "accept": "accepted",
    "decline": "declined",
    "cancel": "called it off",
    "expire": "expired, unanswered",
    "hand_over": "handed it over",
    "remind": "reminded the borrower of the due date",
    "mark_overdue": "marked it overdue",
    "mark_returned": "gave it back",
    "confirm_return": "confirmed the return",
    "dispute": "disputed the return",
    "resolve": "marked it resolved",
    "readdress": "sent it to another address",
}

# A notification's status, as the person reading the page would put it.
DELIVERY = {"pending": "queued", "sent": "sent", "failed": "failed", "skipped": "not sent"}

# Loans in these states need nobody any more.
FINISHED = ("declined", "cancelled", "expired", "closed")


def notifier(name: str) -> str:
    return name.replace("_", " ").capitalize()
