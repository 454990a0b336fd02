"""Throttles: one policy for the web pages and the JSON API, counted in Redis.

Two kinds of count, both in the app's Redis through Flask-Limiter (so every web
process shares them):

- Per client address and action (`RATELIMIT_AUTH`, e.g. 10 a minute): logging in
  (the login page and POST /api/v1/auth/token count together), signing up,
  confirming, asking for the link again, and resetting a password. Flask-Limiter
  checks these before the view runs.
- Per account or address, whatever the client address (the services call these, as
  only they know the address): failed logins for one address
  (`RATELIMIT_LOGIN_FAILURES`, e.g. 5 in 15 minutes), and mail the forms send to one
  address (`RATELIMIT_MAIL_PER_ADDRESS`, e.g. 3 an hour). Each counts attempts for
  any address typed, known or not, so a refusal tells nothing about who has an
  account.

Both fail open to memory: with Redis unreachable, each process counts for itself
until Redis answers again. An error in the counting never refuses a request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, request
from flask_babel import gettext as _
from flask_babel import ngettext

from app.errors import TooMany

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.storage import Storage
    from limits.strategies import RateLimiter

# `limits` (the counting, under Flask-Limiter too) is imported where it is used: the
# worker imports this module through the services and never counts anything.

log = logging.getLogger(__name__)

# Endpoints limited per client address, and the action each one counts as: the web
# page and the API endpoint for the same thing share one count.
ACTIONS = {
    "web.login": "login",
    "api.create_token": "login",
    "web.signup": "signup",
    "api.sign_up": "signup",
    "web.confirm": "confirm",
    "api.confirm": "confirm",
    "web.resend_confirmation": "resend",
    "api.resend_confirmation": "resend",
    "web.forgot_password": "reset",
    "web.reset_password": "reset",
    # Confirming again an address that stopped getting mail: asking for the link
    # counts with the other "send the link again" forms, following it with confirming.
    "web.request_address_confirmation": "resend",
    "web.confirm_address": "confirm",
}

# After Redis fails, count in memory this long before trying it again, so that a
# dead Redis costs one connect timeout now and then, not one per request.
REDIS_RETRY_SECONDS = 5.0


def init_app(app: Flask) -> None:
    # Here, not at the top: the worker imports this module (a loan's "try again" is
    # throttled in lending) and never serves a request.
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address

    from app.api.views import api
    from app.jobqueue import redis_connection
    from app.web.views import web

    in_memory = app.config.get("JOB_QUEUE") == "memory"  # the fast tests: no Redis
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri="memory://" if in_memory else app.config["REDIS_URL"],
        # The queue's own connection pool, with its connect and read timeouts.
        storage_options={}
        if in_memory
        else {"connection_pool": redis_connection(app).connection_pool},
        strategy="fixed-window",
        headers_enabled=True,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix="mooch-auth",
    )
    per_address = limiter.shared_limit(
        lambda: current_app.config["RATELIMIT_AUTH"],
        scope=lambda endpoint: ACTIONS.get(endpoint, endpoint),
        methods=["POST"],
        exempt_when=lambda: request.endpoint not in ACTIONS,
    )
    per_address(api)
    per_address(web)
    app.extensions["limiter"] = limiter
    # With RATELIMIT_ENABLED off, Flask-Limiter makes no storage, and nothing counts.
    enabled = app.config.get("RATELIMIT_ENABLED", True)
    app.extensions["mooch_throttle"] = Keyed(limiter.storage if enabled else None)

    @app.after_request
    def retry_after(response):
        # A service's refusal (TooMany) rendered as a form or JSON: say when to retry.
        wait = g.get("retry_after")
        if response.status_code == 429 and wait and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(wait)
        return response


class Keyed:
    """Moving-window counts for one key (an address), in Redis, or in this process's
    memory while Redis cannot be reached."""

    def __init__(self, storage: Storage | None) -> None:
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self._memory: RateLimiter = MovingWindowRateLimiter(MemoryStorage())
        self._redis: RateLimiter = MovingWindowRateLimiter(storage) if storage else self._memory
        self._redis_down_until = 0.0

    def _strategy(self) -> RateLimiter:
        return self._memory if time.monotonic() < self._redis_down_until else self._redis

    def _run(self, method: str, item: RateLimitItem, key: str):
        strategy = self._strategy()
        try:
            return getattr(strategy, method)(item, "mooch", key)
        except Exception as exc:
            if strategy is self._memory:
                raise
            log.warning("throttle: Redis unreachable, counting in memory: %r", exc)
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            return getattr(self._memory, method)(item, "mooch", key)

    def allowed(self, item: RateLimitItem, key: str) -> bool:
        return self._run("test", item, key)

    def hit(self, item: RateLimitItem, key: str) -> bool:
        return self._run("hit", item, key)

    def wait(self, item: RateLimitItem, key: str) -> int:
        """Seconds until `key` may be counted again."""
        try:
            stats = self._run("get_window_stats", item, key)
        except Exception:
            return int(item.get_expiry())
        return max(1, int(stats.reset_time - time.time()) + 1)


def _keyed() -> Keyed:
    return current_app.extensions["mooch_throttle"]


def _item(setting: str) -> RateLimitItem:
    from limits import parse

    return parse(current_app.config[setting])


def _key(*parts: str) -> str:
    # Addresses are hashed: Redis needs to tell them apart, not to read them.
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def refuse(message: str, wait: int, field: str | None = None) -> TooMany:
    """A TooMany saying to try again in `wait` seconds ({when} in `message`), and the
    Retry-After header for the response."""
    g.retry_after = wait
    minutes = max(1, round(wait / 60))
    when = ngettext("%(num)d minute", "%(num)d minutes", minutes)
    return TooMany(message.format(when=when), field=field, retry_after=wait)


def _enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


# -- failed logins, per address ----------------------------------------------------


def check_login(address: str) -> None:
    """Refuse (TooMany) a login for `address` once it has had too many failures,
    even with the right password: otherwise guessing would simply go on."""
    if not _enabled():
        return
    item, key = _item("RATELIMIT_LOGIN_FAILURES"), _key("login", address)
    if not _keyed().allowed(item, key):
        raise refuse(
            _(
                "Too many failed attempts to log in with this address. Try again in {when}, "
                "or reset your password."
            ),
            _keyed().wait(item, key),
        )


def login_failed(address: str) -> None:
    if _enabled():
        _keyed().hit(_item("RATELIMIT_LOGIN_FAILURES"), _key("login", address))


# -- mail the forms send, per address ----------------------------------------------


def mail_to(kind: str, address: str) -> None:
    """Count one mail of `kind` ("confirm", "reset", "reconfirm") asked for `address`, or refuse
    (TooMany) when it has had its share. Counted whether or not the address has an
    account, before anything is looked up."""
    if not _enabled():
        return
    item, key = _item("RATELIMIT_MAIL_PER_ADDRESS"), _key("mail", kind, address)
    if not _keyed().hit(item, key):
        raise refuse(
            _(
                "We have already emailed this address several times in the last hour. "
                "Look for our mail (and in your spam folder), or try again in {when}."
            ),
            _keyed().wait(item, key),
            field="email",
        )
