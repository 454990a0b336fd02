"""Signed links: confirm an address, reset a password, confirm closing an account;
and the API's bearer tokens.

Each purpose has its own salt, so a token made for one cannot be used for another.
The reset and API tokens also sign a fingerprint of the current password hash, so
they stop working once the password has been changed.
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.errors import InvalidInput
from app.models import User

PURPOSES = ("confirm", "reset", "disconnect", "invite", "api")
# Purposes whose tokens die with the password they were made under.
PASSWORD_BOUND = ("reset", "api")


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"mooch-{purpose}")


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def make_token(purpose: str, user: User) -> str:
    payload = {"u": user.id}
    if purpose in PASSWORD_BOUND:
        payload["p"] = _fingerprint(user)
    return _serializer(purpose).dumps(payload)


def _max_age(purpose: str) -> int:
    if purpose == "reset":
        return current_app.config["PASSWORD_RESET_MAX_AGE"]
    if purpose == "api":
        return current_app.config["API_TOKEN_MAX_AGE"]
    return current_app.config["CONFIRM_MAX_AGE"]


def read_token(purpose: str, token: object) -> int:
    """The user id a valid token names; InvalidInput for a bad, used or expired one."""
    if not isinstance(token, str) or not token:
        raise InvalidInput("A token is required.", field="token")
    try:
        payload = _serializer(purpose).loads(token, max_age=_max_age(purpose))
    except SignatureExpired:
        raise InvalidInput("This link has expired; ask for a new one.", field="token") from None
    except BadSignature:
        raise InvalidInput("This link is not valid.", field="token") from None
    user_id = payload.get("u") if isinstance(payload, dict) else None
    if not isinstance(user_id, int):
        raise InvalidInput("This link is not valid.", field="token")
    return user_id


def check_reset_fingerprint(token: str, user: User) -> None:
    payload = _serializer("reset").loads(token)
    if payload.get("p") != _fingerprint(user):
        raise InvalidInput("This link has already been used.", field="token")


def password_unchanged(purpose: str, token: str, user: User) -> bool:
    """Whether a PASSWORD_BOUND token, already read with read_token, was made under
    the user's current password."""
    payload = _serializer(purpose).loads(token)
    return isinstance(payload, dict) and payload.get("p") == _fingerprint(user)
