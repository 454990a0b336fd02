"""The admin pages: thin views over the outbox, the retry service and RQ.

Anonymous visitors are sent to log in; logged-in people who are not admins get the
403 page. Every POST carries the CSRF token (CSRFProtect checks it app-wide, and the
view checks its form again) and ends in a redirect with a flash (POST-redirect-GET).

/admin/notifications is filtered by a GET form, so a filtered view is a URL to share:
`status` (`all` for any), `notifier`, `address` (part of the address, any case),
`from` and `to` (created on those days, UTC, both inclusive); see filters.py. With no
filter at all it shows the failed rows, as it always has: what an admin comes for.
A link that narrows by notifier, address or date without naming a status shows every
status. A bad value answers 400 with the form as typed and says what is wrong; it
never falls back to another view. Each row says in words why it was or was not sent
(why.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms import HiddenField

from app.admin import filters as notification_filters
from app.admin.why import is_stuck, why
from app.errors import MoochError
from app.extensions import db, login
from app.jobqueue import QueueUnavailable, job_queue
from app.models import Notification, utcnow
from app.notifications import retry as retries
from app.notifications import suppression
from app.notifications.outbox import FAILED
from app.security import is_local_path
from app.web.errors import CSRF_EXPIRED

log = logging.getLogger(__name__)

admin = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

PER_PAGE = 50
JOBS_SHOWN = 50


class ActionForm(FlaskForm):
    """A button: its CSRF token and where to go back to."""

    next = HiddenField()


@admin.before_request
def admins_only():
    if not current_user.is_authenticated:
        return login.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


def _back(form: ActionForm, default: str) -> str:
    """Back to the page the button was on (only a path under /admin/)."""
    target = form.next.data or ""
    if target.startswith("/admin/") and is_local_path(target):
        return target
    return default


def _submitted(form: ActionForm) -> bool:
    if form.validate():
        return True
    flash(_(CSRF_EXPIRED), "error")
    return False


@admin.app_template_filter("admin_time")
def admin_time(value) -> str:
    """A naive UTC datetime, or an ISO string, to the second."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value.replace("T", " ")[:19]
    return value.strftime("%Y-%m-%d %H:%M:%S")


@admin.app_template_filter("admin_age")
def admin_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# -- the index ----------------------------------------------------------------------


@admin.get("/")
def index():
    return render_template("admin/index.html", counts=_counts())


# -- notifications ------------------------------------------------------------------


def _statuses() -> tuple[str, ...]:
    """The tabs: failed first (what an admin comes here for), the outbox's others, all."""
    return (*notification_filters.statuses(), notification_filters.ANY)


def _counts(*where) -> dict[str, int]:
    """Rows by status (and "all"), of those matching `where`."""
    rows = db.session.execute(
        select(Notification.status, func.count()).where(*where).group_by(Notification.status)
    ).all()
    counts = {status: 0 for status in _statuses()}
    for status, n in rows:
        counts[status] = n
    counts["all"] = sum(n for _, n in rows)
    return counts


def _failed_total() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.status == FAILED)
    )


@admin.get("/notifications")
def notifications():
    parsed = notification_filters.parse(request.args)
    context = {
        "statuses": _statuses(),
        "notifiers": notification_filters.notifier_choices(),
        "typed": parsed.typed,
        "errors": parsed.errors,
        "malformed": parsed.malformed,
        "here": request.full_path.rstrip("?"),
    }
    if parsed.filters is None:
        return render_template(
            "admin/notifications.html", filters=None, failed_total=_failed_total(), **context
        ), 400
    filters = parsed.filters
    # Newest first by id (the primary key's order is the order of creation), so a
    # large outbox needs no index on created_at to be paged.
    query = (
        select(Notification)
        .options(joinedload(Notification.loan), joinedload(Notification.digest))
        .where(*filters.conditions())
        .order_by(Notification.id.desc())
    )
    page = db.paginate(
        query, page=request.args.get("page", 1, type=int), per_page=PER_PAGE, error_out=False
    )
    now = utcnow()
    grace = timedelta(seconds=current_app.config["NOTIFICATION_RELAY_GRACE"])
    # The tabs count what the other filters let through; "retry all" is for every row.
    counts = _counts(*filters.conditions(with_status=False))
    failed = _failed_total() if filters.narrowed else counts[FAILED]
    return render_template(
        "admin/notifications.html",
        filters=filters,
        status=filters.status,
        counts=counts,
        failed_total=failed,
        page=page,
        rows=[(row, why(row, now, grace), is_stuck(row, now, grace)) for row in page.items],
        label=notification_filters.notifier_label,
        **context,
    )


@admin.post("/notifications/<int:notification_id>/retry")
def retry_notification(notification_id: int):
    form = ActionForm()
    if _submitted(form):
        try:
            retried = retries.retry(notification_id)
        except MoochError as exc:
            flash(exc.message, "error")
        else:
            flash(retried.message, "success" if retried.enqueued else "info")
    return redirect(_back(form, url_for("admin.notifications")))


@admin.post("/notifications/retry-failed")
def retry_failed():
    form = ActionForm()
    if _submitted(form):
        retried = retries.retry_all_failed()
        flash(retried.message, "success" if retried.ids and retried.enqueued else "info")
    return redirect(_back(form, url_for("admin.notifications")))


# -- RQ -----------------------------------------------------------------------------


def _jobs() -> dict:
    """RQ's failed jobs and the head of the queue (most recent failures first)."""
    queue = job_queue()
    failed, failed_count = queue.failed(JOBS_SHOWN)
    snapshot = queue.snapshot(head=JOBS_SHOWN)
    return {
        "queue": queue.name,
        "failed": [
            {"id": f.id, "description": f.description, "ended_at": f.ended_at, "error": f.error}
            for f in failed
        ],
        "failed_count": failed_count,
        "queued": [{"id": jid, "description": d} for jid, d in snapshot.queued],
        "queued_count": queue.queued_count(),
    }


@admin.get("/rq")
def rq():
    from app.worker.status import collect

    report = collect(current_app._get_current_object())
    jobs, jobs_error = None, None
    try:
        jobs = _jobs()
    except QueueUnavailable as exc:
        log.warning("admin: RQ jobs unreadable: %r", exc)
        jobs_error = f"Redis is unreachable: {exc}"
    return render_template(
        "admin/rq.html", report=report, jobs=jobs, jobs_error=jobs_error, here=request.path
    )


@admin.post("/rq/failed/<job_id>/requeue")
def requeue_job(job_id: str):
    form = ActionForm()
    if _submitted(form):
        try:
            job_queue().requeue_failed(job_id)
        except LookupError as exc:
            flash(str(exc), "error")
        except QueueUnavailable as exc:
            flash(f"Redis is unreachable: {exc}", "error")
        else:
            flash(f"Job {job_id} is back in the queue.", "success")
    return redirect(url_for("admin.rq"))


@admin.post("/rq/failed/requeue-all")
def requeue_all_jobs():
    form = ActionForm()
    if _submitted(form):
        try:
            done = job_queue().requeue_failed()
        except QueueUnavailable as exc:
            flash(f"Redis is unreachable: {exc}", "error")
        else:
            flash(f"{done} failed job(s) back in the queue.", "success" if done else "info")
    return redirect(url_for("admin.rq"))


# -- addresses that bounced ---------------------------------------------------------


@admin.get("/suppressions")
def suppressions():
    return render_template("admin/suppressions.html", rows=suppression.listed())


@admin.post("/suppressions/lift")
def lift_suppression():
    form = ActionForm()
    if _submitted(form):
        address = request.form.get("address", "")
        if suppression.lift(address):
            flash(f"{address} gets mail again.", "success")
        else:
            flash(f"{address} was not on the list.", "info")
    return redirect(url_for("admin.suppressions"))
