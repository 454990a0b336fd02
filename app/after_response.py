"""Work a request leaves for after its response has gone out.

A change that mails someone commits its outbox rows, and their jobs must then be put
on the queue: a Redis round trip and RQ's bookkeeping, a millisecond or more that the
person who clicked would otherwise wait for. The WSGI server calls the response's
`close()` once the last byte is written (PEP 3333, every server does); `AfterResponse`
runs what the request deferred there, on the same thread, before the server takes
its next request.

`later(fn, *args)` defers a call when the current request came through the
middleware, and says whether it did; anywhere else (a command, the worker, a test's
own request context) it does nothing and the caller does the work at once. A deferred
call must not need the app or request context (both are gone by then), and must not
raise: it is logged and dropped if it does. What is deferred must also survive being
lost, since a process killed between its response and `close()` never runs it: the
outbox's relay enqueues any row whose job never arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import has_request_context, request
from werkzeug.wsgi import ClosingIterator

log = logging.getLogger(__name__)

ENVIRON_KEY = "mooch.after_response"


def later(fn: Callable[..., Any], *args: Any) -> bool:
    """Call `fn(*args)` once the current response is sent; False (and nothing done) if
    there is no such response to wait for."""
    if not has_request_context():
        return False
    deferred = request.environ.get(ENVIRON_KEY)
    if deferred is None:
        return False
    deferred.append((fn, args))
    return True


def _run(deferred: list) -> None:
    while deferred:
        fn, args = deferred.pop(0)
        try:
            fn(*args)
        except Exception:
            log.exception("after the response: %s failed", getattr(fn, "__qualname__", fn))


class AfterResponse:
    """WSGI middleware: runs the calls a request deferred with `later` when the server
    closes its response (or at once, if the app raised instead of answering)."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        deferred: list = []
        environ[ENVIRON_KEY] = deferred
        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            _run(deferred)
            raise
        return ClosingIterator(body, lambda: _run(deferred))


def init_app(app) -> None:
    # The web app's only: the worker imports this module (the outbox does) and never
    # flask.testing.
    from app.testing import ClosingClient

    app.wsgi_app = AfterResponse(app.wsgi_app)
    app.test_client_class = ClosingClient
