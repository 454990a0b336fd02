"""`python worker.py` in production (issue 5): graceful SIGTERM with a grace period,
the memory and job caps, and the supervisor of several processes with its flapping
rule. Real worker processes, a real SMTP server that can hold a delivery in hand,
the test's database and Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
from flask import current_app
from rq import Queue

from app.accounts import service as accounts
from app.jobqueue import job_id, redis_connection
from app.notifications.compose import mail_domain
from app.worker.runner import Limits, build_worker, rss_mb
from app.worker.supervisor import EXIT_GAVE_UP, FlapGuard
from tests.processes import (
    ROOT,
    describe,
    one_row,
    resent_once_by_a_new_worker,
    rows,
    sign_up,
    state,
    wait_for_mail,
    wait_until,
)

pytestmark = pytest.mark.slow


def held(mail_server, workers) -> None:
    wait_until(
        lambda: mail_server.held_count() >= 1,
        "a worker to reach DATA",
        details=lambda: state(workers, mail_server),
    )


def queued_ids() -> list[str]:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_connection()).job_ids


# -- graceful SIGTERM -------------------------------------------------------------------


def test_sigterm_mid_delivery_finishes_it_then_exits_0(app, mail_server, workers):
    mail_server.hold()
    worker = workers.start(WORKER_SHUTDOWN_GRACE=20)
    sign_up()
    held(mail_server, workers)

    worker.process.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert worker.alive(), "the worker left its delivery in hand\n" + workers.tails()
    mail_server.release()

    assert worker.exits_within(10), workers.tails()
    assert worker.process.returncode == 0, workers.tails()
    assert "finishing the sends in hand" in worker.output()
    row = one_row()
    assert (row.status, row.attempts) == ("sent", 1), describe(row)
    assert len(mail_server.messages) == 1
    assert queued_ids() == []


def test_sigterm_gives_the_delivery_back_when_the_grace_period_runs_out(app, mail_server, workers):
    mail_server.hold()
    first = workers.start(WORKER_SHUTDOWN_GRACE=1)
    notification = sign_up()
    held(mail_server, workers)

    first.process.send_signal(signal.SIGTERM)
    assert first.exits_within(10), workers.tails()
    assert first.process.returncode == 0, workers.tails()
    assert "grace period of 1s ran out" in first.output(), workers.tails()

    # Given back: pending, the attempt not counted, due now, and its job in the queue.
    row = one_row()
    assert (row.status, row.attempts, row.not_before) == ("pending", 0, None), describe(row)
    assert queued_ids() == [job_id(notification)]
    row = resent_once_by_a_new_worker(mail_server, workers)
    assert (row.status, row.attempts) == ("sent", 1), describe(row)
    assert mail_server.messages[0]["Message-ID"] == f"<{row.message_token}@{mail_domain()}>"


def test_a_second_sigterm_gives_the_delivery_back_at_once(app, mail_server, workers):
    mail_server.hold()
    worker = workers.start(WORKER_SHUTDOWN_GRACE=60)
    sign_up()
    held(mail_server, workers)

    worker.process.send_signal(signal.SIGTERM)
    time.sleep(1.5)  # a second signal within a second is taken for a duplicate
    assert worker.alive(), workers.tails()
    worker.process.send_signal(signal.SIGTERM)
    assert worker.exits_within(10), workers.tails()
    assert worker.process.returncode == 0, workers.tails()
    row = one_row()
    assert (row.status, row.attempts, row.not_before) == ("pending", 0, None), describe(row)


# -- limits -----------------------------------------------------------------------------


def test_job_cap_exits_0_after_that_many_jobs_and_a_new_worker_goes_on(app, mail_server, workers):
    first = workers.start(WORKER_MAX_JOBS=2)
    for n in range(3):
        sign_up(f"user{n}@example.com", f"User {n}")

    assert first.exits_within(20), workers.tails()
    assert first.process.returncode == 0, workers.tails()
    assert "job cap reached (2 jobs)" in first.output(), workers.tails()
    assert sorted(r.status for r in rows()) == ["pending", "sent", "sent"]

    workers.start()
    wait_for_mail(mail_server, 3, workers)
    # The row is marked after the SMTP server's reply: wait for that commit too.
    wait_until(lambda: [r.status for r in rows()] == ["sent"] * 3, "three rows sent")
    assert len(mail_server.messages) == 3


def test_memory_cap_exits_0_after_the_job_that_crossed_it(app, mail_server, workers):
    # How big an idle worker is here, measured, so the cap sits just above it.
    probe = workers.start()
    wait_until(lambda: b"listening on" in probe.log.read_bytes(), "the probe to listen")
    idle_mb = psutil.Process(probe.pid).memory_info().rss / 2**20
    probe.kill()

    capped = workers.start("--max-memory-mb", f"{idle_mb + 0.5:.1f}")
    wait_until(lambda: b"listening on" in capped.log.read_bytes(), "the worker to listen")
    for n in range(20):
        # Not tests.processes.sign_up, which checks its row is still pending: this
        # worker is running, and may have sent it already (more so since its threads
        # share two malloc arenas and it grows less per mail).
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    assert capped.exits_within(30), workers.tails()
    assert capped.process.returncode == 0, workers.tails()
    assert "memory cap reached" in capped.output(), workers.tails()
    sent = [r for r in rows() if r.status == "sent"]
    assert 1 <= len(sent) < 20, [describe(r) for r in rows()]


def test_a_stop_signalled_before_rq_took_the_signals_over_is_not_lost(app):
    """worker.py's own handler only sets `stopping`; a SIGTERM that lands there while
    RQ is still registering the worker (a supervisor stopping a worker it just started
    did, in CI) must still stop it, rather than RQ waiting for jobs until killed."""
    stopping = threading.Event()
    stopping.set()
    worker = build_worker(app, concurrency=1, stopping=stopping)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}

    def waited_too_long(signum, frame):
        raise TimeoutError("the worker went on waiting for jobs")

    signal.signal(signal.SIGALRM, waited_too_long)
    signal.setitimer(signal.ITIMER_REAL, 15)
    try:
        worker.work(burst=False, logging_level="WARNING")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert worker.stop_requested


def test_a_memory_cap_below_a_fresh_worker_refuses_to_start(app, workers):
    worker = workers.start("--max-memory-mb", "1")
    assert worker.exits_within(20), workers.tails()
    assert worker.process.returncode == 78, workers.tails()
    assert "over the memory cap of 1 MB" in worker.output()


# -- without docstrings (worker.without_docstrings) -------------------------------------


def listening(worker) -> None:
    wait_until(lambda: b"listening on" in worker.log.read_bytes(), f"{worker.name} to listen")


def test_a_worker_starts_itself_again_without_docstrings_in_the_same_process(app, workers):
    worker = workers.start()
    listening(worker)
    # The pid Popen gave is the worker's: it was replaced by exec, not forked.
    assert psutil.Process(worker.pid).cmdline()[1:3] == ["-OO", "worker.py"], workers.tails()


def test_pythonoptimize_in_the_environment_is_left_as_it_is(app, workers):
    worker = workers.start(PYTHONOPTIMIZE="0")
    listening(worker)
    assert "-OO" not in psutil.Process(worker.pid).cmdline(), workers.tails()


def test_a_supervisor_starts_its_workers_without_docstrings_at_once(app, workers):
    supervisor = workers.start("--processes", "2")
    children = wait_until(
        lambda: len(supervisor.children()) == 2 and supervisor.children(),
        "two workers",
        details=workers.tails,
    )
    assert psutil.Process(supervisor.pid).cmdline()[1] == "-OO"
    for child in children:
        # Started with it: not started plain, to start itself again.
        command = child.cmdline()
        assert command[1] == "-OO" and command[2].endswith("worker.py"), command


def test_limits_measure_this_process():
    assert Limits(max_jobs=2).after_job() is None
    limits = Limits(max_jobs=2)
    limits.after_job()
    assert limits.after_job() == "job cap reached (2 jobs)"
    # Real resident memory: over a cap of 1 MB, under one far above it.
    assert "memory cap reached" in Limits(max_memory_mb=1).after_job()
    assert Limits(max_memory_mb=rss_mb() + 10_000).after_job() is None
    assert Limits().after_job() is None  # no caps


# -- the supervisor ---------------------------------------------------------------------


def test_supervisor_replaces_workers_that_reach_their_cap_and_stops_them_on_sigterm(
    app, mail_server, workers
):
    supervisor = workers.start("--processes", "2", WORKER_MAX_JOBS=2)
    wait_until(lambda: len(supervisor.children()) == 2, "two workers")
    first_pids = {p.pid for p in supervisor.children()}
    for n in range(8):
        sign_up(f"user{n}@example.com", f"User {n}")

    wait_for_mail(mail_server, 8, workers)
    assert_stays_one_each(mail_server, 8, workers)
    # 8 jobs, 2 a worker: four workers reach their cap; the last exit may still be
    # on its way to the supervisor when the last mail arrives.
    wait_until(
        lambda: supervisor.output().count("limit reached); replacing it") >= 3,
        "three replacements",
        details=workers.tails,
    )
    wait_until(lambda: len(supervisor.children()) == 2, "two workers again")
    assert not first_pids & {p.pid for p in supervisor.children()}, "no worker was replaced"

    children = supervisor.children()
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.exits_within(20), workers.tails()
    assert supervisor.process.returncode == 0, workers.tails()
    assert not any(child.is_running() and child.status() != "zombie" for child in children)


def assert_stays_one_each(mail_server, count: int, workers) -> None:
    time.sleep(2)
    assert len(mail_server.messages) == count, state(workers, mail_server)
    assert [r.status for r in rows()] == ["sent"] * count


def test_supervisor_restarts_a_killed_worker_with_a_delay(app, mail_server, workers):
    supervisor = workers.start("--processes", "2", "--restart-delay", "0.5")
    wait_until(lambda: len(supervisor.children()) == 2, "two workers")
    victim = supervisor.children()[0]
    victim.kill()
    wait_until(
        lambda: len(supervisor.children()) == 2 and victim.pid not in children_pids(supervisor),
        "the killed worker to be replaced",
        details=workers.tails,
    )
    assert f"pid={victim.pid} died (signal SIGKILL)" in supervisor.output()
    assert "restarting in 0.5s" in supervisor.output()
    sign_up()
    wait_for_mail(mail_server, 1, workers)


def children_pids(process) -> set[int]:
    return {p.pid for p in process.children()}


def test_supervisor_gives_up_on_a_flapping_worker_and_exits_3(app, workers):
    # A cap no worker can start under: each one exits at once, non-zero.
    supervisor = workers.start(
        "--processes",
        "2",
        "--max-memory-mb",
        "1",
        "--restart-delay",
        "0.1",
        "--flap-limit",
        "3",
        "--flap-window",
        "120",
    )
    assert supervisor.exits_within(60), workers.tails()
    assert supervisor.process.returncode == EXIT_GAVE_UP == 3, workers.tails()
    out = supervisor.output()
    for slot in (1, 2):
        assert f"slot {slot} is flapping: its worker died 3 times within 120s" in out, out
    # Backing off: 0.1 s, then 0.2 s, before the third death ends it.
    assert "restarting in 0.1s" in out and "restarting in 0.2s" in out, out
    assert "every worker slot was given up; exiting 3" in out


def test_supervisor_in_burst_mode_drains_the_queue_and_exits_0(app, mail_server, workers):
    for n in range(4):
        sign_up(f"user{n}@example.com", f"User {n}")
    supervisor = workers.start("--processes", "2", "--burst")
    assert supervisor.exits_within(40), workers.tails()
    assert supervisor.process.returncode == 0, workers.tails()
    assert len(mail_server.messages) == 4
    assert [r.status for r in rows()] == ["sent"] * 4


def test_flap_guard_backs_off_and_gives_up_within_its_window():
    guard = FlapGuard(limit=3, window=60, base_delay=1)
    assert guard.died(0) == 1
    assert guard.died(1) == 2
    assert guard.died(2) is None  # 3 deaths within 60 s

    guard = FlapGuard(limit=3, window=60, base_delay=1)
    assert guard.died(0) == 1
    assert guard.died(30) == 2
    assert guard.died(61) == 4  # the first death is out of the window
    guard.exited_cleanly()
    assert guard.died(62) is None  # a clean run resets the delay, not the count

    guard = FlapGuard(limit=100, window=1e9, base_delay=1)
    delays = [guard.died(t) for t in range(10)]
    assert delays[-1] == 60  # the delay stops growing at a minute


# -- the command line -------------------------------------------------------------------


def run_worker(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "worker.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_explains_every_option_and_its_variable():
    result = run_worker("--help")
    assert result.returncode == 0, result.stderr
    for text in (
        "--queue",
        "WORKER_QUEUES",
        "--processes",
        "WORKER_PROCESSES",
        "--burst",
        "--max-memory-mb",
        "WORKER_MAX_MEMORY_MB",
        "--max-jobs",
        "WORKER_MAX_JOBS",
        "--grace",
        "WORKER_SHUTDOWN_GRACE",
        "--flap-limit",
        "WORKER_FLAP_LIMIT",
        "--flap-window",
        "WORKER_FLAP_WINDOW",
        "--restart-delay",
        "status",
    ):
        assert text in result.stdout, text
    status_help = run_worker("status", "--help")
    assert "--json" in status_help.stdout and "--max-pending-age" in status_help.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--processes", "0"), "must be at least 1"),
        (("--max-jobs", "many"), "'many' is not a number"),
        (("--grace", "-1"), "must be at least 0"),
        (("--frobnicate",), "unrecognized arguments"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(args, message):
    result = run_worker(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_bad_environment_variable_is_named():
    env = {**os.environ, "WORKER_PROCESSES": "two"}
    result = run_worker("--burst", env=env)
    assert result.returncode == 2
    assert "WORKER_PROCESSES='two' is not an integer" in result.stderr


# -- logs -------------------------------------------------------------------------------


def test_each_delivery_attempt_logs_one_json_line_without_the_address(app, mail_server, workers):
    mail_server.fail_next(1, "451 4.3.0 Try again later")
    worker = workers.start(LOG_FORMAT="json", NOTIFICATION_RETRY_BASE=0.5)
    notification = sign_up("bob@mail.example.org", "Bob")
    wait_for_mail(mail_server, 1, workers)
    # The line follows the SMTP reply and the row's commit.
    wait_until(lambda: '"outcome": "sent"' in worker.output(), "the sent line", details=worker.tail)

    lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
    assert lines, worker.tail()
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    deliveries = [line for line in lines if line.get("event") == "delivery"]
    assert [d["outcome"] for d in deliveries] == ["retry", "sent"], deliveries
    for line in deliveries:
        assert line["notification_id"] == notification
        assert line["notifier"] == "signup_confirmation"
        assert line["domain"] == "mail.example.org"
        assert isinstance(line["ms"], float) and line["ms"] >= 0
    assert "451" in deliveries[0]["error"]
    # The domain, never the address: not in these lines, nor anywhere in the log.
    assert "bob@" not in worker.output()


def test_the_supervisor_side_of_worker_py_loads_no_framework():
    """With --processes N the supervisor runs worker.py's module code, app.logs, config
    and the supervisor module, and nothing heavier (bench.production: ~16 MiB)."""
    code = (
        "import sys, worker, config, app.logs, app.worker.supervisor\n"
        "print(sorted(m for m in ('flask', 'sqlalchemy', 'redis', 'rq') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
