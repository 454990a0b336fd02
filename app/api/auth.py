"""Bearer tokens: issued for an active account's credentials, read from the
Authorization header of every other request.

Only the header counts, never Flask-Login's session cookie: the API is exempt from
CSRF checks, which is safe only because a browser never sends the token by itself.
"""

from __future__ import annotations

from flask import current_app, request

from app.accounts import service as accounts
from app.accounts.tokens import make_token, password_unchanged, read_token
from app.errors import InvalidInput, NotAuthenticated
from app.extensions import db
from app.models import User


def issue_token(email: object, password: object) -> dict:
    user = accounts.authenticate(email, password)
    return {
        "token": make_token("api", user),
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
    try:
        user_id = read_token("api", token)
    except InvalidInput:
        raise NotAuthenticated(
            "The token is not valid or has expired; get a new one from POST /api/v1/auth/token."
        ) from None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or not password_unchanged("api", token, user):
        raise NotAuthenticated(
            "The token is no longer valid (the password changed or the account is not "
            "active); get a new one from POST /api/v1/auth/token."
        )
    return user
