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
    action: str  # the words on the link
    calendar: bool = False  # attach the due date as an .ics event


_DUE = "{% if due %} — due {{ due }}{% endif %}"

NOTIFIERS: dict[str, Notifier] = {
    n.name: n
    for n in (
        Notifier("loan_requested", "{{ borrower.name }} asks to borrow your {{ loan.item }}",
                 "loan", "Answer the request"),
        Notifier("loan_offered", "{{ lender.name }} offers to lend you the {{ loan.item }}",
                 "loan", "Answer the offer"),
        Notifier("loan_accepted", "{{ actor.name }} agreed: the {{ loan.item }}",
                 "loan", "See the loan"),
        Notifier("loan_declined", "{{ actor.name }} declined: the {{ loan.item }}",
                 "loan", "See the loan"),
        Notifier("loan_cancelled", "{{ actor.name if actor else 'Mooch' }} called off: "
                 "the {{ loan.item }}", "loan", "See the loan"),
        Notifier("loan_expired", "Expired unanswered: the {{ loan.item }}",
                 "loan", "See the loan"),
        Notifier("loan_started",
                 "{% if recipient_role == 'borrower' %}{{ lender.name }} lent you the "
                 "{{ loan.item }}{% else %}You lent {{ borrower.name }} the {{ loan.item }}"
                 "{% endif %}" + _DUE, "loan", "See the loan", calendar=True),
        Notifier("loan_due_soon", "Due back {{ due }}: the {{ loan.item }} from {{ lender.name }}",
                 "loan", "Mark it returned"),
        Notifier("loan_overdue", "Overdue: the {{ loan.item }} from {{ lender.name }}" + _DUE,
                 "loan", "Mark it returned"),
        Notifier("loan_overdue_lender",
                 "{{ borrower.name }} has not returned your {{ loan.item }} yet" + _DUE,
                 "loan", "See the loan"),
        Notifier("loan_returned", "{{ borrower.name }} returned your {{ loan.item }}",
                 "loan", "Confirm the return"),
        Notifier("loan_closed", "Closed: the {{ loan.item }} is back with {{ lender.name }}",
                 "loan", "See the loan"),
        Notifier("loan_disputed", "{{ lender.name }} disputes the return of the {{ loan.item }}",
                 "loan", "Sort it out"),
        Notifier("loan_resolved", "Resolved: the {{ loan.item }}", "loan", "See the loan"),
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
