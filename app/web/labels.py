"""The pages' words beyond the loan's own (those are app.lending.words): a mail's
delivery status and a notifier's name, as the person reading the page would put it."""

from __future__ import annotations

from flask_babel import gettext as _

from app.i18n import N_
from app.lending.states import FINISHED  # noqa: F401 -- finished states, as the pages group them
from app.lending.words import short_day
from app.notifications import suppression
from app.notifications.preferences import TURNED_OFF  # noqa: F401 -- a skipped row's reason

DELIVERY = {  # messages of the catalogue: read them through delivery()
    "pending": N_("queued"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "skipped": N_("not sent"),
    "suppressed": N_("not sent"),
    "digest": N_("daily digest"),
}


def delivery(status: str) -> str:
    """A mail's status, in the reader's language."""
    return _(DELIVERY[status]) if status in DELIVERY else status


# Each mail by name, as the loan page's timeline lists it (messages of the catalogue).
NOTIFIER_NAMES = {
    "loan_requested": N_("Loan requested"),
    "loan_offered": N_("Loan offered"),
    "loan_accepted": N_("Loan accepted"),
    "loan_declined": N_("Loan declined"),
    "loan_cancelled": N_("Loan cancelled"),
    "loan_expired": N_("Loan expired"),
    "loan_started": N_("Loan started"),
    "loan_due_soon": N_("Loan due soon"),
    "loan_overdue": N_("Loan overdue"),
    "loan_overdue_lender": N_("Loan overdue lender"),
    "loan_returned": N_("Loan returned"),
    "loan_closed": N_("Loan closed"),
    "loan_disputed": N_("Loan disputed"),
    "loan_note": N_("Loan note"),
    "loan_resolved": N_("Loan resolved"),
    "invitation": N_("Invitation"),
    "signup_confirmation": N_("Signup confirmation"),
    "signup_attempt": N_("Signup attempt"),
    "welcome": N_("Welcome"),
    "password_reset": N_("Password reset"),
    "password_changed": N_("Password changed"),
    "disconnect_confirmation": N_("Disconnect confirmation"),
    "farewell": N_("Farewell"),
    "daily_digest": N_("Daily digest"),
    "address_confirmation": N_("Address confirmation"),
}


def notifier(name: str) -> str:
    if name in NOTIFIER_NAMES:
        return _(NOTIFIER_NAMES[name])
    return name.replace("_", " ").capitalize()


# Why an address gets no mail, for the pages: suppression_kind() tells a complaint
# (COMPLAINT_KIND) from a bounce, for an entry's reason or a suppressed row's
# last_error; suppression_said() is what the server or the provider said.
COMPLAINT_KIND = suppression.COMPLAINT_KIND
suppression_kind = suppression.kind
suppression_said = suppression.said


def in_digest(carrier, whose: str | None) -> str:
    """Where a mail held for its reader's daily digest stands, for the loan page:
    `carrier` is the digest row that carried it (None until one did), `whose` the
    reader as the page names them ("Ana"), None for the viewer's own."""
    day = short_day(carrier.digest_day) if carrier is not None and carrier.digest_day else None
    if whose is None:
        of = _("your daily digest of %(day)s", day=day) if day else _("your daily digest")
    elif day:
        of = _("%(name)s’s daily digest of %(day)s", name=whose, day=day)
    else:
        of = _("%(name)s’s daily digest", name=whose)
    if carrier is None:
        return _("in %(digest)s", digest=of)
    if carrier.status == "sent":
        return _("emailed in %(digest)s", digest=of)
    if carrier.status == "pending":
        return _("in %(digest)s, on its way", digest=of)
    if carrier.status == "suppressed":
        return _("not emailed: %(digest)s was not sent, the address gets no mail", digest=of)
    return _("not emailed: %(digest)s could not be delivered", digest=of)
