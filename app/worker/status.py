"""`python worker.py status` and `flask worker status`: what the workers are doing.

`collect(app)` reads every worker registered with the queue (from every machine
sharing it), its current sends, every machine that ran workers lately (running,
stopped cleanly, or died: its heartbeats lapsed without a clean stop), each queue's
depth and registries (the job queue's `snapshot`, app.jobqueue), and the outbox's
counts by status in one SQL query. `verdict` turns that into an exit status for a
process manager or a cron check: 0 healthy, 1 a problem (no live worker, a machine
whose workers died, or a pending notification older than the limit), 2 unknown
(Redis or the database cannot be reached). `render_text` is the human table;
`status_main` prints either it or JSON and returns the exit status. Nothing here
writes to Redis.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.jobqueue import QueueUnavailable, job_queue
from app.notifications.outbox import PENDING, STATUSES
from app.worker.runner import WORKER_TTL

STALE_AFTER = 1.5 * WORKER_TTL


# -- collecting ----------------------------------------------------------------------


def collect(app: Flask) -> dict[str, Any]:
    """Everything the status shows, as plain data (JSON-ready). Never raises for an
    unreachable Redis or database: that part says ok False with the error, and the
    rest is still filled in."""
    now = datetime.now(UTC)
    report: dict[str, Any] = {
        "checked_at": now.isoformat(),
        "redis": {"ok": True, "error": None},
        "database": {"ok": True, "error": None},
        "workers": [],
        "hosts": [],
        "queues": [],
        "notifications": {**dict.fromkeys(STATUSES, 0), "oldest_pending_seconds": None},
    }
    try:
        snapshot = job_queue(app).snapshot()
        report["workers"], report["queues"] = snapshot.workers, snapshot.queues
        report["hosts"] = [_host(entry, snapshot.workers) for entry in snapshot.hosts]
    except QueueUnavailable as exc:
        report["redis"] = {"ok": False, "error": _describe(exc.__cause__ or exc)}
    try:
        report["notifications"] = _collect_notifications(app)
    except SQLAlchemyError as exc:
        report["database"] = {"ok": False, "error": _describe(getattr(exc, "orig", None) or exc)}
    return report


def _host(entry: dict[str, Any], workers: list[dict[str, Any]]) -> dict[str, Any]:
    """A machine's entry (the job queue's `hosts`) with its live workers and sends."""
    live = [w for w in workers if w["hostname"] == entry["host"] and w.get("beating")]
    return {
        **entry,
        "workers": len(live),
        "sends": sum(len(w.get("current_jobs") or []) for w in live),
    }


def _collect_notifications(app: Flask) -> dict[str, Any]:
    from app.extensions import db
    from app.models import Notification, utcnow

    # An app context of its own: its own session, removed (and rolled back) at the end.
    with app.app_context():
        try:
            rows = db.session.execute(
                select(
                    Notification.status,
                    func.count(Notification.id),
                    func.min(Notification.created_at),
                ).group_by(Notification.status)
            ).all()
        finally:
            db.session.rollback()
    counts: dict[str, Any] = dict.fromkeys(STATUSES, 0)
    oldest = None
    for status, count, earliest in rows:
        counts[status] = count
        if status == PENDING:
            oldest = earliest
    counts["oldest_pending_seconds"] = (
        round(max((utcnow() - oldest).total_seconds(), 0.0), 3) if oldest else None
    )
    return counts


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# -- judging -------------------------------------------------------------------------


def stale(worker: dict[str, Any]) -> bool:
    """A worker whose heartbeat stopped: killed without deregistering. Ours beats
    every WORKER_BEAT_SECONDS (`beating` is false three beats after a SIGKILL); RQ's
    own heartbeat, for a worker that is not ours, comes every WORKER_TTL - 15 seconds
    when idle, and Redis forgets it a little later than this."""
    if worker.get("beating") is False:
        return True
    age = worker["heartbeat_age_seconds"]
    return age is not None and age > STALE_AFTER


def verdict(report: dict[str, Any], max_pending_age: float) -> tuple[int, list[str]]:
    """(0, []) healthy; (1, reasons) no live worker or a pending notification older than
    `max_pending_age` seconds; (2, reasons) Redis or the database cannot be reached, so
    health cannot be told (whatever else is known is listed too)."""
    problems: list[str] = []
    unknown = False
    if not report["redis"]["ok"]:
        unknown = True
        problems.append(f"redis unreachable: {report['redis']['error']}")
    else:
        if not [w for w in report["workers"] if not stale(w)]:
            gone = len(report["workers"])
            problems.append(
                "no live worker" + (f" ({gone} with a stale heartbeat)" if gone else "")
            )
        for host in report.get("hosts", []):
            if host["state"] == "died":
                problems.append(
                    f"host {host['host']} died: no heartbeat for "
                    f"{_duration(host['last_beat_age_seconds'], whole=True)}"
                )
    if not report["database"]["ok"]:
        unknown = True
        problems.append(f"database unreachable: {report['database']['error']}")
    else:
        oldest = report["notifications"]["oldest_pending_seconds"]
        if oldest is not None and oldest > max_pending_age:
            problems.append(
                f"oldest pending notification is {_duration(oldest, whole=True)} old"
                f" (limit {_duration(max_pending_age, whole=True)})"
            )
    if unknown:
        return 2, problems
    return (1 if problems else 0), problems


# -- showing -------------------------------------------------------------------------


def render_text(report: dict[str, Any], verdict: tuple[int, list[str]]) -> str:
    lines: list[str] = []
    if report["redis"]["ok"]:
        workers = report["workers"]
        live = sum(1 for w in workers if not stale(w))
        lines.append(
            f"Workers: {live} live"
            + (f", {len(workers) - live} stale" if live < len(workers) else "")
        )
        if workers:
            rows = [["NAME", "HOST", "PID", "STATE", "CURRENT JOB", "DONE", "FAILED", "HEARTBEAT"]]
            for w in workers:
                job = "-"
                if w["current_job"]:
                    job = w["current_job"]
                    if w["job_seconds"] is not None:
                        job += f" for {_duration(w['job_seconds'])}"
                    more = len(w.get("current_jobs") or []) - 1
                    if more > 0:
                        job += f" (+{more} more)"
                age = w["heartbeat_age_seconds"]
                rows.append(
                    [
                        w["name"],
                        w["hostname"] or "?",
                        str(w["pid"] or "?"),
                        w["state"] + (" (stale)" if stale(w) else ""),
                        job,
                        str(w["successful_jobs"]),
                        str(w["failed_jobs"]),
                        f"{_duration(age, whole=True)} ago" if age is not None else "never",
                    ]
                )
            lines += _table(rows)
        if report.get("hosts"):
            rows = [["HOST", "STATE", "WORKERS", "SENDS", "LAST HEARTBEAT"]]
            for h in report["hosts"]:
                state = {
                    "running": "running",
                    "stopped": "stopped cleanly"
                    + (
                        f" {_duration(h['stopped_age_seconds'], whole=True)} ago"
                        if h["stopped_age_seconds"] is not None
                        else ""
                    ),
                    "died": "DIED (heartbeat lapsed)",
                }[h["state"]]
                age = _duration(h["last_beat_age_seconds"], whole=True)
                rows.append([h["host"], state, str(h["workers"]), str(h["sends"]), f"{age} ago"])
            lines.append("Hosts:")
            lines += _table(rows)
        lines.append("Queues:")
        columns = ["queued", "started", "failed", "scheduled", "deferred", "finished"]
        rows = [["NAME", *(c.upper() for c in columns)]]
        rows += [[q["name"], *(str(q[c]) for c in columns)] for q in report["queues"]]
        lines += _table(rows)
    else:
        lines.append(f"Redis: unreachable ({report['redis']['error']})")

    if report["database"]["ok"]:
        n = report["notifications"]
        pending = f"pending {n['pending']}"
        if n["oldest_pending_seconds"] is not None:
            pending += f" (oldest {_duration(n['oldest_pending_seconds'], whole=True)})"
        lines.append(f"Notifications: {pending}, sent {n['sent']}, failed {n['failed']}")
    else:
        lines.append(f"Database: unreachable ({report['database']['error']})")

    code, problems = verdict
    lines.append("OK" if code == 0 else f"PROBLEM: {'; '.join(problems)}")
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _duration(seconds: float, whole: bool = False) -> str:
    """3.2s, 4s, 5m 3s, 2h 10m, 3d 4h."""
    if seconds < 60:
        return f"{int(seconds)}s" if whole else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


# -- the command ---------------------------------------------------------------------


def status_main(app: Flask, as_json: bool = False, max_pending_age: float | None = None) -> int:
    """Print the status (text, or JSON with "exit_code" and "problems") to stdout and
    return the exit status. The limit defaults to WORKER_STATUS_MAX_PENDING_AGE."""
    if max_pending_age is None:
        max_pending_age = float(app.config["WORKER_STATUS_MAX_PENDING_AGE"])
    report = collect(app)
    code, problems = verdict(report, max_pending_age)
    if as_json:
        print(json.dumps({**report, "exit_code": code, "problems": problems}, indent=2))
    else:
        print(render_text(report, (code, problems)))
    return code
