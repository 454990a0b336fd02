"""Real worker processes for fault tests: `python worker.py` started as a subprocess
with the test's configuration, its output kept in a file so a failure can show it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

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
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key: str(value) for key, value in {**FAST, **overrides}.items()})
    return env


class WorkerProcess:
    """One `python worker.py`, its stdout and stderr in `log`."""

    def __init__(self, env: dict[str, str], log: Path, name: str = "worker") -> None:
        self.env = env
        self.log = log
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "worker.py", "--log-level", "INFO"],
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

    def start(self, **overrides: Any) -> WorkerProcess:
        name = f"worker-{len(self.started) + 1}"
        worker = WorkerProcess(
            worker_env(self.settings, **overrides), self.directory / f"{name}.log", name
        )
        self.started.append(worker)
        return worker.start()

    def stop_all(self) -> None:
        # The test is over: nothing needs a graceful shutdown, which costs a second each.
        for worker in self.started:
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
