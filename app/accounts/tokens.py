"""Signed links: confirm an address (and choose a password), reset a password,
confirm closing an account, confirm again an address that stopped getting mail.

Each purpose has its own salt, so a token made for one cannot be used for another.
Confirm and reset tokens also sign a fingerprint of the account's password hash as it
was when the link was made: choosing a password changes the hash, so each such link
works once, and every older link of the account dies with it.

(API bearer tokens are not signed links: they are server-side sessions,
app/accounts/sessions.py, so that they can be ended.)
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.errors import InvalidInput
from app.models import User

PURPOSES = ("confirm", "reset", "disconnect", "reconfirm")
# Purposes whose links are used up by the password they set.
SINGLE_USE = ("confirm", "reset")


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"mooch-{purpose}")


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def make_token(purpose: str, user: User) -> str:
    payload = {"u": user.id}
    if purpose in SINGLE_USE:
        payload["p"] = _fingerprint(user)
    return _serializer(purpose).dumps(payload)


def _max_age(purpose: str) -> int:
    if purpose == "reset":
        return current_app.config["PASSWORD_RESET_MAX_AGE"]
    return current_app.config["CONFIRM_MAX_AGE"]


def _payload(purpose: str, token: object, stamped: bool = False):
    """The token's payload; with `stamped`, (payload, when it was made)."""
    if not isinstance(token, str) or not token:
        raise InvalidInput(_("A token is required."), field="token")
    if len(token) > 1000:
        raise InvalidInput(_("This link is not valid."), field="token")
    try:
        payload, made = _serializer(purpose).loads(
            token, max_age=_max_age(purpose), return_timestamp=True
        )
    except SignatureExpired:
        raise InvalidInput(_("This link has expired; ask for a new one."), field="token") from None
    except BadSignature:
        raise InvalidInput(_("This link is not valid."), field="token") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise InvalidInput(_("This link is not valid."), field="token")
    return (payload, made) if stamped else payload


def read_token(purpose: str, token: object) -> int:
    """The user id a valid token names; InvalidInput for a bad or expired one."""
    return _payload(purpose, token)["u"]


def read_token_made(purpose: str, token: object) -> tuple[int, datetime]:
    """The user id a valid token names and when the token was made (naive UTC, to the
    second): for a link that must not undo what happened after it was sent."""
    payload, made = _payload(purpose, token, stamped=True)
    return payload["u"], made.replace(tzinfo=None)


def unused(purpose: str, token: object, user: User) -> bool:
    """Whether a SINGLE_USE token, valid for `user`, has not been used up: no
    password has been chosen since it was made."""
    return _payload(purpose, token).get("p") == _fingerprint(user)
