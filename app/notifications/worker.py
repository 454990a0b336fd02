"""The worker: RQ's in-process SimpleWorker, running every job inside the context of
one app created at start-up, plus a clock thread for the periodic work.

No fork and no app import per job, and the SMTP connection (Mailer) outlives jobs.
The periodic work (the outbox relay and the loan clock) keeps the promises that do
not depend on Redis: both find what is due in the database.
"""

from __future__ import annotations

import logging
import threading
import uuid

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from app.notifications.mailer import mailer_for
from app.notifications.queue import redis_connection

log = logging.getLogger(__name__)

TICK_LOCK = "mooch:tick-lock"


class AppWorker(SimpleWorker):
    """Performs jobs in this process, each inside an app context of `app`."""

    def __init__(self, *args, app: Flask, **kwargs) -> None:
        self.app = app
        self.burst = False
        self.signalled = False
        super().__init__(*args, **kwargs)

    def request_stop(self, signum, frame) -> None:
        # RQ records a stop request only while busy; when idle it just raises out of the
        # loop. Remember it either way, so worker.py does not start working again.
        self.signalled = True
        super().request_stop(signum, frame)

    def work(self, burst: bool = False, **kwargs) -> bool:
        self.burst = burst
        return super().work(burst=burst, **kwargs)

    def subscribe(self) -> None:
        # A burst run drains the queue and quits; it needs no command channel, whose
        # listener thread would only add a one-second join on the way out.
        if not self.burst:
            super().subscribe()

    def execute_job(self, job, queue):
        with self.app.app_context():
            return super().execute_job(job, queue)

    @property
    def stop_requested(self) -> bool:
        """A signal asked this worker to stop (rather than it quitting on an error)."""
        return self.signalled or self._stop_requested

    def teardown(self) -> None:
        try:
            super().teardown()  # deregisters in Redis, which may be what just went away
        except RedisError as exc:
            log.warning("worker teardown without Redis: %s", exc)
        finally:
            mailer_for(self.app).close()


def build_worker(app: Flask, queues: list[str] | None = None, name: str | None = None) -> AppWorker:
    # A connection of its own: RQ blocks on it for minutes waiting for jobs and sets its
    # read timeout to match, which must not leak into the app's short-timeout one.
    connection = Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=app.config["REDIS_CONNECT_TIMEOUT"]
    )
    return AppWorker(
        queues or [app.config["RQ_QUEUE"]],
        connection=connection,
        serializer=JSONSerializer,
        app=app,
        name=name,
    )


def tick(app: Flask) -> dict[str, int]:
    """One round of periodic work: relay the outbox, run the loan clock."""
    from app.lending.service import run_clock
    from app.notifications.outbox import relay

    with app.app_context():
        fired = run_clock()
        relayed = relay()
    return {**fired, "relayed": relayed}


class Clock(threading.Thread):
    """Runs `tick` every WORKER_TICK_SECONDS while the worker lives.

    With several workers, a short Redis lock lets one of them tick per period; the
    work itself is idempotent, so the lock only saves effort. Without Redis, the
    clock still ticks: the loan clock and the relay's database side need no Redis.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__(name="mooch-clock", daemon=True)
        self.app = app
        self.interval = float(app.config["WORKER_TICK_SECONDS"])
        self.stopping = threading.Event()
        self.token = uuid.uuid4().hex

    def _may_tick(self) -> bool:
        try:
            ttl = max(int(self.interval * 1000 * 0.9), 1)
            return bool(redis_connection(self.app).set(TICK_LOCK, self.token, nx=True, px=ttl))
        except RedisError:
            return True

    def run(self) -> None:
        while not self.stopping.is_set():
            if self._may_tick():
                try:
                    done = tick(self.app)
                    if any(done.values()):
                        log.info("clock: %s", done)
                except Exception:  # keep ticking: the next round may succeed
                    log.exception("clock: tick failed")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
