"""The worker: RQ's in-process SimpleWorker, running every job inside the context of
one app created at start-up, plus a clock thread for the periodic work.

No fork and no app import per job, and the SMTP connection (Mailer) outlives jobs.
The periodic work (the outbox relay and the loan clock) keeps the promises that do
not depend on Redis: both find what is due in the database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import psutil
from flask import Flask
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import WorkerStatus

from app.notifications.mailer import mailer_for
from app.notifications.queue import connect, redis_connection

log = logging.getLogger(__name__)

TICK_LOCK = "mooch:tick-lock"
# RQ's default (420 s) keeps a crashed worker listed for up to 8 minutes; with 60 s an
# idle worker heartbeats every 45 s and a dead one is gone from Redis within 2 minutes.
WORKER_TTL = 60
# After the grace period, how often the watchdog fails the send in hand (a connection
# being opened when it first tries has no socket to shut down yet).
ABORT_EVERY = 0.2


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / (1024 * 1024)


@dataclass
class Limits:
    """When this process has done enough: jobs done (across rebuilt RQ workers) and
    resident memory, checked after every job. `reached` says which, once."""

    max_jobs: int | None = None  # None or 0: no cap
    max_memory_mb: float | None = None
    jobs_done: int = 0
    reached: str | None = None

    def after_job(self) -> str | None:
        self.jobs_done += 1
        if self.max_jobs and self.jobs_done >= self.max_jobs:
            self.reached = f"job cap reached ({self.jobs_done} jobs)"
        elif self.max_memory_mb:
            rss = rss_mb()
            if rss > self.max_memory_mb:
                self.reached = f"memory cap reached ({rss:.0f} MB > {self.max_memory_mb:.0f} MB)"
        return self.reached


class AppWorker(SimpleWorker):
    """Performs jobs in this process, each inside an app context of `app`; stops after
    `limits`, and on SIGTERM finishes the job in hand or, after `grace` seconds, gives
    it back to the queue."""

    def __init__(
        self, *args, app: Flask, limits: Limits | None = None, grace: float = 25.0, **kwargs
    ) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.grace = grace
        self.burst = False
        self.signalled = False
        self.giving_back = threading.Event()
        super().__init__(*args, **kwargs)

    def request_stop(self, signum, frame) -> None:
        # RQ records a stop request only while busy; when idle it just raises out of the
        # loop. Remember it either way, so worker.py does not start working again.
        self.signalled = True
        if self.get_state() == WorkerStatus.BUSY:
            log.info(
                "worker %s: finishing the job in hand (up to %.0fs), then stopping",
                self.name,
                self.grace,
            )
            threading.Thread(
                target=self._watchdog, name="mooch-grace", args=(self.grace,), daemon=True
            ).start()
        super().request_stop(signum, frame)

    def request_force_stop(self, signum, frame) -> None:
        # A second signal (a process manager and a supervisor may both send one) does
        # not abandon the job in the middle, as RQ's cold shutdown would: within a
        # second it is a duplicate; later it means "do not wait": give the job back now.
        since = now() - (self._shutdown_requested_date or now())
        if since < timedelta(seconds=1):
            return
        log.warning("worker %s: second signal, giving the job in hand back now", self.name)
        threading.Thread(
            target=self._watchdog, name="mooch-grace", args=(0.0,), daemon=True
        ).start()

    def set_shutdown_requested_date(self) -> None:
        # Called from the signal handler, in the middle of the job: a Redis error here
        # would be raised inside the delivery. The date is only informational.
        try:
            super().set_shutdown_requested_date()
        except RedisError as exc:
            log.warning("worker %s: could not record the shutdown in Redis: %s", self.name, exc)

    def _watchdog(self, grace: float) -> None:
        """Runs beside the job: after `grace` seconds, if the job is still in hand,
        fail its send so that the delivery gives the row back."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if self.get_state() != WorkerStatus.BUSY:
                return
            time.sleep(min(ABORT_EVERY, max(deadline - time.monotonic(), 0)))
        if self.get_state() != WorkerStatus.BUSY:
            return
        if not self.giving_back.is_set():
            log.warning(
                "worker %s: grace period of %.0fs ran out; giving the job in hand back",
                self.name,
                grace,
            )
        self.giving_back.set()
        mailer = mailer_for(self.app)
        while self.get_state() == WorkerStatus.BUSY:
            mailer.abort()
            time.sleep(ABORT_EVERY)

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
            result = super().execute_job(job, queue)
            if self.giving_back.is_set():
                self._requeue(job)
        reached = self.limits.after_job()
        if reached and not self._stop_requested:
            log.info("worker %s: %s; stopping after this job", self.name, reached)
            self._stop_requested = True
        return result

    def _requeue(self, job) -> None:
        """A fresh job for a notification whose send was given back (RQ has finished
        with the old one). If Redis is unavailable, the relay enqueues it later."""
        from app.extensions import db
        from app.models import Notification
        from app.notifications.outbox import enqueue

        notification_id = job.args[0] if job.args else None
        row = db.session.get(Notification, notification_id) if notification_id else None
        pending = row is not None and row.status == "pending"
        db.session.rollback()  # hold no transaction while talking to Redis
        if pending and enqueue([notification_id]):
            log.info("worker %s: notification %s is back in the queue", self.name, notification_id)

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


def worker_name() -> str:
    """host.pid.random: readable in `worker.py status`, unique across rebuilds."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def build_worker(
    app: Flask,
    queues: list[str] | None = None,
    name: str | None = None,
    limits: Limits | None = None,
    grace: float | None = None,
) -> AppWorker:
    # A connection of its own: RQ blocks on it for minutes waiting for jobs and sets its
    # read timeout to match, which must not leak into the app's short-timeout one.
    connection = connect(app, socket_connect_timeout=app.config["REDIS_CONNECT_TIMEOUT"])
    return AppWorker(
        queues or [app.config["RQ_QUEUE"]],
        connection=connection,
        serializer=JSONSerializer,
        app=app,
        name=name or worker_name(),
        worker_ttl=WORKER_TTL,
        limits=limits,
        grace=app.config["WORKER_SHUTDOWN_GRACE"] if grace is None else grace,
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
