"""Which mail each person gets (issue 12): the account page's email settings, and the
one-click unsubscribe link every optional mail carries (RFC 8058).

- POST /account/mail: the settings form, one choice per optional notifier.
- GET /unsubscribe/<token>: a page that says what the link turns off, with a button.
- POST /unsubscribe/<token>: turns that notifier off for that person (the daily
  digest's link: every choice of "in a daily digest" becomes "never"). No login and no
  CSRF token: a mail client posts `List-Unsubscribe=One-Click` here on the person's
  behalf, and the signed token is the whole authority (it can only ever turn one
  notifier off for one person). Idempotent: a second POST answers the same.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.errors import InvalidInput
from app.extensions import csrf, db
from app.models import User
from app.notifications import preferences
from app.notifications.notifiers import DIGEST, OPTIONAL
from app.transaction import atomic
from app.web import forms
from app.web.views import _account_page, submitted, web


@web.post("/account/mail")
@login_required
def change_mail_settings():
    form = forms.ButtonForm(prefix="mail")
    if not submitted(form):
        return _account_page(mail_form=form)
    typed = {name: request.form.get(f"choice-{name}") for name in OPTIONAL}
    try:
        with atomic():
            for name, choice in typed.items():
                # A choice left out keeps what it was.
                if choice is not None:
                    preferences.choose(current_user, name, choice)
    except InvalidInput as exc:
        form.form_errors.append(exc.message)
        return _account_page(mail_form=form, mail_typed=typed)
    flash(_("Your email settings are saved."), "success")
    return redirect(url_for("web.account", _anchor="mail"))


def _unsubscribing(token: str) -> tuple[User, str]:
    user_id, notifier = preferences.read_unsubscribe_token(token)
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidInput(_("This unsubscribe link is not valid."), field="token")
    return user, notifier


@web.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str):
    try:
        user, notifier = _unsubscribing(token)
    except InvalidInput as exc:
        return render_template("web/unsubscribe.html", error=exc.message), 404
    done = request.method == "POST"
    if notifier == DIGEST:
        # What the digest carries, named before it is stopped (afterwards it is none).
        carried = [_(OPTIONAL[name]) for name in preferences.in_digest(user)]
        if done:
            with atomic():
                preferences.stop_digest(user)
        return render_template(
            "web/unsubscribe.html", digest=True, carried=carried, done=done, token=token
        )
    if done:
        with atomic():
            preferences.choose(user, notifier, preferences.NEVER)
    return render_template(
        "web/unsubscribe.html", about=_(OPTIONAL[notifier]), done=done, token=token
    )
