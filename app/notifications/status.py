"""`python worker.py status` and `flask worker status`: what the workers are doing.

`collect(app)` reads, in three Redis round trips and one SQL query, every worker
registered in Redis (from every machine sharing it), each queue's depth and
registries, and the outbox's counts by status. `verdict` turns that into an exit
status for a process manager or a cron check: 0 healthy, 1 a problem (no live
worker, or a pending notification older than the limit), 2 unknown (Redis or the
database cannot be reached). `render_text` is the human table; `status_main` prints
either it or JSON and returns the exit status.

Workers are read the way RQ 3.0 stores them: the set `rq:workers` names every worker
hash; a worker's hash expires (worker_ttl) unless its heartbeats refresh it, so a
dead worker drops out on its own. A worker's current job is in its execution index
(`rq:worker:<name>:executions`, members `<job id>:<execution id>`), the job's start
time in the job's hash. Nothing here writes to Redis.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution
from rq.job import Job
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.utils import utcparse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.notifications.queue import redis_connection
from app.notifications.worker import WORKER_TTL

STATUSES = ("pending", "sent", "failed", "skipped")
STALE_AFTER = 1.5 * WORKER_TTL

# A queue's registries, and whether their scores are expiry times. Expired entries
# are left for RQ's own cleanup (a status read writes nothing), so only unexpired ones
# are counted there; scheduled jobs are scored by run time and are counted whole.
REGISTRIES = (
    ("started", StartedJobRegistry, True),
    ("failed", FailedJobRegistry, True),
    ("scheduled", ScheduledJobRegistry, False),
    ("deferred", DeferredJobRegistry, False),
    ("finished", FinishedJobRegistry, True),
)


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
        "queues": [],
        "notifications": {"pending": 0, "sent": 0, "failed": 0, "oldest_pending_seconds": None},
    }
    try:
        _collect_redis(redis_connection(app), app.config["RQ_QUEUE"], now, report)
    except RedisError as exc:
        report["redis"] = {"ok": False, "error": _describe(exc)}
    try:
        report["notifications"] = _collect_notifications(app)
    except SQLAlchemyError as exc:
        report["database"] = {"ok": False, "error": _describe(getattr(exc, "orig", None) or exc)}
    return report


def _collect_redis(redis: Redis, configured_queue: str, now: datetime, report: dict) -> None:
    # 1. Which workers and queues exist.
    with redis.pipeline(transaction=False) as pipe:
        pipe.smembers(Worker.redis_workers_keys)
        pipe.smembers(Queue.redis_queues_keys)
        worker_keys, queue_keys = pipe.execute()
    worker_keys = sorted(_text(k) for k in worker_keys)
    prefix = Queue.redis_queue_namespace_prefix
    names = {_text(k).removeprefix(prefix) for k in queue_keys if _text(k).startswith(prefix)}
    queue_names = sorted(names | {configured_queue})

    # 2. Each worker's hash and execution index; each queue's length and registries.
    worker_prefix = Worker.redis_worker_namespace_prefix
    now_score = now.timestamp()
    with redis.pipeline(transaction=False) as pipe:
        for key in worker_keys:
            pipe.hgetall(key)
            pipe.smembers(WORKER_EXECUTIONS_KEY_TEMPLATE.format(key.removeprefix(worker_prefix)))
        for name in queue_names:
            pipe.llen(prefix + name)
            for _, registry, expiring in REGISTRIES:
                key = registry(name, connection=redis).key
                if expiring:
                    pipe.zcount(key, now_score, "+inf")
                else:
                    pipe.zcard(key)
        results = pipe.execute()

    workers = []
    for index, key in enumerate(worker_keys):
        data, executions = results[2 * index], results[2 * index + 1]
        # No hash: it expired, the worker is gone (RQ drops the key from the set later).
        if data:
            workers.append((key.removeprefix(worker_prefix), _decode(data), executions))
    counts = results[2 * len(worker_keys) :]
    width = 1 + len(REGISTRIES)
    for index, name in enumerate(queue_names):
        queued, *registered = counts[index * width : (index + 1) * width]
        entry = {"name": name, "queued": queued}
        entry.update(zip((field for field, _, _ in REGISTRIES), registered, strict=True))
        report["queues"].append(entry)

    # 3. The current job of every worker that has one: an execution of it still alive
    # (its hash expires with it), and the job's start and description. The execution's
    # own start stands in when the job's hash is gone.
    candidates = []  # (worker index, execution key, job id)
    for index, (_, _, executions) in enumerate(workers):
        for member in sorted(_text(m) for m in executions):
            execution = Execution.from_composite_key(member, connection=redis)
            candidates.append((index, execution.key, execution.job_id))
    current: dict[int, tuple[str, str | None, datetime | None]] = {}
    found: list = []
    lost: RedisError | None = None
    if candidates:
        try:
            with redis.pipeline(transaction=False) as pipe:
                for _, execution_key, job_id in candidates:
                    pipe.hget(execution_key, "created_at")
                    pipe.hmget(Job.key_for(job_id), "started_at", "description")
                found = pipe.execute()
        except RedisError as exc:
            lost = exc  # still list the workers, without their jobs
    if found:
        for n, (index, _, job_id) in enumerate(candidates):
            created, (started_at, description) = found[2 * n], found[2 * n + 1]
            if created is None or index in current:
                continue
            started = _when(started_at)
            if started is None:
                started = datetime.fromtimestamp(float(created), tz=UTC)
            current[index] = (job_id, _text(description) if description else None, started)

    for index, (name, data, _) in enumerate(workers):
        job_id, description, started = current.get(index, (None, None, None))
        heartbeat = _when(data.get("last_heartbeat"))
        birth = _when(data.get("birth"))
        report["workers"].append(
            {
                "name": name,
                "hostname": data.get("hostname") or None,
                "pid": int(data["pid"]) if data.get("pid") else None,
                "state": data.get("state") or "?",
                "queues": [q for q in (data.get("queues") or "").split(",") if q],
                "current_job": job_id,
                "current_job_description": description,
                "job_seconds": _seconds(now, started),
                "successful_jobs": int(data.get("successful_job_count") or 0),
                "failed_jobs": int(data.get("failed_job_count") or 0),
                "last_heartbeat": heartbeat.isoformat() if heartbeat else None,
                "heartbeat_age_seconds": _seconds(now, heartbeat),
                "birth": birth.isoformat() if birth else None,
            }
        )
    if lost is not None:
        raise lost


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
        if status == "pending":
            oldest = earliest
    counts["oldest_pending_seconds"] = (
        round(max((utcnow() - oldest).total_seconds(), 0.0), 3) if oldest else None
    )
    return counts


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(data: dict) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in data.items()}


def _when(value: bytes | str | None) -> datetime | None:
    if not value:
        return None
    try:
        return utcparse(_text(value))
    except ValueError:
        return None


def _seconds(now: datetime, then: datetime | None) -> float | None:
    # Another machine's clock wrote `then`; a small skew must not read as negative.
    return round(max((now - then).total_seconds(), 0.0), 3) if then else None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# -- judging -------------------------------------------------------------------------


def stale(worker: dict[str, Any]) -> bool:
    """A worker whose heartbeat stopped: killed without deregistering. An idle worker
    heartbeats every WORKER_TTL - 15 seconds, a busy one at each job's start; Redis
    forgets it a little later than this."""
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
    elif not [w for w in report["workers"] if not stale(w)]:
        gone = len(report["workers"])
        problems.append("no live worker" + (f" ({gone} with a stale heartbeat)" if gone else ""))
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
