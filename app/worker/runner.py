"""The worker: RQ's in-process SimpleWorker, running each job inside the context of
one app created at start-up, several at a time (WORKER_CONCURRENCY threads, each with
its own SMTP connection and database session).

No fork and no app import per job, and the SMTP connections outlive jobs. The main
thread takes a job from the queue whenever a thread is free (one RQ job per
notification, as ever); the claim in app.notifications.delivery keeps every send
exactly-once whatever the threads do. The periodic work runs in app.worker.clock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import psutil
from flask import Flask
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.exceptions import DequeueTimeout, InvalidJobOperation, StopRequested
from rq.executions import Execution, ExecutionRegistry
from rq.job import JobStatus
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.timeouts import BaseDeathPenalty
from rq.utils import now
from rq.worker import WorkerStatus

from app.jobqueue import QueueUnavailable, RQJobQueue, beat_ttl, connect
from app.notifications.mailer import abort_mailers, close_mailers
from app.worker.send_threads import SendThreads

log = logging.getLogger(__name__)

# RQ's default (420 s) keeps a crashed worker listed for up to 8 minutes; with 60 s an
# idle worker heartbeats every 45 s and a dead one is gone from Redis within 2 minutes.
WORKER_TTL = 60
# RQ writes a heartbeat (HSET and two EXPIREs) several times per job; one every this
# many seconds says as much. The liveness the relay trusts is app.jobqueue's beat.
HEARTBEAT_EVERY = 10.0
# After the grace period, how often the watchdog fails the sends in hand (a connection
# being opened when it first tries has no socket to shut down yet).
ABORT_EVERY = 0.2
# How long the main thread waits for a job at a time, so that it notices a limit
# reached by a sending thread.
DEQUEUE_WAIT = 5
SUSPENSION_CHECK_EVERY = 5.0


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / (1024 * 1024)


@dataclass
class Limits:
    """When this process has done enough: jobs done (across rebuilt RQ workers) and
    resident memory, checked after every job. `reached` says which, once."""

    max_jobs: int | None = None  # None or 0: no cap
    max_memory_mb: float | None = None
    jobs_done: int = 0
    jobs_taken: int = 0
    reached: str | None = None

    def may_take(self) -> bool:
        """Whether another job may be taken: with sends in flight, the job cap counts
        the jobs taken, not only those done."""
        with self._lock:
            if self.reached or (self.max_jobs and self.jobs_taken >= self.max_jobs):
                return False
            self.jobs_taken += 1
            return True

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def not_taken(self) -> None:
        """A job counted by may_take that this process did not get to do after all."""
        with self._lock:
            self.jobs_taken -= 1

    def after_job(self) -> str | None:
        with self._lock:
            self.jobs_done += 1
            if self.max_jobs and self.jobs_done >= self.max_jobs:
                self.reached = f"job cap reached ({self.jobs_done} jobs)"
            elif self.max_memory_mb:
                rss = rss_mb()
                if rss > self.max_memory_mb:
                    self.reached = (
                        f"memory cap reached ({rss:.0f} MB > {self.max_memory_mb:.0f} MB)"
                    )
            return self.reached


class NoDeathPenalty(BaseDeathPenalty):
    """No SIGALRM per job (signals belong to the main thread, and the jobs run in
    others): a delivery is bounded by MAIL_TIMEOUT and the database's own timeouts."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class AppWorker(SimpleWorker):
    """Performs up to `concurrency` jobs at once in threads of this process, each inside
    an app context of `app`; stops after `limits`, and on SIGTERM finishes the sends in
    hand or, after `grace` seconds, gives them back to the queue."""

    death_penalty_class = NoDeathPenalty

    def __init__(
        self,
        *args,
        app: Flask,
        limits: Limits | None = None,
        grace: float = 25.0,
        concurrency: int = 1,
        stopping: threading.Event | None = None,
        **kwargs,
    ) -> None:
        self.app = app
        self.stopping = stopping
        self.limits = limits or Limits()
        self.grace = grace
        self.concurrency = max(int(concurrency), 1)
        self.burst = False
        self.signalled = False
        self.giving_back = threading.Event()
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._waiting_for_job = False
        self._pool: SendThreads | None = None
        self._beating = threading.Event()
        self._suspension_checked = 0.0
        super().__init__(*args, **kwargs)
        self.hostname = app.config["WORKER_HOSTNAME"]  # RQ's own is socket.gethostname()
        self.log_result_lifespan = False

    # -- several sends at once --------------------------------------------------

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        # Take a job only when a thread is free to send it.
        while not self._slots.acquire(timeout=0.5):
            if self._stop_requested:
                raise StopRequested()
        self._waiting_for_job = True
        try:
            if self._stop_requested or not self.limits.may_take():
                self._stop_requested = True
                raise StopRequested()
            wait = None if timeout is None else min(timeout, DEQUEUE_WAIT)
            result = self._dequeue(wait)
        except BaseException:
            self._slots.release()
            raise
        finally:
            self._waiting_for_job = False
        if result is None:
            self._slots.release()
            self.limits.not_taken()
        return result

    def _dequeue(self, wait):
        def take(timeout):
            return self.queue_class.dequeue_any(
                self._ordered_queues,
                timeout,
                connection=self.connection,
                job_class=self.job_class,
                serializer=self.serializer,
                death_penalty_class=self.death_penalty_class,
            )

        # A job at once if there is one; the worker is "idle" in Redis only when it
        # is about to wait with nothing in hand (one write per lull, not two per job).
        result = take(None)
        if result is not None or wait is None:
            return result
        if self._in_flight == 0:
            self._set_idle()
        while True:
            try:
                return take(wait)
            except DequeueTimeout:
                self.heartbeat()
                if self._stop_requested:
                    raise StopRequested() from None

    def execute_job(self, job, queue) -> None:
        # The main thread marks the job started (one round trip) before a thread takes
        # it, so that it is never "queued" outside the queue while a thread spins up:
        # the relay would count such a job as a dead worker's.
        try:
            execution = self._take(job, queue)
        except BaseException:
            self._slots.release()
            self.limits.not_taken()  # the relay will send it
            raise
        with self._count_lock:
            self._in_flight += 1
            self._idle.clear()
        if self._pool is None:
            self._pool = SendThreads(self.concurrency)
        self._pool.submit(self._execute, job, queue, execution)

    def _take(self, job, queue) -> Execution:
        """RQ's prepare_execution and prepare_job_execution, in one pipeline."""
        with self.connection.pipeline() as pipe:
            ttl = self.get_heartbeat_ttl(job)
            execution = Execution.create(job, ttl, pipeline=pipe, worker_name=self.name)
            self.executions[execution.id] = execution
            if self.get_state() != WorkerStatus.BUSY:
                self.set_state(WorkerStatus.BUSY, pipeline=pipe)
            job.heartbeat(now(), ttl, pipeline=pipe)
            job.prepare_for_execution(self.name, pipeline=pipe)
            pipe.persist(job.key)
            if len(self.queues) == 1:
                pipe.lrem(queue.intermediate_queue_key, 1, job.id)
            pipe.execute()
        return execution

    def _execute(self, job, queue, execution) -> None:
        try:
            with self.app.app_context():
                self.perform_job(job, queue, execution)
                if self.giving_back.is_set():
                    self._requeue(job)
        except InvalidJobOperation as exc:
            # The row's lease ran out mid-send and the relay replaced the job; the
            # claim decides who sends, so only RQ's record of this one is lost.
            log.warning("worker %s: job %s was replaced while in hand: %s", self.name, job.id, exc)
        except Exception:  # RQ's bookkeeping lost Redis: the relay covers the row
            log.exception("worker %s: job %s could not be completed", self.name, job.id)
        finally:
            reached = self.limits.after_job()
            if reached and not self._stop_requested:
                log.info("worker %s: %s; stopping", self.name, reached)
                self._stop_requested = True
            with self._count_lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()
                    if self._waiting_for_job:  # the last send of a lull
                        self._set_idle()
            self._slots.release()

    # -- RQ's per-job bookkeeping, trimmed for our jobs ------------------------------
    # One job per notification, no dependents, no result kept (result_ttl 0): what RQ
    # does around a job in about 25 round trips takes four here (move it out of the
    # queue, fetch it, take it, finish it). Anything else falls back to RQ's own code.

    def perform_job(self, job, queue, execution) -> bool:
        """RQ's perform_job without its preparation (done by `_take`) and without a
        death penalty (signals belong to the main thread)."""
        try:
            job.started_at = now()
            return_value = job.perform()
            self._finalize_success(job, queue, execution, return_value)
        except:  # noqa: E722 - RQ's own contract: every failure is recorded
            self._finalize_failure(job, queue, execution, sys.exc_info())
            return False
        return True

    def _lean(self, job) -> bool:
        return job.get_result_ttl(self.default_result_ttl) == 0 and not job.repeats_left

    def handle_execution_ended(self, job, queue, heartbeat_ttl) -> None:
        if self._lean(job) and job.get_status(refresh=False) != JobStatus.FAILED:
            job.ended_at = now()  # the job is deleted next: no heartbeat to write
            return
        super().handle_execution_ended(job, queue, heartbeat_ttl)

    def handle_job_success(self, job, queue, started_job_registry, execution) -> None:
        if not self._lean(job):  # our jobs have no dependents: nothing to watch
            super().handle_job_success(job, queue, started_job_registry, execution)
            return
        # What job.cleanup(0) deletes, without first reading back the job's status and
        # its executions: this worker holds the one execution, and knows the status.
        with self.connection.pipeline() as pipe:
            self.increment_successful_job_count(pipeline=pipe)
            self.increment_total_working_time(job.ended_at - job.started_at, pipe)
            self.cleanup_execution(job, pipeline=pipe, execution=execution)
            pipe.delete(
                job.key,
                job.dependents_key,
                job.dependencies_key,
                Result.get_key(job.id),
                ExecutionRegistry(job_id=job.id, connection=self.connection).key,
            )
            job._status = JobStatus.FINISHED
            pipe.execute()

    def check_for_suspension(self, burst: bool) -> None:
        # `rq suspend` is honoured within SUSPENSION_CHECK_EVERY, not at every job.
        if time.monotonic() - self._suspension_checked < SUSPENSION_CHECK_EVERY:
            return
        self._suspension_checked = time.monotonic()
        super().check_for_suspension(burst)

    def _set_idle(self) -> None:
        if self.get_state() != WorkerStatus.IDLE:
            with contextlib.suppress(RedisError):
                self.set_state(WorkerStatus.IDLE)

    def heartbeat(self, timeout=None, pipeline=None):
        if (
            pipeline is None
            and timeout is None
            and self.last_heartbeat is not None
            and (now() - self.last_heartbeat).total_seconds() < HEARTBEAT_EVERY
        ):
            return
        super().heartbeat(timeout, pipeline)

    # -- liveness -----------------------------------------------------------------

    def _beats(self) -> RQJobQueue:
        return RQJobQueue(self.connection, self.queue_names()[0], beat_ttl=beat_ttl(self.app))

    def _beat(self, queue: RQJobQueue) -> None:
        try:
            queue.beat(self.name, self.hostname)
        except QueueUnavailable as exc:
            log.warning("worker %s: could not beat: %s", self.name, exc)

    def _beat_forever(self, queue: RQJobQueue) -> None:
        while not self._beating.wait(self.app.config["WORKER_BEAT_SECONDS"]):
            self._beat(queue)

    def _stop_beating(self) -> None:
        self._beating.set()
        with contextlib.suppress(QueueUnavailable):
            self._beats().forget_beat(self.name, self.hostname)

    # -- stopping -----------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()
        # A SIGTERM or SIGINT that came before RQ took the handlers over (while it
        # registered the worker) went to worker.py's handler, which only sets
        # `stopping`: without this, RQ would wait for jobs until the next signal.
        if self.stopping is not None and self.stopping.is_set():
            self.signalled = True
            self._stop_requested = True

    def request_stop(self, signum, frame) -> None:
        # RQ records a stop request only while busy; when idle it just raises out of the
        # loop. Remember it either way, so worker.py does not start working again.
        self.signalled = True
        super().request_stop(signum, frame)

    def _shutdown(self) -> None:
        self._stop_requested = True
        self.set_shutdown_requested_date()
        if self._in_flight:
            log.info(
                "worker %s: finishing the sends in hand (%d, up to %.0fs), then stopping",
                self.name,
                self._in_flight,
                self.grace,
            )
            self._start_watchdog(self.grace)
        if self._waiting_for_job:
            raise StopRequested()

    def request_force_stop(self, signum, frame) -> None:
        # A second signal (a process manager and a supervisor may both send one) does
        # not abandon the sends in the middle, as RQ's cold shutdown would: within a
        # second it is a duplicate; later it means "do not wait": give them back now.
        since = now() - (self._shutdown_requested_date or now())
        if since < timedelta(seconds=1):
            return
        log.warning("worker %s: second signal, giving the sends in hand back now", self.name)
        self._start_watchdog(0.0)
        if self._waiting_for_job:
            raise StopRequested()

    def set_shutdown_requested_date(self) -> None:
        # Called from the signal handler, in the middle of a job: a Redis error here
        # would be raised inside the delivery. The date is only informational.
        try:
            super().set_shutdown_requested_date()
        except RedisError as exc:
            log.warning("worker %s: could not record the shutdown in Redis: %s", self.name, exc)

    def _start_watchdog(self, grace: float) -> None:
        threading.Thread(
            target=self._watchdog, name="mooch-grace", args=(grace,), daemon=True
        ).start()

    def _watchdog(self, grace: float) -> None:
        """Runs beside the sends: after `grace` seconds, if any is still in hand, fail
        them so that the deliveries give their rows back."""
        if self._idle.wait(grace):
            return
        if not self.giving_back.is_set():
            log.warning(
                "worker %s: grace period of %.0fs ran out; giving %d send(s) back",
                self.name,
                grace,
                self._in_flight,
            )
        self.giving_back.set()
        while not self._idle.is_set():
            abort_mailers(self.app)
            self._idle.wait(ABORT_EVERY)

    def work(self, burst: bool = False, logging_level: str = "INFO", **kwargs) -> bool:
        self.burst = burst
        # RQ logs three lines per job at INFO; the delivery logs the one that matters.
        quiet = "WARNING" if logging_level == "INFO" else logging_level
        # The first beat before the first job: a job taken by a worker that has not yet
        # beaten would look like a dead worker's to the relay.
        beats = self._beats()
        self._beat(beats)
        beater = threading.Thread(
            target=self._beat_forever, args=(beats,), name="mooch-beat", daemon=True
        )
        beater.start()
        log.info(
            "worker %s: listening on %s, %d send(s) at a time",
            self.name,
            ", ".join(self.queue_names()),
            self.concurrency,
        )
        try:
            return super().work(burst=burst, logging_level=quiet, **kwargs)
        finally:
            self._stop_beating()

    def subscribe(self) -> None:
        # A burst run drains the queue and quits; it needs no command channel, whose
        # listener thread would only add a one-second join on the way out.
        if not self.burst:
            super().subscribe()

    def _requeue(self, job) -> None:
        """A fresh job for a notification whose send was given back (RQ has finished
        with the old one). If Redis is unavailable, the relay enqueues it later."""
        from app.extensions import db
        from app.models import Notification
        from app.notifications.outbox import PENDING, enqueue

        notification_id = job.args[0] if job.args else None
        row = db.session.get(Notification, notification_id) if notification_id else None
        pending = row is not None and row.status == PENDING
        db.session.rollback()  # hold no transaction while talking to Redis
        if pending and enqueue([notification_id], once=True):
            log.info("worker %s: notification %s is back in the queue", self.name, notification_id)

    @property
    def stop_requested(self) -> bool:
        """A signal asked this worker to stop (rather than it quitting on an error)."""
        return self.signalled or self._stop_requested

    def teardown(self) -> None:
        try:
            if self._pool is not None:
                self._pool.shutdown()  # the watchdog bounds how long
            super().teardown()  # deregisters in Redis, which may be what just went away
        except RedisError as exc:
            log.warning("worker teardown without Redis: %s", exc)
        finally:
            close_mailers(self.app)


def worker_name(host: str) -> str:
    """host.pid.random: readable in `worker.py status`, unique across rebuilds."""
    return f"{host}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def build_worker(
    app: Flask,
    queues: list[str] | None = None,
    name: str | None = None,
    limits: Limits | None = None,
    grace: float | None = None,
    concurrency: int | None = None,
    stopping: threading.Event | None = None,
) -> AppWorker:
    # A connection of its own: RQ blocks on it for minutes waiting for jobs and sets its
    # read timeout to match, which must not leak into the app's short-timeout one.
    connection = connect(app, socket_connect_timeout=app.config["REDIS_CONNECT_TIMEOUT"])
    return AppWorker(
        queues or [app.config["RQ_QUEUE"]],
        connection=connection,
        serializer=JSONSerializer,
        app=app,
        name=name or worker_name(app.config["WORKER_HOSTNAME"]),
        worker_ttl=WORKER_TTL,
        limits=limits,
        grace=app.config["WORKER_SHUTDOWN_GRACE"] if grace is None else grace,
        concurrency=app.config["WORKER_CONCURRENCY"] if concurrency is None else concurrency,
        stopping=stopping,
    )
