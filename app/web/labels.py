"""The pages' words beyond the loan's own (those are app.lending.words): a mail's
delivery status and a notifier's name, as the person reading the page would put it."""

from __future__ import annotations

from app.lending.states import FINISHED  # noqa: F401 -- finished states, as the pages group them
from app.notifications.preferences import TURNED_OFF  # noqa: F401 -- a skipped row's reason

DELIVERY = {
    "pending": "queued",
    "sent": "sent",
    "failed": "failed",
    "skipped": "not sent",
    "suppressed": "not sent",
}


def notifier(name: str) -> str:
    return name.replace("_", " ").capitalize()
