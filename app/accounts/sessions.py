"""Server-side sessions: a logged-in browser and an API token are both a row.

The browser's cookie (or the API client) holds a random secret; the database holds
only its SHA-256, so a copy of the table logs nobody in. A session is valid while its
row exists, has not expired and its account may log in. Logging out deletes the row,
so a replayed cookie is anonymous; a password change or "log out everywhere"
deletes all of an account's rows at once.

The functions here write to the session but do not commit: callers run them inside
app.transaction.atomic with the rest of the change.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from app.extensions import db
from app.models import LoginSession, User, utcnow

KINDS = {"web": "WEB_SESSION_MAX_AGE", "api": "API_TOKEN_MAX_AGE"}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def start(user: User, kind: str) -> str:
    """A new session for `user`; returns its secret (shown once, never stored)."""
    max_age = current_app.config[KINDS[kind]]
    now = utcnow()
    # Expired rows of this account go when it logs in again: no sweeper needed.
    db.session.execute(
        delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at <= now)
    )
    secret = secrets.token_urlsafe(32)
    db.session.add(
        LoginSession(
            user_id=user.id,
            kind=kind,
            token_hash=_digest(secret),
            created_at=now,
            expires_at=now + timedelta(seconds=max_age),
        )
    )
    return secret


def user_for(secret: object, kind: str) -> User | None:
    """The account a live session of `kind` with this secret belongs to, if it may
    still log in."""
    if not isinstance(secret, str) or not secret or len(secret) > 200:
        return None
    # One query, on every request that asks who is logged in.
    user = db.session.scalar(
        select(User)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(
            LoginSession.token_hash == _digest(secret),
            LoginSession.kind == kind,
            LoginSession.expires_at > utcnow(),
        )
    )
    return user if user is not None and user.is_active else None


def end(secret: object) -> None:
    if isinstance(secret, str) and secret:
        db.session.execute(delete(LoginSession).where(LoginSession.token_hash == _digest(secret)))


def end_all(user: User, *, keep: str | None = None) -> int:
    """End every web session and API token of `user`, but the one whose secret is
    `keep` (the browser that changed the password). Returns how many ended."""
    query = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep:
        query = query.where(LoginSession.token_hash != _digest(keep))
    return db.session.execute(query).rowcount
