"""Every email Mooch sends, declared in one table.

A notifier names its subject (a Jinja template over the same context as its body),
the one link it carries, and the words on that link. Its bodies are the templates
mail/<name>.txt and mail/<name>.html beside this file. One RQ job function serves
them all (jobs.deliver_notification); there is no class per mail action.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notifier:
    name: str
    subject: str
    link: str  # a key of links.LINKS
    action: str  # the words on the link (a one-line template, as the subject)
    calendar: bool = False  # attach the due date as an .ics event


# Subjects and actions are Jinja templates over the body's context
# (compose.context): `recipient_role`, `by_you` (the reader fired the event), `actor`,
# `other`, `due` ("Sat 12 Dec") and `words` (app.lending.words). Each is read from
# the reader's side: their own step in the second person, the other party's by name.
# A link that leads to a step on the loan page bears that step's button words.
_DUE = "{% if due %} — due {{ due }}{% endif %}"
SEE = "See the loan"


def _button(event: str) -> str:
    """The loan page's button for `event`, as a template (app.lending.words)."""
    return "{{ words.event_name('" + event + "') }}"


# Cancelled: what was called off, as the reader knows it.
_WHAT = (
    "{% if event.from_state == 'requested' %}"
    "{% if recipient_role == 'lender' %}the request for your {{ loan.item }}"
    "{% else %}your request for the {{ loan.item }}{% endif %}"
    "{% elif event.from_state == 'offered' %}"
    "{% if recipient_role == 'borrower' %}the offer of the {{ loan.item }}"
    "{% else %}your offer of the {{ loan.item }}{% endif %}"
    "{% elif recipient_role == 'lender' %}the loan of your {{ loan.item }}"
    "{% else %}the loan of the {{ loan.item }}{% endif %}"
)

_ANSWER = _button("accept") + " or {{ words.event_name('decline') | lower }}"

NOTIFIERS: dict[str, Notifier] = {
    n.name: n
    for n in (
        Notifier("loan_requested", "{{ borrower.name }} asks to borrow your {{ loan.item }}",
                 "loan", _ANSWER),
        Notifier("loan_offered", "{{ lender.name }} offers to lend you the {{ loan.item }}",
                 "loan", _ANSWER),
        Notifier("loan_accepted",
                 "{% if recipient_role == 'borrower' %}{{ actor.name }} agreed to lend you the "
                 "{{ loan.item }}{% else %}{{ actor.name }} agreed to borrow your {{ loan.item }}"
                 "{% endif %}",
                 "loan", "{% if recipient_role == 'lender' %}" + _button("hand_over")
                 + "{% else %}" + SEE + "{% endif %}"),
        Notifier("loan_declined",
                 "{{ actor.name }} declined {% if recipient_role == 'borrower' %}your request "
                 "for the {{ loan.item }}{% else %}your offer of the {{ loan.item }}{% endif %}",
                 "loan", SEE),
        Notifier("loan_cancelled",
                 "{% if actor and actor.state == 'closed' %}{{ actor.name }} left Mooch: "
                 + _WHAT + " is cancelled{% elif actor %}{{ actor.name }} cancelled "
                 + _WHAT + "{% else %}Cancelled: " + _WHAT + "{% endif %}",
                 "loan", SEE),
        Notifier("loan_expired",
                 "{% set asked = event.from_state == 'requested' %}"
                 "{% if asked == (recipient_role == 'borrower') %}{{ other.name }} did not "
                 "answer: {% if asked %}your request for the {{ loan.item }}{% else %}your offer "
                 "of the {{ loan.item }}{% endif %} expired{% else %}{{ other.name }}’s "
                 "{% if asked %}request for your {{ loan.item }}{% else %}offer of the "
                 "{{ loan.item }}{% endif %} expired unanswered{% endif %}",
                 "loan", SEE),
        Notifier("loan_started",
                 "{% if recipient_role == 'borrower' %}{{ lender.name }} lent you the "
                 "{{ loan.item }}{% else %}You lent {{ borrower.name }} the {{ loan.item }}"
                 "{% endif %}" + _DUE, "loan", SEE, calendar=True),
        Notifier("loan_due_soon",
                 "Due back {{ due }}: the {{ loan.item }} you borrowed from {{ lender.name }}",
                 "loan", _button("mark_returned")),
        Notifier("loan_overdue",
                 "{{ lender.name }}’s {{ loan.item }} {% if due %}was due back {{ due }}"
                 "{% else %}is overdue{% endif %}: please give it back",
                 "loan", _button("mark_returned")),
        Notifier("loan_overdue_lender",
                 "{{ borrower.name }} has not given your {{ loan.item }} back yet"
                 "{% if due %} — it was due back {{ due }}{% endif %}",
                 "loan", SEE),
        Notifier("loan_returned",
                 "{{ borrower.name }} gave the {{ loan.item }} back — please confirm",
                 "loan", _button("confirm_return")),
        Notifier("loan_closed",
                 "{% if by_you %}You confirmed the {{ loan.item }} is back{% else %}"
                 "{{ actor.name }} confirmed the {{ loan.item }} is back{% endif %} — all done",
                 "loan", SEE),
        Notifier("loan_disputed",
                 "{% if by_you %}You disputed the return of the {{ loan.item }}{% else %}"
                 "{{ actor.name }} says something is wrong with the return of the "
                 "{{ loan.item }}{% endif %}",
                 "loan", "{% if by_you %}" + SEE + "{% else %}" + _button("add_note")
                 + "{% endif %}"),
        Notifier("loan_note", "{{ actor.name }} added a note about the {{ loan.item }}",
                 "loan", _button("add_note")),
        Notifier("loan_resolved",
                 "{% if by_you %}You resolved{% else %}{{ actor.name }} resolved{% endif %} "
                 "the dispute about the {{ loan.item }} — all done", "loan", SEE),
        Notifier("invitation", "{{ actor.name }} invited you to Mooch"
                 "{% if loan %} about the {{ loan.item }}{% endif %}", "signup", "Join Mooch"),
        Notifier("signup_confirmation", "Confirm your email address for Mooch",
                 "confirm", "Confirm my address"),
        Notifier("signup_attempt", "Someone tried to sign up to Mooch with your address",
                 "login", "Log in"),
        Notifier("welcome", "Welcome to Mooch, {{ recipient.name }}", "home", "Open Mooch"),
        Notifier("password_reset", "Reset your Mooch password", "reset", "Choose a new password"),
        Notifier("password_changed", "Your Mooch password was changed", "forgot",
                 "Reset my password"),
        Notifier("disconnect_confirmation", "Confirm closing your Mooch account",
                 "disconnect", "Close my account"),
        Notifier("farewell", "Your Mooch account is closed", "home", "Visit Mooch"),
    )
}  # fmt: skip

# The mail a person may turn off, in the words of the account page's mail settings.
# Every other notifier is essential and always sent: it proves an address, guards an
# account, or asks for the answer that moves a loan on (a request, an offer, the
# invitation carrying one).
OPTIONAL: dict[str, str] = {
    "loan_accepted": "Someone accepts your request or offer",
    "loan_declined": "Someone declines your request or offer",
    "loan_cancelled": "A loan is cancelled",
    "loan_expired": "A request or offer expires unanswered",
    "loan_started": "A loan starts (with its due date for your calendar)",
    "loan_due_soon": "Something you borrowed is due back soon",
    "loan_overdue": "Something you borrowed is overdue",
    "loan_overdue_lender": "Something you lent is overdue",
    "loan_returned": "A borrower says your thing is back",
    "loan_closed": "A loan is closed",
    "loan_disputed": "A return is disputed",
    "loan_note": "A note about a disputed return",
    "loan_resolved": "A dispute is resolved",
    "welcome": "Welcome, once your address is confirmed",
}
ESSENTIAL = frozenset(NOTIFIERS) - set(OPTIONAL)
if not set(OPTIONAL) <= set(NOTIFIERS):
    raise ValueError(f"OPTIONAL names unknown notifiers: {set(OPTIONAL) - set(NOTIFIERS)}")
