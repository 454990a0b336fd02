"""The app's test client (`app.test_client()`), for the tests and anything else that
calls the app without a server."""

from __future__ import annotations

from flask.testing import FlaskClient


class ClosingClient(FlaskClient):
    """Reads each response whole and closes it, as a server does. Werkzeug's client
    closes a response only when asked, so what a request left for after its response
    (app.after_response: the outbox's enqueue) would wait until then."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)
