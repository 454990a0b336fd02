"""The admin pages: thin views over the outbox, the retry service and RQ.

Anonymous visitors are sent to log in; logged-in people who are not admins get the
403 page. Every POST carries the CSRF token (CSRFProtect checks it app-wide, and the
view checks its form again) and ends in a redirect with a flash (POST-redirect-GET).
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
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms import HiddenField

from app.errors import MoochError
from app.extensions import db, login
from app.jobqueue import QueueUnavailable, job_queue
from app.models import Notification, utcnow
from app.notifications import outbox
from app.notifications import retry as retries
from app.notifications.outbox import FAILED, PENDING
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

# Failed first: what an admin comes here for.
STATUSES = (FAILED, *(s for s in outbox.STATUSES if s != FAILED), "all")
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
    flash(CSRF_EXPIRED, "error")
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


def _counts() -> dict[str, int]:
    rows = db.session.execute(
        select(Notification.status, func.count()).group_by(Notification.status)
    ).all()
    counts = {status: 0 for status in STATUSES}
    for status, n in rows:
        counts[status] = n
    counts["all"] = sum(n for _, n in rows)
    return counts


@admin.get("/notifications")
def notifications():
    status = request.args.get("status", FAILED)
    if status not in STATUSES:
        status = FAILED
    # Newest first by id (the primary key's order is the order of creation), so a
    # large outbox needs no index on created_at.
    query = select(Notification).options(joinedload(Notification.loan))
    query = query.order_by(Notification.id.desc())
    if status != "all":
        query = query.where(Notification.status == status)
    page = db.paginate(
        query, page=request.args.get("page", 1, type=int), per_page=PER_PAGE, error_out=False
    )
    now = utcnow()
    grace = timedelta(seconds=current_app.config["NOTIFICATION_RELAY_GRACE"])

    def stuck(row: Notification) -> bool:
        """Pending, due, and its job should have run by now: worth enqueuing again."""
        if row.status != PENDING:
            return False
        if row.not_before is not None:
            return row.not_before <= now
        return row.created_at <= now - grace

    return render_template(
        "admin/notifications.html",
        status=status,
        statuses=STATUSES,
        counts=_counts(),
        page=page,
        stuck=stuck,
        here=request.full_path.rstrip("?"),
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
