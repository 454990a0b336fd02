"""Workers on many machines (issue 13, part 2): supervisors on different hosts share
one queue; `worker.py status` shows every host's workers and sends, and tells a host
that died (its heartbeats lapsed) from one that stopped cleanly.

Two real `worker.py --processes 2` supervisors, named as two machines with
WORKER_HOSTNAME, against the test's Redis and database (PostgreSQL in CI's second
step); one is killed with its workers as a machine dies, the other stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from app.accounts import service as accounts
from app.jobqueue import MemoryJobQueue, RQJobQueue, job_queue
from app.worker.status import collect, render_text, verdict
from tests.processes import (
    ROOT,
    each_sent_once,
    rows,
    wait_until,
    worker_env,
)

BEAT = 0.5  # WORKER_BEAT_SECONDS here: a worker silent for 1.5 s is gone
# Longer than a send held while host-a is killed (else the lease runs out under the
# held send, and the row is sent again beside it), short enough for host-b to resend
# host-a's abandoned sends within the test.
LEASE = 8


# -- the record, on real Redis and in the twin ------------------------------------------


@pytest.mark.parametrize("kind", ["rq", "memory"])
def test_a_host_runs_while_it_beats_and_stops_cleanly_with_its_last_worker(app, kind):
    queue = job_queue(app) if kind == "rq" else MemoryJobQueue()
    queue.beat("a.1", "host-a")
    queue.beat("a.2", "host-a")
    queue.beat("b.1", "host-b")
    assert [(h["host"], h["state"]) for h in queue.hosts()] == [
        ("host-a", "running"),
        ("host-b", "running"),
    ]
    queue.forget_beat("a.1", "host-a")
    assert queue.hosts()[0]["stopped_age_seconds"] is None  # a.2 still works there
    queue.forget_beat("a.2", "host-a")
    [host_a] = [h for h in queue.hosts() if h["host"] == "host-a"]
    # Its last beat is recent, so it reads running until the beat TTL; then stopped.
    assert host_a["state"] == "running"
    queue.beat("a.3", "host-a")  # a replacement starts: no stop recorded any more
    queue.forget_beat("a.3", "host-a")


def test_a_host_whose_beats_lapse_without_a_clean_stop_died(app, redis):
    queue = RQJobQueue(redis, app.config["RQ_QUEUE"], beat_ttl=1)
    queue.beat("a.1", "host-a")
    queue.beat("b.1", "host-b")
    queue.forget_beat("b.1", "host-b")
    time.sleep(1.2)
    states = {h["host"]: h["state"] for h in queue.hosts()}
    assert states == {"host-a": "died", "host-b": "stopped"}


def test_the_last_worker_stopping_cleanly_does_not_wait_for_one_that_died(app, redis):
    queue = RQJobQueue(redis, app.config["RQ_QUEUE"], beat_ttl=1)
    queue.beat("a.killed", "host-a")
    time.sleep(1.2)  # a.killed was SIGKILLed: its beat expired, it never said goodbye
    queue.beat("a.last", "host-a")
    queue.forget_beat("a.last", "host-a")
    time.sleep(1.2)
    assert [(h["host"], h["state"]) for h in queue.hosts()] == [("host-a", "stopped")]


def test_a_died_host_is_a_problem_and_the_table_says_which():
    report = {
        "redis": {"ok": True, "error": None},
        "database": {"ok": True, "error": None},
        "workers": [
            {
                "name": "host-b.1",
                "hostname": "host-b",
                "pid": 7,
                "state": "busy",
                "current_job": "notification-3",
                "current_jobs": ["notification-3"],
                "job_seconds": 0.2,
                "successful_jobs": 1,
                "failed_jobs": 0,
                "heartbeat_age_seconds": 1.0,
            }
        ],
        "hosts": [
            {
                "host": "host-a",
                "state": "died",
                "last_beat_age_seconds": 65.0,
                "stopped_age_seconds": None,
                "workers": 0,
                "sends": 0,
            },
            {
                "host": "host-b",
                "state": "running",
                "last_beat_age_seconds": 1.0,
                "stopped_age_seconds": None,
                "workers": 1,
                "sends": 1,
            },
            {
                "host": "host-c",
                "state": "stopped",
                "last_beat_age_seconds": 300.0,
                "stopped_age_seconds": 299.0,
                "workers": 0,
                "sends": 0,
            },
        ],
        "queues": [],
        "notifications": {"pending": 0, "sent": 0, "failed": 0, "oldest_pending_seconds": None},
    }
    judged = verdict(report, 600)
    assert judged == (1, ["host host-a died: no heartbeat for 1m 5s"])
    text = render_text(report, judged)
    assert "host-a  DIED (heartbeat lapsed)" in text
    assert "host-c  stopped cleanly 4m 59s ago" in text
    assert "host-b  running" in text


# -- two supervisors on two "machines" ---------------------------------------------------


def status_json(settings) -> dict:
    done = subprocess.run(
        [sys.executable, "worker.py", "status", "--json"],
        cwd=ROOT,
        env=worker_env(settings, WORKER_BEAT_SECONDS=BEAT),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def hosts_in(report: dict) -> dict[str, tuple[str, int]]:
    return {h["host"]: (h["state"], h["workers"]) for h in report["hosts"]}


def in_flight_all_held(mail_server) -> bool:
    claimed = [r for r in rows() if r.attempts >= 1 and r.status != "sent"]
    return bool(claimed) and len(claimed) == mail_server.held_count()


def status_when(settings, host: str, state: str) -> dict | None:
    """`worker.py status --json` once it shows `host` in `state`, else None."""
    report = status_json(settings)
    return report if hosts_in(report).get(host, ("",))[0] == state else None


@pytest.mark.slow
def test_two_hosts_share_the_queue_one_dies_the_other_stops_cleanly(
    app, settings, mail_server, workers
):
    hosts = {
        name: workers.start(
            "--processes",
            "2",
            "--concurrency",
            "2",
            WORKER_HOSTNAME=name,
            WORKER_BEAT_SECONDS=BEAT,
            NOTIFICATION_CLAIM_SECONDS=LEASE,
        )
        for name in ("host-a", "host-b")
    }
    wait_until(
        lambda: hosts_in(collect(app)) == {"host-a": ("running", 2), "host-b": ("running", 2)},
        "both hosts' workers to beat",
        details=workers.tails,
    )
    names = {w["name"].split(".")[0] for w in collect(app)["workers"]}
    assert names == {"host-a", "host-b"}  # worker names carry the host

    count = 30
    for n in range(count):
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    wait_until(lambda: len(mail_server.messages) >= 10, "mail to flow", details=workers.tails)
    # Every send in flight held in DATA, none between the server's 250 and the row's
    # commit: a send the server accepted from a worker killed before it wrote `sent`
    # would be sent again (at least once; the Message-ID says it is the same mail).
    mail_server.hold()
    wait_until(lambda: in_flight_all_held(mail_server), "the sends in flight to be held")

    # host-a dies: the supervisor and its workers killed at once, no goodbye.
    dying = hosts["host-a"]
    children = dying.children()
    for process in [*children, psutil.Process(dying.pid)]:
        process.send_signal(signal.SIGKILL)
    dying.process.wait(timeout=10)
    psutil.wait_procs(children, timeout=10)
    time.sleep(0.5)  # for the mail server to see host-a's connections close
    mail_server.release()  # host-b's held sends go on; host-a's are dropped, client gone
    for n in range(count, count + 10):
        accounts.sign_up(f"user{n}@example.com", f"User {n}")
    each_sent_once(mail_server, workers, count + 10)  # host-b sent the rest, each once

    report = wait_until(lambda: status_when(settings, "host-a", "died"), "host-a to have died")
    assert hosts_in(report) == {"host-a": ("died", 0), "host-b": ("running", 2)}
    assert report["exit_code"] == 1
    assert any(p.startswith("host host-a died") for p in report["problems"]), report["problems"]

    # host-b stops cleanly (SIGTERM to its supervisor, which passes it on).
    hosts["host-b"].process.send_signal(signal.SIGTERM)
    assert hosts["host-b"].exits_within(15), workers.tails()
    report = wait_until(lambda: status_when(settings, "host-b", "stopped"), "host-b to stop")
    assert hosts_in(report) == {"host-a": ("died", 0), "host-b": ("stopped", 0)}
    # host-a's killed workers are still registered with RQ, but no longer beat.
    assert report["problems"][0] == "no live worker (2 with a stale heartbeat)"
    assert [p[:19] for p in report["problems"][1:]] == ["host host-a died: n"]
