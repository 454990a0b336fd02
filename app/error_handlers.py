"""Which answer an error gets: JSON for a path under /api/, an HTML page anywhere
else. The app factory registers these handlers, the app's only app-wide ones;
app.api.errors draws the JSON and app.web.errors the pages, and neither knows of
the other.

- HTTPException: HTTP's own errors (an unknown path, a wrong method, a body too
  large, too many attempts), and any unhandled exception, which Flask hands over as
  an InternalServerError.
- MoochError: a typed error that no view or blueprint turned into an answer.
- A database connection lost under the request (a server restart, a terminated
  backend, a dropped network): 503 with Retry-After, not a 500. SQLAlchemy has
  already invalidated the connection (and the pool's older ones), and the session
  is rolled back here, so the next request gets a new connection.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError, DisconnectionError
from werkzeug.exceptions import HTTPException

from app.api import errors as json_errors
from app.errors import MoochError, Unavailable
from app.extensions import db
from app.i18n import N_
from app.web import errors as html_errors

log = logging.getLogger(__name__)

CONNECTION_LOST = N_("The database did not answer just now; try again in a few seconds.")
RETRY_AFTER = 5  # seconds: the pool connects again at once; a restart takes a few


def _api() -> bool:
    return request.path.startswith(json_errors.API_PATHS)


def http_error(exc: HTTPException) -> Response:
    return json_errors.http_error(exc) if _api() else html_errors.http_error_page(exc)


def service_error(exc: MoochError) -> Response:
    return json_errors.service_error(exc) if _api() else html_errors.service_error_page(exc)


def database_error(exc: DBAPIError | DisconnectionError) -> Response:
    # Any other database error is a bug or a real failure: Flask's own path, a
    # logged 500 (or, under TESTING, the exception itself).
    if not (isinstance(exc, DisconnectionError) or exc.connection_invalidated):
        raise exc
    # The driver's words only: the SQLAlchemy error's text carries the statement's parameters.
    reason = getattr(exc, "orig", None) or exc
    log.warning("database connection lost: %s %s: %s", request.method, request.path, reason)
    try:
        db.session.rollback()  # forget the dead connection's transaction
    except Exception:
        log.exception("rolling back after a lost connection failed")
    return service_error(Unavailable(_said(CONNECTION_LOST), retry_after=RETRY_AFTER))


def _said(message: str) -> str:
    """`message` in the visitor's language; in English if even that fails (the
    language may be read from the account, and the database is what is lost)."""
    try:
        return _(message)
    except Exception:
        return message


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(MoochError, service_error)
    app.register_error_handler(DBAPIError, database_error)
    app.register_error_handler(DisconnectionError, database_error)
