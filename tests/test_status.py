"""`worker.py status` / `flask worker status` (app/worker/status.py): what it
reads from a real Redis with real worker processes, from the outbox rows, and the exit
status a process manager or a cron check acts on. Nothing is mocked: a busy worker is
one whose delivery the real SMTP server holds, an unreachable Redis is a port where
nothing listens.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.accounts import service as accounts
from app.extensions import db
from app.jobqueue import job_id
from app.models import Notification, utcnow
from app.notifications import outbox
from app.worker.runner import WORKER_TTL
from app.worker.status import collect, render_text, status_main, verdict
from tests.processes import ROOT, Workers, free_port, wait_until, worker_env

REPORT_KEYS = {"checked_at", "redis", "database", "workers", "hosts", "queues", "notifications"}
WORKER_KEYS = {
    "name",
    "hostname",
    "pid",
    "state",
    "queues",
    "current_job",
    "current_jobs",
    "current_job_description",
    "job_seconds",
    "successful_jobs",
    "failed_jobs",
    "last_heartbeat",
    "heartbeat_age_seconds",
    "birth",
    "beating",
}
QUEUE_KEYS = {"name", "queued", "started", "failed", "scheduled", "deferred", "finished"}
NOTIFICATION_KEYS = {
    "pending", "sent", "failed", "skipped", "suppressed", "digest", "oldest_pending_seconds"
}  # fmt: skip
LIMIT = 600.0
# A row backdated by 30 s, a moment ago, against a limit of 10 s.
STALE_30 = r"oldest pending notification is 3\ds old \(limit 10s\)"


@pytest.fixture
def workers(settings, tmp_path):
    started = Workers(settings, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def run_status(app, capsys, as_json: bool = True, max_pending_age: float = LIMIT):
    """status_main's exit code and what it printed (parsed, with --json)."""
    capsys.readouterr()
    code = status_main(app, as_json=as_json, max_pending_age=max_pending_age)
    out = capsys.readouterr().out
    return code, (json.loads(out) if as_json else out)


def registered(app, process) -> dict | None:
    """The status entry of worker process `process`, once it has registered."""
    for worker in collect(app)["workers"]:
        if worker["pid"] == process.pid:
            return worker
    return None


def queue_entry(report: dict, name: str) -> dict:
    [entry] = [q for q in report["queues"] if q["name"] == name]
    return entry


def pending_row() -> Notification:
    db.session.rollback()  # see the worker's commits; hold no transaction afterwards
    db.session.expire_all()
    [row] = db.session.scalars(select(Notification)).all()
    db.session.rollback()
    return row


def backdate(notification_id: int, seconds: float) -> None:
    db.session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(created_at=utcnow() - timedelta(seconds=seconds))
    )
    db.session.commit()


# -- the exit status ---------------------------------------------------------------


def test_no_worker_exits_1_naming_it(app, capsys):
    code, report = run_status(app, capsys)

    assert code == 1
    assert report["exit_code"] == 1
    assert report["problems"] == ["no live worker"]
    assert report["redis"] == {"ok": True, "error": None}
    assert report["database"] == {"ok": True, "error": None}
    assert report["workers"] == []
    # The configured queue is shown even though nothing ever used it.
    assert queue_entry(report, app.config["RQ_QUEUE"]) == {
        "name": app.config["RQ_QUEUE"],
        "queued": 0,
        "started": 0,
        "failed": 0,
        "scheduled": 0,
        "deferred": 0,
        "finished": 0,
    }

    code, text = run_status(app, capsys, as_json=False)
    assert code == 1
    assert text.splitlines()[0] == "Workers: 0 live"
    assert text.rstrip().splitlines()[-1] == "PROBLEM: no live worker"


@pytest.mark.slow
def test_live_idle_worker_is_listed_and_exits_0(app, workers, capsys):
    process = workers.start()
    entry = wait_until(
        lambda: (w := registered(app, process)) and w["state"] == "idle" and w,
        "the worker to register and wait for jobs",
        details=workers.tails,
    )

    code, report = run_status(app, capsys)
    assert (code, report["exit_code"], report["problems"]) == (0, 0, [])
    assert set(report) == REPORT_KEYS | {"exit_code", "problems"}
    [worker] = report["workers"]
    assert set(worker) == WORKER_KEYS
    assert worker["name"] == entry["name"]
    assert worker["pid"] == process.pid
    assert worker["hostname"] == socket.gethostname()
    assert worker["state"] == "idle"
    assert worker["queues"] == [app.config["RQ_QUEUE"]]
    assert worker["current_job"] is None and worker["job_seconds"] is None
    assert (worker["successful_jobs"], worker["failed_jobs"]) == (0, 0)
    assert worker["birth"] and worker["last_heartbeat"]
    assert 0 <= worker["heartbeat_age_seconds"] < 60
    assert all(set(q) == QUEUE_KEYS for q in report["queues"])
    assert set(report["notifications"]) == NOTIFICATION_KEYS

    code, text = run_status(app, capsys, as_json=False)
    assert code == 0
    row = next(line for line in text.splitlines() if worker["name"] in line)
    assert f" {process.pid} " in row and " idle " in row and row.endswith(" ago")
    assert text.rstrip().splitlines()[-1] == "OK"


@pytest.mark.slow
def test_busy_worker_shows_its_job_and_for_how_long(app, workers, mail_server, capsys):
    mail_server.hold()
    # A socket timeout and a claim well beyond the test, so the held delivery stays in
    # hand and the relay leaves its job alone.
    process = workers.start(MAIL_TIMEOUT=60, NOTIFICATION_CLAIM_SECONDS=60)
    accounts.sign_up("bob@example.com", "Bob")
    row = pending_row()
    wait_until(
        lambda: mail_server.held_count() >= 1, "the worker to reach DATA", details=workers.tails
    )

    first = wait_until(
        lambda: (w := registered(app, process)) and w["state"] == "busy" and w,
        "the worker to show as busy",
        details=workers.tails,
    )
    assert first["current_job"] == job_id(row.id) == f"notification-{row.id}"
    assert first["current_job_description"] == f"notification {row.id}"
    assert first["job_seconds"] > 0
    time.sleep(0.3)

    code, report = run_status(app, capsys)
    [worker] = report["workers"]
    assert (worker["state"], worker["current_job"]) == ("busy", f"notification-{row.id}")
    assert worker["job_seconds"] >= first["job_seconds"] + 0.3
    assert queue_entry(report, app.config["RQ_QUEUE"])["started"] >= 1
    assert report["notifications"]["pending"] == 1
    assert code == 0, report["problems"]  # busy is healthy; the row is seconds old

    code, text = run_status(app, capsys, as_json=False)
    line = next(line for line in text.splitlines() if worker["name"] in line)
    assert re.search(rf" busy +notification-{row.id} for \d+\.\ds ", line), line


def test_counts_by_status_and_the_oldest_pending_age(app, make, redis):
    alice, bob = make.user("Alice"), make.user("Bob")
    rows = [outbox.record("welcome", user) for user in (alice, bob, alice, bob)]
    db.session.commit()  # and one job each, enqueued after the commit
    ids = [r.id for r in rows]
    db.session.execute(update(Notification).where(Notification.id == ids[0]).values(status="sent"))
    db.session.execute(
        update(Notification).where(Notification.id == ids[1]).values(status="failed")
    )
    db.session.commit()
    backdate(ids[2], 125)
    backdate(ids[0], 9999)  # sent: its age does not count

    report = collect(app)
    counts = report["notifications"]
    assert (counts["pending"], counts["sent"], counts["failed"]) == (2, 1, 1)
    assert 125 <= counts["oldest_pending_seconds"] < 185
    assert queue_entry(report, app.config["RQ_QUEUE"])["queued"] == 4

    text = render_text(report, verdict(report, LIMIT))
    assert "Notifications: pending 2 (oldest 2m " in text
    assert ", sent 1, failed 1" in text


def test_nothing_pending_has_no_oldest_age(app, make):
    outbox.record("welcome", make.user("Alice"))
    db.session.commit()
    db.session.execute(update(Notification).values(status="sent"))
    db.session.commit()
    counts = collect(app)["notifications"]
    assert counts == {
        "pending": 0,
        "sent": 1,
        "failed": 0,
        "skipped": 0,
        "suppressed": 0,
        "digest": 0,
        "oldest_pending_seconds": None,
    }


@pytest.mark.slow
def test_stale_pending_with_a_live_worker_exits_1_naming_only_the_age(
    app, workers, mail_server, capsys
):
    # SMTP refuses for now: the worker tries once and the row waits for its retry.
    mail_server.fail_always("451 4.3.0 Try again later")
    process = workers.start(NOTIFICATION_RETRY_BASE=600)
    accounts.sign_up("bob@example.com", "Bob")
    wait_until(
        lambda: pending_row().last_error is not None,
        "the first attempt to fail",
        details=workers.tails,
    )
    wait_until(
        lambda: (w := registered(app, process)) and w["state"] == "idle",
        "the worker to be idle again",
        details=workers.tails,
    )
    row = pending_row()
    assert row.status == "pending", row
    backdate(row.id, 700)

    code, report = run_status(app, capsys, max_pending_age=LIMIT)
    assert code == 1
    assert report["workers"][0]["pid"] == process.pid
    assert report["notifications"]["oldest_pending_seconds"] >= 700
    [problem] = report["problems"]
    assert re.fullmatch(r"oldest pending notification is 11m 4\ds old \(limit 10m 0s\)", problem)

    # A higher limit: the same state is healthy.
    code, report = run_status(app, capsys, max_pending_age=3600)
    assert (code, report["problems"]) == (0, [])


def test_stale_pending_and_no_worker_lists_both(app, make, capsys):
    outbox.record("welcome", make.user("Alice"))
    db.session.commit()
    backdate(pending_row().id, 30)

    code, report = run_status(app, capsys, max_pending_age=10)
    assert code == 1
    assert report["problems"][0] == "no live worker"
    assert re.fullmatch(STALE_30, report["problems"][1])
    code, text = run_status(app, capsys, as_json=False, max_pending_age=10)
    assert re.fullmatch(f"PROBLEM: no live worker; {STALE_30}", text.rstrip().splitlines()[-1])


def test_the_limit_defaults_to_the_configuration(app, make, capsys):
    outbox.record("welcome", make.user("Alice"))
    db.session.commit()
    backdate(pending_row().id, 30)

    app.config["WORKER_STATUS_MAX_PENDING_AGE"] = 20
    status_main(app, as_json=True)
    assert "(limit 20s)" in json.loads(capsys.readouterr().out)["problems"][-1]
    app.config["WORKER_STATUS_MAX_PENDING_AGE"] = 40
    status_main(app, as_json=True)
    assert json.loads(capsys.readouterr().out)["problems"] == ["no live worker"]


# -- what cannot be reached --------------------------------------------------------


@pytest.fixture
def app_without_redis(request, settings):
    """The app configured with a Redis port where nothing listens."""
    settings["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    return request.getfixturevalue("app")


def test_redis_unreachable_exits_2_and_says_so(app_without_redis, make, capsys):
    app = app_without_redis
    outbox.record("welcome", make.user("Alice"))  # committed; its job cannot be enqueued
    db.session.commit()

    started = time.monotonic()
    code, report = run_status(app, capsys)
    assert time.monotonic() - started < 5

    assert code == 2 and report["exit_code"] == 2
    assert report["redis"]["ok"] is False
    assert "Connection" in report["redis"]["error"]
    assert (report["workers"], report["queues"]) == ([], [])
    # What the database says is still there.
    assert report["database"] == {"ok": True, "error": None}
    assert report["notifications"]["pending"] == 1
    [problem] = report["problems"]
    assert problem.startswith("redis unreachable: ")

    code, text = run_status(app, capsys, as_json=False)
    assert code == 2
    assert text.startswith("Redis: unreachable (")
    assert "Notifications: pending 1" in text
    assert text.rstrip().splitlines()[-1].startswith("PROBLEM: redis unreachable: ")

    result = app.test_cli_runner().invoke(args=["worker", "status"])
    assert result.exit_code == 2, result.output


def test_database_unreachable_exits_2_and_redis_is_still_read(request, settings, tmp_path, capsys):
    settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'missing' / 'mooch.db'}"
    app = request.getfixturevalue("app")

    code, report = run_status(app, capsys)
    assert code == 2
    assert report["database"]["ok"] is False
    assert "OperationalError" in report["database"]["error"]
    assert report["redis"] == {"ok": True, "error": None}
    assert [q["name"] for q in report["queues"]] == [app.config["RQ_QUEUE"]]
    assert report["problems"] == [
        "no live worker",
        f"database unreachable: {report['database']['error']}",
    ]


# -- the rules, on reports as data -------------------------------------------------


def report_with(**changes) -> dict:
    base = {
        "checked_at": "2024-05-01T12:00:00+00:00",
        "redis": {"ok": True, "error": None},
        "database": {"ok": True, "error": None},
        "workers": [
            {
                "name": "w1",
                "hostname": "box",
                "pid": 42,
                "state": "busy",
                "queues": ["mail"],
                "current_job": "notification-7",
                "current_job_description": "notification 7",
                "job_seconds": 3.24,
                "successful_jobs": 12,
                "failed_jobs": 1,
                "last_heartbeat": "2024-05-01T11:59:56+00:00",
                "heartbeat_age_seconds": 4.2,
                "birth": "2024-05-01T10:00:00+00:00",
            }
        ],
        "queues": [
            {
                "name": "mail",
                "queued": 3,
                "started": 1,
                "failed": 0,
                "scheduled": 0,
                "deferred": 0,
                "finished": 0,
            }
        ],
        "notifications": {"pending": 4, "sent": 40, "failed": 2, "oldest_pending_seconds": 5.0},
    }
    base.update(changes)
    return base


def test_verdict_rules():
    assert verdict(report_with(), LIMIT) == (0, [])
    assert verdict(report_with(workers=[]), LIMIT) == (1, ["no live worker"])
    old = {"pending": 1, "sent": 0, "failed": 0, "oldest_pending_seconds": 601.0}
    assert verdict(report_with(notifications=old), LIMIT) == (
        1,
        ["oldest pending notification is 10m 1s old (limit 10m 0s)"],
    )
    # Exactly at the limit is still fine.
    at = {**old, "oldest_pending_seconds": LIMIT}
    assert verdict(report_with(notifications=at), LIMIT)[0] == 0
    # A worker killed without deregistering stops heartbeating: it is not alive.
    [worker] = report_with()["workers"]
    silent = {**worker, "heartbeat_age_seconds": 1.5 * WORKER_TTL + 1}
    assert verdict(report_with(workers=[silent]), LIMIT) == (
        1,
        ["no live worker (1 with a stale heartbeat)"],
    )
    assert verdict(report_with(workers=[silent, worker]), LIMIT) == (0, [])
    stale_text = render_text(report_with(workers=[silent]), (1, []))
    assert "Workers: 0 live, 1 stale" in stale_text and "busy (stale)" in stale_text
    # Unreachable beats unhealthy: with Redis down, "no worker" is not known.
    down = {"ok": False, "error": "ConnectionError: refused"}
    assert verdict(report_with(redis=down, workers=[]), LIMIT) == (
        2,
        ["redis unreachable: ConnectionError: refused"],
    )
    assert verdict(report_with(database=down, notifications=old), LIMIT) == (
        2,
        ["database unreachable: ConnectionError: refused"],
    )


def test_text_shows_the_job_duration_and_heartbeat_age():
    report = report_with()
    text = render_text(report, verdict(report, LIMIT))
    header, row = text.splitlines()[1:3]
    assert " ".join(header.split()) == "NAME HOST PID STATE CURRENT JOB DONE FAILED HEARTBEAT"
    assert " ".join(row.split()) == "w1 box 42 busy notification-7 for 3.2s 12 1 4s ago"
    # Columns line up under their headings.
    assert row.index("notification-7") == header.index("CURRENT JOB")
    assert row.index("4s ago") == header.index("HEARTBEAT")
    assert "Notifications: pending 4 (oldest 5s), sent 40, failed 2" in text
    assert text.splitlines()[-1] == "OK"


# -- the commands --------------------------------------------------------------------


def test_flask_worker_status_exits_like_status_main(app, make, capsys):
    outbox.record("welcome", make.user("Alice"))
    db.session.commit()
    backdate(pending_row().id, 30)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["worker", "status", "--json"])
    assert result.exit_code == 1, result.output
    printed = json.loads(result.output)
    assert set(printed) == REPORT_KEYS | {"exit_code", "problems"}
    assert (printed["exit_code"], printed["problems"]) == (1, ["no live worker"])

    result = runner.invoke(args=["worker", "status", "--max-pending-age", "10"])
    assert result.exit_code == 1, result.output
    last = result.output.rstrip().splitlines()[-1]
    assert re.fullmatch(f"PROBLEM: no live worker; {STALE_30}", last)
    assert status_main(app, as_json=True, max_pending_age=10) == 1

    result = runner.invoke(args=["worker", "status", "--max-pending-age", "-1"])
    assert result.exit_code == 2 and "max-pending-age" in result.output  # a usage error


def test_worker_py_status_json_runs_as_a_command(settings, redis):
    """`python worker.py status --json --max-pending-age N`, as cron would run it."""
    done = subprocess.run(
        [sys.executable, "worker.py", "status", "--json", "--max-pending-age", "5"],
        cwd=ROOT,
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == REPORT_KEYS | {"exit_code", "problems"}
    assert (printed["exit_code"], printed["problems"]) == (1, ["no live worker"])
    assert printed["redis"]["ok"] and printed["database"]["ok"]
