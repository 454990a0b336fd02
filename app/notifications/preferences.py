"""What mail each person wants (issue 12): per optional notifier, "immediately", "in a
daily digest" or "never". Essential mail (notifiers.ESSENTIAL) is always sent.

The choice is applied when a notification row is made (outbox.record): a notifier
turned off is recorded `skipped` with the reason TURNED_OFF, so the loan page can say
"not emailed: Ana turned these off"; the worker never drops mail. A notifier chosen for
the digest is recorded with the status `digest` (outbox.HELD) and no job; the daily
digest (app/notifications/digest.py) carries it the next morning.

Every optional mail carries a one-click unsubscribe link (RFC 8058): a signed token
naming the person and the notifier, that never expires (an old mail's link must keep
working) and does one thing, turn that notifier off for that person. The digest's own
link (notifier DIGEST) turns every choice of "in a daily digest" to "never": the one
mail it stops is the digest, and what it carried stops with it.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from app.errors import InvalidInput
from app.extensions import db
from app.i18n import N_
from app.models import MailPreference, User, utcnow
from app.notifications.notifiers import DIGEST, OPTIONAL

IMMEDIATELY, DAILY, NEVER = "immediately", "digest", "never"
# The choices as the account page says them (messages of the catalogue: shown through
# gettext).
CHOICES = {IMMEDIATELY: N_("Email me"), DAILY: N_("In a daily digest"), NEVER: N_("Don’t email me")}
# A skipped row's reason when its reader turned the notifier off.
TURNED_OFF = "turned off by the recipient"


def choices_for(user: User) -> dict[str, str]:
    """Every optional notifier and this person's choice for it."""
    chosen = dict(
        db.session.execute(
            select(MailPreference.notifier, MailPreference.choice).where(
                MailPreference.user_id == user.id
            )
        ).all()
    )
    return {name: chosen.get(name, IMMEDIATELY) for name in OPTIONAL}


def choice_of(user_id: int | None, notifier: str) -> str:
    """This person's choice for this notifier: IMMEDIATELY, DAILY or NEVER (always
    IMMEDIATELY for essential mail and the digest itself)."""
    query = choice_query(user_id, notifier)
    return read_choice(db.session.scalar(select(query)) if query is not None else None)


def choice_query(user_id: int | None, notifier: str):
    """The stored choice as a scalar subquery (NULL when none is stored), or None when
    there is nothing to ask: essential mail, the digest, a person not yet saved. For a
    caller that asks this with other things in one statement; `read_choice` reads it."""
    if user_id is None or notifier not in OPTIONAL:
        return None
    return (
        select(MailPreference.choice)
        .where(MailPreference.user_id == user_id, MailPreference.notifier == notifier)
        .scalar_subquery()
    )


def read_choice(stored: str | None) -> str:
    return stored if stored in CHOICES else IMMEDIATELY


def turned_off(user_id: int | None, notifier: str) -> bool:
    """Whether this person has turned this notifier off (never, for essential mail)."""
    return choice_of(user_id, notifier) == NEVER


def in_digest(user: User) -> list[str]:
    """The optional notifiers this person gets in their daily digest."""
    return [name for name, choice in choices_for(user).items() if choice == DAILY]


def stop_digest(user: User) -> None:
    """Turn every "in a daily digest" choice of `user` to "never" (the digest's one-click
    unsubscribe; part of the caller's transaction). Idempotent. What is already held
    for the digest still goes in the next one."""
    for name in in_digest(user):
        choose(user, name, NEVER)


def unsubscribable(notifier: object) -> bool:
    """Whether mail of this notifier carries one-click unsubscribe: optional mail, and
    the digest."""
    return isinstance(notifier, str) and (notifier in OPTIONAL or notifier == DIGEST)


def choose(user: User, notifier: object, choice: object) -> None:
    """Record `user`'s choice for one optional notifier (part of the caller's
    transaction). Idempotent."""
    if not isinstance(notifier, str) or notifier not in OPTIONAL:
        raise InvalidInput(_("That is not an email you can turn off."), field="notifier")
    if not isinstance(choice, str) or choice not in CHOICES:
        raise InvalidInput(
            _("Choose one of: %(choices)s.", choices=", ".join(_(c) for c in CHOICES.values())),
            field=f"choice-{notifier}",
        )
    row = db.session.get(MailPreference, (user.id, notifier))
    if row is None:
        db.session.add(MailPreference(user_id=user.id, notifier=notifier, choice=choice))
    elif row.choice != choice:
        row.choice, row.updated_at = choice, utcnow()


# -- one-click unsubscribe ------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="mooch-unsubscribe")


def unsubscribe_token(user_id: int, notifier: str) -> str:
    return _serializer().dumps({"u": user_id, "n": notifier})


def read_unsubscribe_token(token: object) -> tuple[int, str]:
    """(user id, notifier) from a token, or InvalidInput for any link we did not make."""
    if not isinstance(token, str) or not token or len(token) > 500:
        raise InvalidInput(_("This unsubscribe link is not valid."), field="token")
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise InvalidInput(_("This unsubscribe link is not valid."), field="token") from None
    user_id, notifier = payload.get("u"), payload.get("n")
    if not isinstance(user_id, int) or not unsubscribable(notifier):
        raise InvalidInput(_("This unsubscribe link is not valid."), field="token")
    return user_id, notifier


def unsubscribe_path(user_id: int, notifier: str) -> str:
    return f"/unsubscribe/{unsubscribe_token(user_id, notifier)}"


def list_unsubscribe_headers(user_id: int, notifier: str, url: str) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe (the https link, and a mailto: when
    MAIL_UNSUBSCRIBE_ADDRESS is set) and RFC 8058 List-Unsubscribe-Post, for an
    optional notifier's mail and for the digest; none for essential mail."""
    if not unsubscribable(notifier):
        return {}
    targets = [f"<{url}>"]
    mailbox = current_app.config.get("MAIL_UNSUBSCRIBE_ADDRESS")
    if mailbox:
        targets.append(
            f"<mailto:{mailbox}?subject=unsubscribe-{unsubscribe_token(user_id, notifier)}>"
        )
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
