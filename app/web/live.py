"""Pages that stay current: the loan page and the dashboard, without a reload.

Each of the two pages carries a "stamp" (on its <main>, with the address to ask for
it again): a short hash of everything the page shows that someone else can change.
static/live.js asks for the stamp at most every 5 s while the tab is visible, and
when it differs fetches the page again and swaps in its <main> (or, if the viewer is
in the middle of something, offers to).

    GET /loans/<id>/stamp   the loan's version, its parties', and its mail as the
                            viewer sees it (mail_as_seen): status, and why it failed
    GET /dashboard/stamp    the viewer's loans: how many and the newest, and of the
                            open ones how many and the sum of their versions (each
                            step adds one); finished loans never change

Both also carry today's date: "due tomorrow" and "overdue" change at midnight. Mail is
not in the dashboard's stamp, as the dashboard shows none. Not in either: a rename of
the other party on the dashboard (it would cost a read of every counterparty).

The pages get their first stamp from the objects they are rendered from (a
before_render_template hook, so no view has to know), the dashboard's before its
view reads anything: a change in between makes one needless refresh, never a missed
one. The answers are JSON, 401 when logged out and 404 for a loan not yours, so a
poller stops rather than follow a redirect to the login page. None of these GETs is
throttled (app.throttle limits POSTs to the login and signup endpoints only).
"""

from __future__ import annotations

import hashlib

from flask import Response, g, has_request_context, jsonify, request, url_for
from flask.signals import before_render_template
from flask_login import current_user
from sqlalchemy import func, select

from app.errors import NotFound
from app.extensions import db
from app.lending import service as lending
from app.lending.mail_view import mail_as_seen
from app.models import Loan, User
from app.web.views import web

# The pages that poll, by template: whichever view renders them (a refusal after a
# POST renders the loan page too).
LOAN_PAGE = "web/loan.html"
DASHBOARD = "web/dashboard.html"


def _digest(*parts: object) -> str:
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def loan_stamp(loan: Loan, viewer: User) -> str:
    """What `viewer`'s page of `loan` shows that can change: the loan's version (every
    event, the clock's included, adds one), its parties' (a new name), and each
    mail as the viewer may see it (a failure's reason too: a retry that fails again
    may fail differently)."""
    mail = [
        (
            seen.id,
            seen.notifier,
            seen.status,
            seen.row.last_error if seen.status == "failed" else "",
            # A mail held for a digest: which digest carried it, and how that went.
            (seen.carrier.id, seen.carrier.status) if seen.carrier is not None else "",
        )
        for seen in mail_as_seen(loan, viewer)
    ]
    return _digest(
        "loan",
        loan.id,
        loan.version,
        loan.lender.version,
        loan.borrower.version,
        lending.today(),
        mail,
    )


def dashboard_stamp(viewer: User) -> str:
    """One statement: how many loans the viewer has and the newest id, per side (read
    from the sides' indexes alone), and how many are open and the sum of their
    versions (every step adds one to a loan's). A finished loan never changes again
    (no step leaves its state), so a dashboard showing the same loans, as many of
    them open, with the same versions, shows what it showed."""

    def one(value, *where):
        return select(value).select_from(Loan).where(*where).scalar_subquery()

    sides = [Loan.side(role) == viewer.id for role in ("lender", "borrower")]
    still_open = Loan.state.not_in(lending.FINISHED)
    row = db.session.execute(
        select(
            *(one(func.count(), side) for side in sides),
            *(one(func.coalesce(func.max(Loan.id), 0), side) for side in sides),
            one(func.count(), Loan.of(viewer), still_open),
            one(func.coalesce(func.sum(Loan.version), 0), Loan.of(viewer), still_open),
        )
    ).one()
    return _digest("dashboard", viewer.id, *row, lending.today())


def _stamp(stamp: str) -> Response:
    response = jsonify(stamp=stamp)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refusal(status: int, code: str, message: str) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _logged_out() -> Response:
    return _refusal(401, "unauthorized", "Log in to see that page.")


@web.get("/loans/<int:loan_id>/stamp")
def loan_stamp_view(loan_id: int):
    if not current_user.is_authenticated:
        return _logged_out()
    try:
        loan = lending.loan_for(current_user, loan_id)
    except NotFound as exc:
        return _refusal(404, exc.code, exc.message)
    return _stamp(loan_stamp(loan, current_user))


@web.get("/dashboard/stamp")
def dashboard_stamp_view():
    if not current_user.is_authenticated:
        return _logged_out()
    return _stamp(dashboard_stamp(current_user))


@web.before_request
def _stamp_the_dashboard_first() -> None:
    if request.endpoint == "web.dashboard" and current_user.is_authenticated:
        g.live_dashboard_stamp = dashboard_stamp(current_user)


def _offer_stamp(sender, template, context, **extra) -> None:
    """Give the loan page and the dashboard their stamp, the address to ask for it
    again, and the address of the page itself (base.html puts them on <main>)."""
    if template.name not in (LOAN_PAGE, DASHBOARD) or not has_request_context():
        return
    if not current_user.is_authenticated:
        return
    if template.name == LOAN_PAGE:
        loan = context.get("loan")
        if not isinstance(loan, Loan):
            return
        context["live_stamp_url"] = url_for("web.loan_stamp_view", loan_id=loan.id)
        context["live_stamp"] = loan_stamp(loan, current_user)
        # A refusal rendered by a POST shows this page at another address: live.js
        # then offers the latest rather than replacing what the refusal says.
        context["live_page_url"] = url_for("web.loan", loan_id=loan.id)
    else:
        stamp = g.pop("live_dashboard_stamp", None) or dashboard_stamp(current_user)
        context["live_stamp_url"] = url_for("web.dashboard_stamp_view")
        context["live_stamp"] = stamp
        context["live_page_url"] = request.full_path.rstrip("?")


@web.record_once
def _connect(state) -> None:
    before_render_template.connect(_offer_stamp, state.app)
