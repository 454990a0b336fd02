"""The JSON API under /api/v1 (DESIGN.md "HTTP API").

spec.py      the contract: body schemas, the table of operations, the OpenAPI document
views.py     thin views routed from that table: body → service → serializer
body.py      reading and validating a request body
auth.py      bearer tokens
serializers.py   rows to JSON
errors.py    every error as JSON
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.api import errors
from app.api.spec import OPERATIONS
from app.api.views import api
from app.extensions import csrf
from app.notifications.queue import redis_connection


def init_app(app: Flask) -> None:
    # Bearer tokens, not cookies: no cross-site request can carry one.
    csrf.exempt(api)
    app.register_blueprint(api)
    errors.init_app(app)
    app.extensions["api_limiter"] = _limiter(app)


def _limiter(app: Flask) -> Limiter:
    """Attempts at a token, a sign-up or a confirmation, counted per client address
    and endpoint in the app's Redis.

    One Limiter per app, not one per process: Flask-Limiter keeps its storage and
    its "Redis is down" state on the instance. It fails open: with Redis down, the
    limits are counted in this process's memory until Redis answers again, and any
    other storage error lets the request through.
    """
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=app.config["REDIS_URL"],
        # The queue's own connection pool, with its connect and read timeouts.
        storage_options={"connection_pool": redis_connection(app).connection_pool},
        strategy="fixed-window",
        headers_enabled=True,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix="mooch-api",
    )
    limited = {f"{api.name}.{op.name}" for op in OPERATIONS if op.limited}
    limiter.limit(
        app.config["RATELIMIT_AUTH"], exempt_when=lambda: request.endpoint not in limited
    )(api)
    return limiter
