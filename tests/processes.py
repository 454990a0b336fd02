"""Real worker processes for fault tests: `python worker.py` started as a subprocess
with the test's configuration, its output kept in a file so a failure can show it;
and helpers that read what the workers did (rows, mail) without holding a lock."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from flask import current_app
from rq import Queue
from sqlalchemy import select

from app.accounts import service as accounts
from app.extensions import db
from app.jobqueue import redis_connection
from app.models import Notification
from app.notifications.compose import mail_domain
from devtools.mailcatcher import MailCatcher

ROOT = Path(__file__).resolve().parent.parent

# A few relay ticks (WORKER_TICK_SECONDS=0.5) plus more than one claim lease (2 s):
# long enough for a wrongly re-enqueued notification to be sent a second time.
SETTLE = 3.0

# Every wait in a fault test is bounded by this.
DEADLINE = 20.0
POLL = 0.05

# Short timings so that the relay, leases and retries happen within a test.
FAST = {
    "NOTIFICATION_CLAIM_SECONDS": 2,
    "NOTIFICATION_RELAY_GRACE": 1,
    "WORKER_TICK_SECONDS": 0.5,
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_env(settings: dict, **overrides: Any) -> dict[str, str]:
    """The environment a worker process needs to serve the same app as the test."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": settings["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": settings["REDIS_URL"],
            "MAIL_SERVER": settings["MAIL_SERVER"],
            "MAIL_PORT": str(settings["MAIL_PORT"]),
            "MAIL_DEFAULT_SENDER": settings["MAIL_DEFAULT_SENDER"],
            "MAIL_TIMEOUT": str(settings.get("MAIL_TIMEOUT", 10)),
            "SECRET_KEY": settings["SECRET_KEY"],
            "BASE_URL": settings["BASE_URL"],
            "DATABASE_PGBOUNCER": str(settings.get("DATABASE_PGBOUNCER", False)).lower(),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key: str(value) for key, value in {**FAST, **overrides}.items()})
    return env


class WorkerProcess:
    """One `python worker.py`, its stdout and stderr in `log`."""

    def __init__(
        self, env: dict[str, str], log: Path, name: str = "worker", args: tuple[str, ...] = ()
    ) -> None:
        self.env = env
        self.log = log
        self.name = name
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "worker.py", "--log-level", "INFO", *self.args],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exits_within(self, seconds: float) -> bool:
        """Whether the process ends within `seconds` (waiting no longer than that)."""
        assert self.process is not None
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def children(self) -> list[psutil.Process]:
        """The live processes this one started (a supervisor's workers)."""
        if not self.alive():
            return []
        try:
            return psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: a crash. Returns once the process is gone (its sockets closed)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (RQ's warm shutdown), then SIGKILL if it does not go in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            text = "(no output)"
        state = "running" if self.alive() else f"exited {self.process and self.process.poll()}"
        body = "\n".join(text.splitlines()[-lines:])
        return f"--- {self.name} pid={self.pid} ({state}), last lines of {self.log} ---\n{body}"


class Workers:
    """Starts worker processes for one test and stops every one of them at the end."""

    def __init__(self, settings: dict, directory: Path) -> None:
        self.settings = settings
        self.directory = directory
        self.started: list[WorkerProcess] = []

    def start(self, *args: str, **overrides: Any) -> WorkerProcess:
        """`python worker.py *args`, with the test's settings plus `overrides` as its
        environment."""
        name = f"worker-{len(self.started) + 1}"
        worker = WorkerProcess(
            worker_env(self.settings, **overrides), self.directory / f"{name}.log", name, args
        )
        self.started.append(worker)
        return worker.start()

    def stop_all(self) -> None:
        # The test is over: nothing needs a graceful shutdown, which costs a second each.
        # A supervisor's children go first, or they would outlive it by a second.
        for worker in self.started:
            for child in worker.children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            worker.kill()

    def tails(self) -> str:
        return "\n".join(w.tail() for w in self.started) or "(no worker started)"


def wait_until(
    condition: Callable[[], Any],
    what: str,
    timeout: float = DEADLINE,
    details: Callable[[], str] = lambda: "",
) -> Any:
    """Poll `condition` until it returns something truthy (returned); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{details()}")
        time.sleep(POLL)


# -- reading what the workers did ----------------------------------------------


def rows() -> list[Notification]:
    """Every notification as committed now, holding no transaction afterwards."""
    db.session.rollback()
    db.session.expire_all()
    found = list(db.session.scalars(select(Notification).order_by(Notification.id)))
    db.session.rollback()
    return found


def one_row() -> Notification:
    found = rows()
    assert len(found) == 1, found
    return found[0]


def describe(row: Notification) -> str:
    return (
        f"notification {row.id} {row.notifier}: status={row.status} attempts={row.attempts} "
        f"not_before={row.not_before} last_error={row.last_error!r}"
    )


def state(workers: Workers, *servers: MailCatcher) -> str:
    """What a failed wait shows: the rows, the mail that arrived, the workers' output."""
    lines = [describe(r) for r in rows()] or ["(no notifications)"]
    for server in servers:
        lines.append(f"{server!r}: {[m['Subject'] for m in server.messages]}")
    return "\n".join(lines) + "\n" + workers.tails()


def wait_for_mail(server: MailCatcher, count: int, workers: Workers) -> None:
    wait_until(
        lambda: len(server.messages) >= count,
        f"{count} message(s) at {server!r}",
        details=lambda: state(workers, server),
    )


def assert_stays_one(server: MailCatcher, workers: Workers) -> None:
    """Still exactly one message after the relay and the lease had every chance to resend."""
    time.sleep(SETTLE)
    assert len(server.messages) == 1, state(workers, server)


def resent_once_by_a_new_worker(server: MailCatcher, workers: Workers) -> Notification:
    """After a worker left a send unfinished (killed, or gave it back) while `server`
    held its DATA: the held message is dropped, a new worker sends the row exactly once.
    Returns the row as committed then."""
    server.release()  # the catcher drops a message whose client is gone
    time.sleep(0.5)
    assert server.messages == [], "the abandoned send was delivered"
    workers.start()
    wait_for_mail(server, 1, workers)
    assert_stays_one(server, workers)
    return one_row()


def sign_up(address: str = "bob@example.com", name: str = "Bob") -> int:
    """A committed change with one notification (signup_confirmation); its row id."""
    accounts.sign_up(address, name)
    [row] = [r for r in rows() if r.recipient_email == address]
    assert (row.notifier, row.status) == ("signup_confirmation", "pending")
    return row.id


# -- several sends, checked as a whole -----------------------------------------


def queued_ids() -> list[str]:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_connection()).job_ids


def message_id(row: Notification) -> str:
    return f"<{row.message_token}@{mail_domain()}>"


def listening(worker) -> None:
    """Until `worker` takes jobs: rows committed from now on are younger than the relay's
    grace when it takes them (an older one, taken at the moment its clock ticks, can be
    relayed a second job, which the claim then skips)."""
    wait_until(
        lambda: b"listening on" in worker.log.read_bytes(),
        f"{worker.name} to listen",
        details=worker.tail,
    )


def each_sent_once(mail_server: MailCatcher, workers: Workers, count: int) -> list[Notification]:
    """Once `count` messages arrived and the relay and leases had every chance to send
    one again: each row sent, one message each, with its own Message-ID. Returns the
    rows as committed then."""
    wait_for_mail(mail_server, count, workers)
    # The row is marked after the server's reply: wait for those commits too.
    wait_until(
        lambda: all(r.status == "sent" for r in rows()),
        "every row to be marked sent",
        details=lambda: state(workers, mail_server),
    )
    time.sleep(SETTLE)
    found = rows()
    messages = mail_server.messages
    assert len(found) == count
    assert len(messages) == count, state(workers, mail_server)
    for row in found:
        assert (row.status, row.last_error) == ("sent", None), describe(row)
    ids = Counter(m["Message-ID"] for m in messages)
    assert [mid for mid, n in ids.items() if n > 1] == [], "duplicated Message-IDs"
    assert set(ids) == {message_id(r) for r in found}
    recipients = Counter(m["To"].addresses[0].addr_spec for m in messages)
    assert recipients == Counter(r.recipient_email for r in found)
    for message in messages:  # each message is its own row's
        [row] = [r for r in found if r.recipient_email == message["To"].addresses[0].addr_spec]
        assert message["Message-ID"] == message_id(row), describe(row)
    assert queued_ids() == []
    return found
