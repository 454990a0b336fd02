"""The browser pages: thin views over the account and lending services.

forms.py     Flask-WTF forms (CSRF); the services do the checking, naming the field
views.py     the routes: form → service → redirect with a flash, or the form again
errors.py    our HTML error pages, for every path outside the JSON API
labels.py    the pages' words for mail (the loan's own are app.lending.words)
"""

from __future__ import annotations

from flask import Flask
from flask_babel import gettext

from app.extensions import login
from app.i18n import N_
from app.web import (
    address,  # noqa: F401 -- registers /account/address (confirming it again) on `web`
    guide,  # noqa: F401 -- registers /how-loans-work on `web`
    live,  # noqa: F401 -- registers the pages' stamps (/loans/<id>/stamp) on `web`
    mail_settings,  # noqa: F401 -- registers /account/mail and /unsubscribe/<token> on `web`
)
from app.web.views import web


def init_app(app: Flask) -> None:
    app.register_blueprint(web)
    login.login_view = "web.login"
    login.login_message = N_("Log in to see that page.")
    login.localize_callback = gettext  # said in the visitor's language
    login.login_message_category = "info"
