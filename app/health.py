"""`GET /healthz`: can this web process reach its database and Redis?

For a load balancer calling every second: 200 when both answer, 503 when either does
not, JSON either way, never cached. It is cheap: one `SELECT 1` on a pooled
connection and one `PING`, no session, no login, no CSRF, no rate limit, no cookie.

Redis is asked over a client of its own with short timeouts and no retries: the app's
client retries a dead server with backoff, which is right for a job but would make
the probe slower than the balancer's patience. Error details go to the log (once per
change, not once a second); the answer names only the kind of error, since anyone can
call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Blueprint, Flask, current_app, jsonify
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import text

from app.extensions import csrf, db
from app.jobqueue import connect

log = logging.getLogger(__name__)

health = Blueprint("health", __name__)

PROBE_TIMEOUT = 1.0  # seconds, for each of connect and reply


def init_app(app: Flask) -> None:
    app.register_blueprint(health)
    csrf.exempt(health)
    limiter = app.extensions.get("limiter")
    if limiter is not None:
        # Its before-request hook may ping a dead Redis to see whether it is back.
        limiter.exempt(health)
    timeout = PROBE_TIMEOUT
    app.extensions["healthz_redis"] = connect(
        app,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    app.extensions["healthz_last"] = {}


@health.get("/healthz")
def healthz():
    database = _probe("database", _database)
    redis = _probe("redis", _redis)
    ok = database["ok"] and redis["ok"]
    response = jsonify(status="ok" if ok else "unavailable", database=database, redis=redis)
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _database() -> None:
    # A connection of the pool, not the session: nothing is left open for the request's
    # teardown to find, and closing the connection rolls its transaction back.
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _redis() -> None:
    current_app.extensions["healthz_redis"].ping()


def _probe(name: str, check: Callable[[], None]) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        _note(name, exc)
        return {"ok": False, "error": type(exc).__name__}
    _note(name, None)
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _note(name: str, exc: Exception | None) -> None:
    """Log when a check starts or stops failing, not on every call."""
    last = current_app.extensions["healthz_last"]
    was_ok = last.get(name, True)
    last[name] = exc is None
    if exc is not None and was_ok:
        log.warning("healthz: %s unreachable: %r", name, exc)
    elif exc is None and not was_ok:
        log.info("healthz: %s reachable again", name)
