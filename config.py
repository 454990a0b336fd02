"""Configuration, read from the environment once when the app is created.

Every setting has a default that works on a fresh machine (SQLite under
instance/, the embedded Redis, the local mail catcher); production sets
DATABASE_URL, REDIS_URL, MAIL_* and SECRET_KEY.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url(default: str | None) -> str | None:
    url = os.environ.get("DATABASE_URL", default)
    # Heroku-style add-ons still hand out postgres://, which SQLAlchemy 2 refuses.
    if url and url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    """Defaults for development; every value can be overridden by the environment."""

    def __init__(self) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
        # None means "sqlite file under the app's instance folder", filled in by create_app.
        self.SQLALCHEMY_DATABASE_URI = _database_url(None)
        self.SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

        self.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0")
        # Both bounded: a dead Redis must be an error, never a hang in a request.
        self.REDIS_CONNECT_TIMEOUT = _float("REDIS_CONNECT_TIMEOUT", 1.0)
        self.REDIS_SOCKET_TIMEOUT = _float("REDIS_SOCKET_TIMEOUT", 5.0)
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "mail")

        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
        self.MAIL_PORT = _int("MAIL_PORT", 1025)
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
        self.MAIL_DEFAULT_SENDER = os.environ.get(
            "MAIL_DEFAULT_SENDER", "Mooch <mooch@localhost.localdomain>"
        )
        self.MAIL_SUPPRESS_SEND = False
        self.MAIL_TIMEOUT = _float("MAIL_TIMEOUT", 10.0)

        self.BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        self.LOAN_EXPIRY_DAYS = _int("LOAN_EXPIRY_DAYS", 7)
        self.PASSWORD_RESET_MAX_AGE = _int("PASSWORD_RESET_MAX_AGE", 3600)
        self.CONFIRM_MAX_AGE = _int("CONFIRM_MAX_AGE", 7 * 24 * 3600)

        # The outbox: how long a committed notification may wait for its job before
        # the relay enqueues it again, how long a worker's claim on a row lasts, and
        # how temporary SMTP failures back off before the row ends as failed.
        self.NOTIFICATION_RELAY_GRACE = _float("NOTIFICATION_RELAY_GRACE", 60.0)
        self.NOTIFICATION_CLAIM_SECONDS = _float("NOTIFICATION_CLAIM_SECONDS", 300.0)
        self.NOTIFICATION_RETRY_BASE = _float("NOTIFICATION_RETRY_BASE", 30.0)
        self.NOTIFICATION_RETRY_MAX = _float("NOTIFICATION_RETRY_MAX", 3600.0)
        self.NOTIFICATION_MAX_ATTEMPTS = _int("NOTIFICATION_MAX_ATTEMPTS", 8)

        # How often the worker runs the relay and the loan clock.
        self.WORKER_TICK_SECONDS = _float("WORKER_TICK_SECONDS", 30.0)

        # The JSON API: how long a bearer token lives, the largest request body, and
        # how many attempts at a token, a sign-up or a confirmation one client (by IP
        # address) may make, counted in the same Redis as the queue (Flask-Limiter).
        self.API_TOKEN_MAX_AGE = _int("API_TOKEN_MAX_AGE", 24 * 3600)
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 64 * 1024)
        self.RATELIMIT_AUTH = os.environ.get("RATELIMIT_AUTH", "10 per minute")
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)

        self.MOOCH_ENV = os.environ.get("MOOCH_ENV", "production")
