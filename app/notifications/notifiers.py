"""Every email Mooch sends, declared in one table.

A notifier names its subject (a Jinja template over the same context as its body),
the one link it carries, and the words on that link. Its bodies are the templates
mail/<name>.txt and mail/<name>.html beside this file. One RQ job function serves
them all (jobs.deliver_notification); there is no class per mail action.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.i18n import N_


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
# Every sentence is a message of the catalogue (`tr`), said in the reader's language.


def tr(message: str, **names: str) -> str:
    """`message` (a message of the catalogue, extracted by the keyword `tr`) as a
    template: each %(name)s of it is filled with the context's expression `names[name]`.
    Said in the reader's language: compose renders it inside app.i18n.speaking_to."""
    filled = "".join(f", {name}={expression}" for name, expression in names.items())
    return "{{ _(" + repr(message) + filled + ") }}"


# The plain words (others show them too: translate with gettext where shown), and the
# same as a template for the table.
SEE = N_("See the loan")
_SEE = tr(SEE)


def _button(event: str) -> str:
    """The loan page's button for `event`, as a template (app.lending.words)."""
    return "{{ words.event_name('" + event + "') }}"


_ITEM = {"item": "loan.item"}
# Cancelled: what was called off, as the reader knows it (the same words as the body).
_WHAT = (
    "{% set what %}"
    "{% if event.from_state == 'requested' %}"
    "{% if recipient_role == 'lender' %}"
    + tr("the request for your %(item)s", **_ITEM)
    + "{% else %}"
    + tr("your request for the %(item)s", **_ITEM)
    + "{% endif %}"
    "{% elif event.from_state == 'offered' %}"
    "{% if recipient_role == 'borrower' %}"
    + tr("the offer of the %(item)s", **_ITEM)
    + "{% else %}"
    + tr("your offer of the %(item)s", **_ITEM)
    + "{% endif %}"
    "{% elif recipient_role == 'lender' %}"
    + tr("the loan of your %(item)s", **_ITEM)
    + "{% else %}"
    + tr("the loan of the %(item)s", **_ITEM)
    + "{% endif %}"
    "{% endset %}"
)

_ANSWER = tr(
    "%(accept)s or %(decline)s",
    accept="words.event_name('accept')",
    decline="words.event_name('decline') | lower_first",
)


def _either(test: str, yes: str, no: str) -> str:
    return "{% if " + test + " %}" + yes + "{% else %}" + no + "{% endif %}"


_ACTOR = {"actor": "actor.name", **_ITEM}

NOTIFIERS: dict[str, Notifier] = {
    n.name: n
    for n in (
        Notifier("loan_requested",
                 tr("%(borrower)s asks to borrow your %(item)s", borrower="borrower.name", **_ITEM),
                 "loan", _ANSWER),
        Notifier("loan_offered",
                 tr("%(lender)s offers to lend you the %(item)s", lender="lender.name", **_ITEM),
                 "loan", _ANSWER),
        Notifier("loan_accepted",
                 _either("recipient_role == 'borrower'",
                         tr("%(actor)s agreed to lend you the %(item)s", **_ACTOR),
                         tr("%(actor)s agreed to borrow your %(item)s", **_ACTOR)),
                 "loan", _either("recipient_role == 'lender'", _button("hand_over"), _SEE)),
        Notifier("loan_declined",
                 _either("recipient_role == 'borrower'",
                         tr("%(actor)s declined your request for the %(item)s", **_ACTOR),
                         tr("%(actor)s declined your offer of the %(item)s", **_ACTOR)),
                 "loan", _SEE),
        Notifier("loan_cancelled",
                 _WHAT
                 + "{% if actor and actor.state == 'closed' %}"
                 + tr("%(actor)s left Mooch: %(what)s is cancelled", actor="actor.name",
                      what="what")
                 + "{% elif actor %}"
                 + tr("%(actor)s cancelled %(what)s", actor="actor.name", what="what")
                 + "{% else %}" + tr("Cancelled: %(what)s", what="what") + "{% endif %}",
                 "loan", _SEE),
        Notifier("loan_expired",
                 "{% set asked = event.from_state == 'requested' %}"
                 "{% if asked == (recipient_role == 'borrower') %}"
                 + _either("asked",
                           tr("%(other)s did not answer: your request for the %(item)s expired",
                              other="other.name", **_ITEM),
                           tr("%(other)s did not answer: your offer of the %(item)s expired",
                              other="other.name", **_ITEM))
                 + "{% else %}"
                 + _either("asked",
                           tr("%(other)s’s request for your %(item)s expired unanswered",
                              other="other.name", **_ITEM),
                           tr("%(other)s’s offer of the %(item)s expired unanswered",
                              other="other.name", **_ITEM))
                 + "{% endif %}",
                 "loan", _SEE),
        Notifier("loan_started",
                 "{% if recipient_role == 'borrower' %}"
                 + _either("due",
                           tr("%(lender)s lent you the %(item)s — due %(due)s",
                              lender="lender.name", due="due", **_ITEM),
                           tr("%(lender)s lent you the %(item)s", lender="lender.name", **_ITEM))
                 + "{% else %}"
                 + _either("due",
                           tr("You lent %(borrower)s the %(item)s — due %(due)s",
                              borrower="borrower.name", due="due", **_ITEM),
                           tr("You lent %(borrower)s the %(item)s", borrower="borrower.name",
                              **_ITEM))
                 + "{% endif %}",
                 "loan", _SEE, calendar=True),
        Notifier("loan_due_soon",
                 tr("Due back %(due)s: the %(item)s you borrowed from %(lender)s", due="due",
                    lender="lender.name", **_ITEM),
                 "loan", _button("mark_returned")),
        Notifier("loan_overdue",
                 _either("due",
                         tr("%(lender)s’s %(item)s was due back %(due)s: please give it back",
                            lender="lender.name", due="due", **_ITEM),
                         tr("%(lender)s’s %(item)s is overdue: please give it back",
                            lender="lender.name", **_ITEM)),
                 "loan", _button("mark_returned")),
        Notifier("loan_overdue_lender",
                 _either("due",
                         tr("%(borrower)s has not given your %(item)s back yet — it was due back "
                            "%(due)s", borrower="borrower.name", due="due", **_ITEM),
                         tr("%(borrower)s has not given your %(item)s back yet",
                            borrower="borrower.name", **_ITEM)),
                 "loan", _SEE),
        Notifier("loan_returned",
                 tr("%(borrower)s gave the %(item)s back — please confirm",
                    borrower="borrower.name", **_ITEM),
                 "loan", _button("confirm_return")),
        Notifier("loan_closed",
                 _either("by_you",
                         tr("You confirmed the %(item)s is back — all done", **_ITEM),
                         tr("%(actor)s confirmed the %(item)s is back — all done", **_ACTOR)),
                 "loan", _SEE),
        Notifier("loan_disputed",
                 _either("by_you",
                         tr("You disputed the return of the %(item)s", **_ITEM),
                         tr("%(actor)s says something is wrong with the return of the %(item)s",
                            **_ACTOR)),
                 "loan", _either("by_you", _SEE, _button("add_note"))),
        Notifier("loan_note", tr("%(actor)s added a note about the %(item)s", **_ACTOR),
                 "loan", _button("add_note")),
        Notifier("loan_resolved",
                 _either("by_you",
                         tr("You resolved the dispute about the %(item)s — all done", **_ITEM),
                         tr("%(actor)s resolved the dispute about the %(item)s — all done",
                            **_ACTOR)),
                 "loan", _SEE),
        # The morning round-up of the mail a person chose to get "in a daily digest"
        # (app/notifications/digest.py): each loan's news, with its link.
        Notifier("daily_digest", tr("Your Mooch digest: %(summary)s", summary="digest.summary"),
                 "home", tr("See all your loans")),
        Notifier("invitation",
                 _either("loan",
                         tr("%(actor)s invited you to Mooch about the %(item)s", **_ACTOR),
                         tr("%(actor)s invited you to Mooch", actor="actor.name")),
                 "signup", tr("Join Mooch")),
        Notifier("signup_confirmation", tr("Confirm your email address for Mooch"),
                 "confirm", tr("Confirm my address")),
        Notifier("signup_attempt", tr("Someone tried to sign up to Mooch with your address"),
                 "login", tr("Log in")),
        Notifier("welcome", tr("Welcome to Mooch, %(name)s", name="recipient.name"), "home",
                 tr("Open Mooch")),
        Notifier("password_reset", tr("Reset your Mooch password"), "reset",
                 tr("Choose a new password")),
        Notifier("password_changed", tr("Your Mooch password was changed"), "forgot",
                 tr("Reset my password")),
        Notifier("disconnect_confirmation", tr("Confirm closing your Mooch account"),
                 "disconnect", tr("Close my account")),
        Notifier("farewell", tr("Your Mooch account is closed"), "home", tr("Visit Mooch")),
        # Asked for on the account page while the person's own address gets no mail
        # (it bounced, or they marked our mail as spam): its link lifts that.
        Notifier("address_confirmation", tr("Confirm that Mooch may email you again"),
                 "reconfirm", tr("Yes, email me again")),
    )
}  # fmt: skip

# The mail a person may turn off, in the words of the account page's mail settings
# (messages of the catalogue, kept in English here: translate with gettext where shown).
# Every other notifier is essential and always sent: it proves an address, guards an
# account, or asks for the answer that moves a loan on (a request, an offer, the
# invitation carrying one).
OPTIONAL: dict[str, str] = {
    "loan_accepted": N_("Someone accepts your request or offer"),
    "loan_declined": N_("Someone declines your request or offer"),
    "loan_cancelled": N_("A loan is cancelled"),
    "loan_expired": N_("A request or offer expires unanswered"),
    "loan_started": N_("A loan starts (with its due date for your calendar)"),
    "loan_due_soon": N_("Something you borrowed is due back soon"),
    "loan_overdue": N_("Something you borrowed is overdue"),
    "loan_overdue_lender": N_("Something you lent is overdue"),
    "loan_returned": N_("A borrower says your thing is back"),
    "loan_closed": N_("A loan is closed"),
    "loan_disputed": N_("A return is disputed"),
    "loan_note": N_("A note about a disputed return"),
    "loan_resolved": N_("A dispute is resolved"),
    "welcome": N_("Welcome, once your address is confirmed"),
}
# The daily digest is neither: it carries what a person chose to get in it, and stops
# when they stop choosing it (its one-click unsubscribe turns every such choice off).
DIGEST = "daily_digest"
ESSENTIAL = frozenset(NOTIFIERS) - set(OPTIONAL) - {DIGEST}
if not set(OPTIONAL) <= set(NOTIFIERS):
    raise ValueError(f"OPTIONAL names unknown notifiers: {set(OPTIONAL) - set(NOTIFIERS)}")
# Essential mail that is sent even to a suppressed address (app/notifications/
# suppression.py): the link its owner asked for to prove the address works again.
PAST_SUPPRESSION = frozenset({"address_confirmation"})
