"""Turning a notification row into a Flask-Mail Message: subject, text and HTML
bodies, threading headers and, for a started loan, the due date as a calendar event.

Every mail speaks to its reader: the context says who the reader is (`recipient`,
`recipient_role`), who did what (`actor`, `event`) and whether that was the reader
(`by_you`), and carries the loan's one vocabulary (`words`, app.lending.words) so
that a mail names a step or a button exactly as the loan page does."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, render_template
from flask_babel import gettext as _
from jinja2 import Template

from app import i18n, validation
from app.lending import words
from app.models import Loan, Notification, User
from app.notifications import digest
from app.notifications.links import absolute, link_for, loan_path
from app.notifications.mailer import OutgoingMessage, _sender_pair
from app.notifications.notifiers import DIGEST, NOTIFIERS, OPTIONAL, Notifier
from app.notifications.preferences import (
    list_unsubscribe_headers,
    unsubscribable,
    unsubscribe_path,
)

# The account page's mail settings, linked from every optional mail's footer.
SETTINGS_PATH = "/account#mail"


def mail_domain() -> str:
    """The domain of the sender's address ("Mooch <mooch@example.com>", read as the
    From header is): Message-IDs and calendar UIDs are made in it."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    address = sender[1] if isinstance(sender, tuple) else _sender_pair(sender)[1]
    return address.rsplit("@", 1)[-1] or "mooch.local"


def message_id(notification: Notification) -> str:
    return f"<{notification.message_token}@{mail_domain()}>"


def thread_id(loan: Loan) -> str:
    """A stable id every mail about one loan refers to, so mail clients thread them."""
    stamp = int(loan.created_at.timestamp())
    return f"<loan-{loan.id}-{stamp}@{mail_domain()}>"


def short_date(value: date | None) -> str | None:
    """ "Sat 12 Dec": a due date as the loan page says it (words.short_day)."""
    return words.short_day(value) if value else None


class Party:
    """A loan's party as the mail's recipient may see them: by the address alone while
    they are the counterparty who has not answered the recipient (Loan.shown_name)."""

    def __init__(self, user: User, name: str) -> None:
        self._user = user
        self.name = name

    def __getattr__(self, attribute: str):
        return getattr(self._user, attribute)


def context(notification: Notification) -> dict:
    loan = notification.loan
    recipient = notification.recipient
    event = notification.audit_event
    role = loan.role_of(recipient) if loan else None
    notifier = NOTIFIERS[notification.notifier]

    def seen(user: User | None) -> Party | User | None:
        if user is None or loan is None:
            return user
        return Party(user, loan.shown_name(user, recipient))

    actor = seen(event.actor) if event else None
    return {
        "notifier": notifier,
        "words": words,
        "recipient": recipient,
        "recipient_role": role,
        "loan": loan,
        "lender": seen(loan.lender) if loan else None,
        "borrower": seen(loan.borrower) if loan else None,
        "other": seen(loan.other_party(recipient)) if role else None,
        "actor": actor,
        # The reader fired the event: their own step is told in the second person.
        "by_you": actor is not None and actor.id == recipient.id,
        "event": event,
        "due": short_date(loan.due_date) if loan else None,
        "link": link_for(notifier.link, recipient, loan),
        "loan_url": absolute(loan_path(loan.id)) if loan else None,
        "base_url": current_app.config["BASE_URL"],
        "expiry_days": current_app.config["LOAN_EXPIRY_DAYS"],
        # Optional mail only: what it is about in the settings' words, and where to
        # turn it off (one click) or change every choice. The digest too: its link
        # stops the digest.
        "optional": _(OPTIONAL[notifier.name]) if notifier.name in OPTIONAL else None,
        "unsubscribe_url": absolute(unsubscribe_path(recipient.id, notifier.name))
        if unsubscribable(notifier.name) and recipient.id is not None
        else None,
        "settings_url": absolute(SETTINGS_PATH),
        # The daily digest: the rows it carries, by loan (digest.View).
        "digest": digest.view(notification) if notifier.name == DIGEST else None,
    }


def calendar_for(loan: Loan) -> bytes:
    """The due date as a calendar event, in the language being spoken (compose calls
    it inside app.i18n.speaking_to, for the recipient)."""
    # Only the mail of a started loan carries a calendar: icalendar (3 MiB of modules)
    # is loaded by the first one, not by every worker at start.
    from icalendar import Calendar
    from icalendar import Event as CalendarEvent

    cal = Calendar()
    cal.add("prodid", "-//Mooch//Loans//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    entry = CalendarEvent()
    lender = loan.lender.name
    entry.add("uid", f"loan-{loan.id}@{mail_domain()}")
    entry.add("dtstamp", loan.created_at)
    entry.add("dtstart", loan.due_date)
    entry.add("dtend", loan.due_date + timedelta(days=1))
    entry.add("summary", _("Return the %(item)s to %(lender)s", item=loan.item, lender=lender))
    entry.add(
        "description",
        _(
            "%(lender)s lent %(item)s to %(borrower)s.",
            lender=lender,
            item=loan.item,
            borrower=loan.borrower.name,
        ),
    )
    entry.add("url", absolute(loan_path(loan.id)))
    cal.add_component(entry)
    return cal.to_ical()


def _line_template(notifier: Notifier, field: str) -> Template:
    """A one-line template of the notifier (its subject or its action), compiled once
    per app. Plain text: no HTML escaping (the HTML body escapes the action when it
    shows it)."""
    cache = current_app.extensions.setdefault("mooch_subjects", {})
    key = (notifier.name, field)
    if key not in cache:
        source = "{% autoescape false %}" + getattr(notifier, field) + "{% endautoescape %}"
        cache[key] = current_app.jinja_env.from_string(source)
    return cache[key]


def subject_template(notifier: Notifier) -> Template:
    return _line_template(notifier, "subject")


def one_line(notifier: Notifier, field: str, ctx: dict) -> str:
    """The notifier's subject or action for this context, on one line: no line break
    a user typed (an item's name) can reach a header."""
    return " ".join(_line_template(notifier, field).render(**ctx).split())


def render(notification: Notification) -> tuple[dict, str, str, str]:
    """The context, subject, text body and HTML body of `notification`, in its
    recipient's language and time zone (whoever's request or job renders it)."""
    with i18n.speaking_to(notification.recipient):
        ctx = context(notification)
        notifier = ctx["notifier"]
        ctx["subject"] = subject = one_line(notifier, "subject", ctx)
        ctx["action"] = one_line(notifier, "action", ctx)
        text = render_template(f"mail/{notifier.name}.txt", **ctx)
        html = render_template(f"mail/{notifier.name}.html", **ctx)
    return ctx, subject, text, html


def _calendar_in_their_language(notification: Notification) -> bytes:
    with i18n.speaking_to(notification.recipient):
        return calendar_for(notification.loan)


def shown_name(recipient: User) -> str | None:
    # Only an account that proved its address chose its own name; a pending or invited
    # one's was typed by whoever signed up or invited, and is not put before the
    # address it would seem to vouch for.
    return recipient.name if recipient.is_active else None


def compose(notification: Notification) -> OutgoingMessage:
    ctx, subject, text, html = render(notification)
    notifier = ctx["notifier"]
    # Raises for an address we would no longer accept (the mail ends `failed`, saying
    # why), rather than sending to whatever a mangled form of it would reach.
    address = validation.wire_address(notification.recipient_email)
    message = OutgoingMessage(
        subject=subject,
        to=[(shown_name(notification.recipient), address)],
        body=text,
        html=html,
        extra_headers={},
        msg_id=message_id(notification),
    )
    if ctx["unsubscribe_url"]:
        message.extra_headers.update(
            list_unsubscribe_headers(
                notification.recipient_id, notifier.name, ctx["unsubscribe_url"]
            )
        )
    if notification.loan is not None:
        root = thread_id(notification.loan)
        message.extra_headers["In-Reply-To"] = root
        message.extra_headers["References"] = root
    if notifier.calendar and notification.loan is not None and notification.loan.due_date:
        message.attach(
            filename="due-date.ics",
            content_type="text/calendar; method=PUBLISH; charset=utf-8",
            data=_calendar_in_their_language(notification),
        )
    return message
