"""Friendly HTML error pages for every path outside /api/.

app.error_handlers, the app's one dispatch point for errors, sends every error on
a path outside the JSON API here: `http_error_page` for HTTP's own (an unhandled
exception arrives as an InternalServerError, so it serves 404, 405, 413, 500 and
the rest), `service_error_page` for a typed error no view turned into a message.
This module draws HTML and knows nothing of the API.
"""

from __future__ import annotations

import logging

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.errors import MoochError
from app.extensions import db
from app.i18n import N_

log = logging.getLogger(__name__)

# Messages of the catalogue, in English here: shown through gettext (`_`).
CSRF_EXPIRED = N_("This form has expired. Reload the page and try again.")

PAGES = {
    400: (N_("That did not work"), N_("The request was not one we understand.")),
    403: (N_("Not allowed"), N_("You are not allowed to do that.")),
    404: (N_("Nothing here"), N_("There is no such page, or it is not yours to see.")),
    405: (N_("Not like that"), N_("This page cannot be used that way.")),
    413: (N_("Too much"), N_("What you sent is larger than we accept.")),
    429: (N_("Slow down"), N_("Too many attempts; wait a minute and try again.")),
    500: (N_("Something went wrong"), N_("It is our fault, not yours, and it has been logged.")),
    503: (
        N_("Try again in a moment"),
        N_("We cannot answer just now; reload the page in a moment."),
    ),
}


def page(
    status: int, message: str | None = None, headers=None, retry: str | None = None
) -> Response:
    title, default = PAGES.get(status, (PAGES[400][0], N_("Something is not right.")))
    try:
        title, default = _(title), _(default)
    except Exception:  # no language to be had (a lost database): the source's words
        log.exception("error page %s: no translation", status)
    try:
        if status >= 500:
            db.session.rollback()  # the page may read the user; never from a failed session
        body = render_template(
            "web/error.html", status=status, title=title, message=message or default, retry=retry
        )
    except Exception:  # the error page itself must not fail
        log.exception("error page %s could not be rendered", status)
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{default}</p>"
    response = Response(body, status=status, mimetype="text/html")
    for name, value in headers or ():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def http_error_page(exc: HTTPException) -> Response:
    status = exc.code or 500
    # Our own messages: werkzeug's describe the server, not the visitor's next step.
    if isinstance(exc, CSRFError):
        return page(status, _(CSRF_EXPIRED), exc.get_headers(), retry=request.path)
    return page(status, None, exc.get_headers())


def service_error_page(exc: MoochError) -> Response:
    """A typed error no view turned into a message: NotFound (a loan not yours) most
    of all, which must look exactly like a page that does not exist."""
    if exc.status == 404:
        return page(404)
    return page(exc.status, exc.message, exc.headers())
