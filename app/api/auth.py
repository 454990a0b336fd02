"""Bearer tokens: issued for an active account's credentials, read from the
Authorization header of every other request.

A token is a server-side session (app/accounts/sessions.py) of kind "api": it ends
when it expires, when the password changes, on "log out everywhere", and when the
account can no longer log in. Only the header counts, never Flask-Login's session
cookie: the API is exempt from CSRF checks, which is safe only because a browser
never sends the token by itself.
"""

from __future__ import annotations

from flask import current_app, request

from app.accounts import service as accounts
from app.accounts import sessions
from app.errors import NotAuthenticated
from app.models import User


def issue_token(email: object, password: object) -> dict:
    user = accounts.authenticate(email, password)
    return {
        "token": accounts.log_in(user, "api"),
        "token_type": "Bearer",
        "expires_in": current_app.config["API_TOKEN_MAX_AGE"],
    }


def bearer_user() -> User:
    """The account whose valid token the request carries, or NotAuthenticated."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated(
            "Send Authorization: Bearer <token>; get one from POST /api/v1/auth/token."
        )
    user = sessions.user_for(token, "api")
    if user is None:
        raise NotAuthenticated(
            "The token is not valid, has expired or was ended (a password change, or "
            '"log out everywhere"); get a new one from POST /api/v1/auth/token.'
        )
    return user
