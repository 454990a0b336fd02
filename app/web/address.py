"""An address that stopped getting mail, confirmed again by its owner (issue 12).

Mooch stops emailing an address whose mail bounced for good or whose owner marked it
as spam (app/notifications/suppression.py). The account page says so, why and since
when, with a button:

- POST /account/address: mails that address a link, the one mail that still reaches
  it. Throttled as the other forms that send a link are: per client address with
  "send the link again", and per mailbox (RATELIMIT_MAIL_PER_ADDRESS).
- GET /account/address/<token>: the link opens a page with one button; opening it
  changes nothing, since mail scanners open links.
- POST /account/address/<token>: the address gets mail again, its count of refusals
  started afresh. No login needed: reading the mailbox is the proof, as with the
  sign-up link.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts import service as accounts
from app.errors import MoochError
from app.web import forms
from app.web.views import _account_page, link_failed, status_of, submitted, web

PREFIX = "address"


@web.post("/account/address")
@login_required
def request_address_confirmation():
    form = forms.ButtonForm(prefix=PREFIX)
    if not submitted(form):
        return _account_page(address_form=form)
    try:
        accounts.request_address_confirmation(current_user)
    except MoochError as exc:
        form.form_errors.append(exc.message)
        return _account_page(address_form=form, refused=exc)
    flash(
        _(
            "We emailed a link to %(email)s. Follow it to get our mail there again.",
            email=current_user.email,
        ),
        "success",
    )
    return redirect(url_for("web.account", _anchor="address"))


@web.route("/account/address/<token>", methods=["GET", "POST"])
def confirm_address(token: str):
    try:
        user, stopped = accounts.address_to_confirm(token)
    except MoochError as exc:
        return link_failed(exc)
    form = forms.ButtonForm(prefix=PREFIX)
    if submitted(form):
        try:
            user, lifted = accounts.confirm_address(token)
        except MoochError as exc:
            return link_failed(exc, exc.status)
        if lifted:
            flash(_("Thank you: Mooch emails %(email)s again.", email=user.email), "success")
        else:
            flash(_("Mooch already emails %(email)s.", email=user.email), "info")
        if current_user.is_authenticated and current_user.id == user.id:
            return redirect(url_for("web.account", _anchor="address"))
        return redirect(url_for("web.login"))
    return render_template(
        "web/confirm_address.html", form=form, user=user, stopped=stopped
    ), status_of(form)
