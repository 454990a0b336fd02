"""The job queue: the one module that talks to RQ, and to Redis about jobs.

The outbox, the relay, retries, `worker.py status` and the admin pages ask a
`JobQueue` (`job_queue()`) a handful of questions and never see RQ:

- `enqueue(ids)`: one job per notification id, in one round trip; `once=True` leaves
  an id that has a job alone, atomically (the relay and a worker giving a send back
  may both enqueue the same row at the same moment);
- `live(ids)`: of these ids, which have a job that will still run, and how: waiting
  in the queue, or taken by a worker that is alive;
- `discard(ids)`: drop the leftover jobs of dead or failed attempts, so a new job can
  take the id (one job that cannot be dropped does not stop the others);
- `failed(limit)`, `requeue_failed(job_id=None)`: RQ's failed jobs;
- `snapshot()`: workers, their current jobs and the queues' counts, for the status;
  `queued(limit)`: the head of the queue.

`RQJobQueue` is the real one (RQ 3.0 on Redis, read through RQ's public API).
`MemoryJobQueue` is its twin in memory for the fast test layer: the same answers,
jobs run by `run_all()`; the process and fault tests use the real one.

A worker is alive while it beats: `RQJobQueue.beat(name, host)` (every
WORKER_BEAT_SECONDS from the worker) keeps a short-lived key; a worker killed with
SIGKILL stops beating, and BEATS_MISSED beats later the jobs it held count as gone,
whatever RQ's registries say. The same beats, per host, tell `hosts()` which machines
run workers, which stopped them cleanly and which died.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from flask import Flask, current_app
from redis import Redis
from redis.connection import parse_url
from redis.exceptions import RedisError
from redis.sentinel import Sentinel
from rq import Queue, Worker
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

JOB_FUNCTION = "app.notifications.jobs.deliver_notification"  # stored in every job
BEAT_SECONDS = 5.0  # WORKER_BEAT_SECONDS
BEATS_MISSED = 3  # a worker silent for this many beats is gone
BEAT_TTL = int(BEAT_SECONDS * BEATS_MISSED)
BEAT_KEY = "mooch:worker-beat:{}"
# Each machine's workers (a host name, WORKER_HOSTNAME): when one last beat, when its
# last worker stopped cleanly, and who beats there now. A machine whose beats stopped
# with no clean stop died; both are kept for HOST_KEPT seconds after the last beat.
HOST_BEATS = "mooch:host-beats"
HOST_STOPS = "mooch:host-stops"
HOST_WORKERS = "mooch:host-workers:{}"
HOST_KEPT = 24 * 3600
# A live worker starts a job within milliseconds of moving it out of the queue; one
# still not started this long after being seen so belongs to a worker that died.
TAKE_PATIENCE = 0.25

Liveness = Literal["waiting", "taken"]


class QueueUnavailable(Exception):
    """The queue's server cannot be reached; what was asked did not happen."""


@dataclass(frozen=True)
class FailedJob:
    id: str
    description: str
    ended_at: datetime | None = None
    error: str = ""


@dataclass
class Snapshot:
    """What the queue knows, as plain data (JSON-ready)."""

    workers: list[dict[str, Any]] = field(default_factory=list)
    queues: list[dict[str, Any]] = field(default_factory=list)
    queued: list[tuple[str, str]] = field(default_factory=list)  # (id, description), head first
    hosts: list[dict[str, Any]] = field(default_factory=list)  # RQJobQueue.hosts


def job_id(notification_id: int) -> str:
    return f"notification-{notification_id}"


def notification_id(job_id_: str) -> int | None:
    number = job_id_.removeprefix("notification-")
    return int(number) if number.isdigit() else None


# -- the real one: RQ ------------------------------------------------------------------


class RQJobQueue:
    def __init__(self, connection: Redis, name: str, beat_ttl: float = BEAT_TTL) -> None:
        self.connection = connection
        self.name = name
        self.beat_ttl = max(math.ceil(beat_ttl), 1)
        self.queue = Queue(name, connection=connection, serializer=JSONSerializer)

    def ping(self) -> None:
        with _unavailable():
            self.connection.ping()

    def enqueue(self, ids: Sequence[int], once: bool = False) -> None:
        if once:
            self._enqueue_once(ids)
            return
        with _unavailable():
            self.queue.enqueue_many(
                [
                    Queue.prepare_data(
                        JOB_FUNCTION,
                        args=(nid,),
                        job_id=job_id(nid),
                        result_ttl=0,
                        description=f"notification {nid}",
                    )
                    for nid in ids
                ]
            )

    def _enqueue_once(self, ids: Sequence[int]) -> None:
        """RQ's unique enqueue (check, save and push in one Lua script), a round trip
        per id: an id whose job exists already, enqueued by someone else a moment
        ago, keeps that one job."""
        for nid in ids:
            with _unavailable(), contextlib.suppress(DuplicateJobError):
                self.queue.enqueue_call(
                    JOB_FUNCTION,
                    args=(nid,),
                    job_id=job_id(nid),
                    result_ttl=0,
                    description=f"notification {nid}",
                    unique=True,
                )

    def live(self, ids: Sequence[int]) -> dict[int, Liveness]:
        if not ids:
            return {}
        found, moving = self._look(ids)
        if moving:
            # Out of the queue and not started: a dead worker's leftover, or a live
            # worker's job between its dequeue and its start. Look again a moment later.
            time.sleep(TAKE_PATIENCE)
            found.update(self._look(moving)[0])
        return found

    def _look(self, ids: Sequence[int]) -> tuple[dict[int, Liveness], list[int]]:
        """The ids whose job will run, and those whose job is queued but out of the
        queue (RQ's intermediate list)."""
        with _unavailable():
            jobs = self._fetch([job_id(n) for n in ids])
            with self.connection.pipeline(transaction=False) as pipe:
                for nid, job in zip(ids, jobs, strict=True):
                    status = job.get_status(refresh=False) if job else None
                    if status == JobStatus.QUEUED:
                        pipe.lpos(self.queue.key, job_id(nid))
                    elif status == JobStatus.STARTED:
                        pipe.exists(BEAT_KEY.format(job.worker_name or "?"))
                answers = iter(pipe.execute())
        found: dict[int, Liveness] = {}
        moving: list[int] = []
        for nid, job in zip(ids, jobs, strict=True):
            status = job.get_status(refresh=False) if job else None
            if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
                found[nid] = "waiting"
            elif status == JobStatus.QUEUED:
                if next(answers) is not None:
                    found[nid] = "waiting"
                else:
                    moving.append(nid)
            elif status == JobStatus.STARTED and next(answers):
                found[nid] = "taken"
        return found, moving

    def _fetch(self, job_ids: list[str]) -> list[Job | None]:
        """The jobs, None for one that is gone or half-gone (RQ can leave a hash with
        only a late heartbeat in it)."""
        try:
            return Job.fetch_many(job_ids, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            found: list[Job | None] = []
            for jid in job_ids:
                try:
                    found.append(
                        Job.fetch(jid, connection=self.connection, serializer=JSONSerializer)
                    )
                except NoSuchJobError:
                    found.append(None)
            return found

    def discard(self, ids: Iterable[int]) -> None:
        """Delete each id's job; one that is gone, half-gone or being finished by a
        worker right now is skipped (what is left of it is removed), never the round."""
        for nid in ids:
            jid = job_id(nid)
            try:
                Job.fetch(jid, connection=self.connection, serializer=JSONSerializer).delete()
            except (NoSuchJobError, InvalidJobOperation):
                with _unavailable():
                    self.connection.delete(Job.key_for(jid))
            except RedisError as exc:
                raise QueueUnavailable(str(exc)) from exc

    def beat(self, worker_name: str, host: str | None = None) -> None:
        with _unavailable(), self.connection.pipeline(transaction=False) as pipe:
            pipe.set(BEAT_KEY.format(worker_name), 1, ex=self.beat_ttl)
            if host:
                pipe.hset(HOST_BEATS, host, time.time())
                pipe.hdel(HOST_STOPS, host)
                pipe.sadd(HOST_WORKERS.format(host), worker_name)
            pipe.execute()

    def forget_beat(self, worker_name: str, host: str | None = None) -> None:
        """A worker stopping cleanly; the last one of its host records the host's
        clean stop (workers that died there without one are not waited for)."""
        with _unavailable():
            self.connection.delete(BEAT_KEY.format(worker_name))
            if not host:
                return
            members = HOST_WORKERS.format(host)
            self.connection.srem(members, worker_name)
            others = sorted(self.connection.smembers(members))
            with self.connection.pipeline(transaction=False) as pipe:
                for other in others:
                    pipe.exists(BEAT_KEY.format(other.decode()))
                alive = pipe.execute()
            dead = [other for other, beating in zip(others, alive, strict=True) if not beating]
            if dead:
                self.connection.srem(members, *dead)
            if len(dead) == len(others):
                self.connection.hset(HOST_STOPS, host, time.time())

    def hosts(self) -> list[dict[str, Any]]:
        """Every machine that ran workers in the last HOST_KEPT seconds: `running`
        (a worker beat within the beat TTL), `stopped` (its last worker stopped
        cleanly) or `died` (its beats stopped without a clean stop)."""
        with _unavailable():
            beats = self.connection.hgetall(HOST_BEATS)
            stops = self.connection.hgetall(HOST_STOPS)
        return _host_entries(beats, stops, time.time(), self.beat_ttl)

    def failed(self, limit: int) -> tuple[list[FailedJob], int]:
        with _unavailable():
            registry = FailedJobRegistry(queue=self.queue)
            ids = registry.get_job_ids(0, limit - 1, desc=True)
            jobs = Job.fetch_many(ids, connection=self.connection, serializer=JSONSerializer)
            found = []
            for jid, job in zip(ids, jobs, strict=True):
                if job is None:
                    found.append(FailedJob(jid, "(job data gone)"))
                    continue
                result = job.latest_result()
                error = result.exc_string if result is not None and result.exc_string else ""
                found.append(FailedJob(jid, job.description or "", job.ended_at, _last_line(error)))
            return found, registry.count

    def requeue_failed(self, job_id_: str | None = None) -> int:
        """Put one failed job (or all) back in the queue; how many went. Raises
        LookupError for a job that is not (or no longer) among the failed ones."""
        with _unavailable():
            registry = FailedJobRegistry(queue=self.queue)
            done = 0
            for jid in [job_id_] if job_id_ else registry.get_job_ids():
                try:
                    registry.requeue(jid)
                except NoSuchJobError:
                    registry.remove(jid)  # its data expired: only the registry's entry was left
                    if job_id_:
                        raise LookupError(
                            f"Job {jid} no longer exists; it is off the list."
                        ) from None
                    continue
                except InvalidJobOperation:
                    if job_id_:
                        raise LookupError(f"Job {jid} is not among the failed jobs.") from None
                    continue  # requeued meanwhile
                done += 1
            return done

    def snapshot(self, head: int = 0) -> Snapshot:
        now = datetime.now(UTC)
        with _unavailable():
            snap = Snapshot(hosts=self.hosts())
            for worker in sorted(Worker.all(connection=self.connection), key=lambda w: w.name):
                snap.workers.append(_worker_entry(worker, now))
            with self.connection.pipeline(transaction=False) as pipe:
                for entry in snap.workers:
                    pipe.exists(BEAT_KEY.format(entry["name"]))
                # Our own beat, gone BEATS_MISSED beats after a SIGKILL (RQ's
                # registration outlives it by minutes).
                for entry, beating in zip(snap.workers, pipe.execute(), strict=True):
                    entry["beating"] = bool(beating)
            names = sorted({q.name for q in Queue.all(connection=self.connection)} | {self.name})
            for name in names:
                queue = Queue(name, connection=self.connection, serializer=JSONSerializer)
                entry = {"name": name, "queued": queue.count}
                for label, registry in REGISTRIES:
                    entry[label] = registry(queue=queue).count
                snap.queues.append(entry)
            if head:
                snap.queued = self.queued(head)
            return snap

    def queued(self, limit: int) -> list[tuple[str, str]]:
        """The head of the queue: (job id, description), next first."""
        with _unavailable():
            ids = self.queue.get_job_ids(0, limit - 1)
            jobs = Job.fetch_many(ids, connection=self.connection, serializer=JSONSerializer)
            return [
                (jid, job.description if job is not None else "(job data gone)")
                for jid, job in zip(ids, jobs, strict=True)
            ]

    def queued_count(self) -> int:
        with _unavailable():
            return self.queue.count


def _host_entries(
    beats: dict[bytes, bytes], stops: dict[bytes, bytes], now: float, beat_ttl: float
) -> list[dict[str, Any]]:
    entries = []
    for raw, beat in beats.items():
        host, last_beat = raw.decode(), float(beat)
        if now - last_beat > HOST_KEPT:
            continue
        stopped = stops.get(raw)
        if now - last_beat <= beat_ttl:
            state = "running"
        elif stopped is not None:
            state = "stopped"
        else:
            state = "died"
        entries.append(
            {
                "host": host,
                "state": state,
                "last_beat_age_seconds": round(max(now - last_beat, 0.0), 3),
                "stopped_age_seconds": round(max(now - float(stopped), 0.0), 3)
                if stopped is not None and state == "stopped"
                else None,
            }
        )
    return sorted(entries, key=lambda e: e["host"])


REGISTRIES = (
    ("started", StartedJobRegistry),
    ("failed", FailedJobRegistry),
    ("scheduled", ScheduledJobRegistry),
    ("deferred", DeferredJobRegistry),
    ("finished", FinishedJobRegistry),
)


def _worker_entry(worker: Worker, now: datetime) -> dict[str, Any]:
    executions = sorted(
        worker.get_current_executions(refresh=True), key=lambda e: e.created_at or now
    )
    jobs = Job.fetch_many(
        [e.job_id for e in executions], connection=worker.connection, serializer=JSONSerializer
    )
    sends = [
        {
            "job": execution.job_id,
            "description": job.description if job is not None else None,
            "seconds": _seconds(now, (job.started_at if job else None) or execution.created_at),
        }
        for execution, job in zip(executions, jobs, strict=True)
    ]
    heartbeat = worker.last_heartbeat
    return {
        "name": worker.name,
        "hostname": worker.hostname or None,
        "pid": worker.pid,
        "state": str(getattr(worker.get_state(), "value", worker.get_state())),
        "queues": worker.queue_names(),
        "current_jobs": sends,
        "current_job": sends[0]["job"] if sends else None,
        "current_job_description": sends[0]["description"] if sends else None,
        "job_seconds": sends[0]["seconds"] if sends else None,
        "successful_jobs": worker.successful_job_count or 0,
        "failed_jobs": worker.failed_job_count or 0,
        "last_heartbeat": _iso(heartbeat),
        "heartbeat_age_seconds": _seconds(now, heartbeat),
        "birth": _iso(worker.birth_date),
    }


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def _seconds(now: datetime, then: datetime | None) -> float | None:
    # Another machine's clock wrote `then`; a small skew must not read as negative.
    if then is None:
        return None
    then = then if then.tzinfo else then.replace(tzinfo=UTC)
    return round(max((now - then).total_seconds(), 0.0), 3)


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class _unavailable:
    """Turns a Redis error into QueueUnavailable."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is not None and isinstance(exc, RedisError):
            raise QueueUnavailable(str(exc)) from exc
        return False


# -- the twin: in memory -----------------------------------------------------------------


class MemoryJobQueue:
    """The same answers as RQJobQueue from a dict and a list, for the fast tests.
    `run_all(perform)` runs the waiting jobs in order, as a burst worker would."""

    def __init__(self, name: str = "mail") -> None:
        self.name = name
        self.waiting: list[int] = []
        self.taken: set[int] = set()
        self.failures: dict[str, FailedJob] = {}
        self.host_beats: dict[str, float] = {}
        self.host_stops: dict[str, float] = {}
        self.host_workers: dict[str, set[str]] = {}
        self.down = False  # set by a test: every call raises QueueUnavailable

    def _check(self) -> None:
        if self.down:
            raise QueueUnavailable("the in-memory queue is marked down")

    def ping(self) -> None:
        self._check()

    def enqueue(self, ids: Sequence[int], once: bool = False) -> None:
        self._check()
        for nid in ids:
            if nid not in self.waiting and not (once and nid in self.taken):
                self.waiting.append(nid)

    def live(self, ids: Sequence[int]) -> dict[int, Liveness]:
        self._check()
        found: dict[int, Liveness] = {}
        for nid in ids:
            if nid in self.waiting:
                found[nid] = "waiting"
            elif nid in self.taken:
                found[nid] = "taken"
        return found

    def discard(self, ids: Iterable[int]) -> None:
        self._check()
        for nid in ids:
            self.taken.discard(nid)
            if nid in self.waiting:
                self.waiting.remove(nid)
            self.failures.pop(job_id(nid), None)

    def beat(self, worker_name: str, host: str | None = None) -> None:
        self._check()
        if host:
            self.host_beats[host] = time.time()
            self.host_stops.pop(host, None)
            self.host_workers.setdefault(host, set()).add(worker_name)

    def forget_beat(self, worker_name: str, host: str | None = None) -> None:
        self._check()
        if host:
            members = self.host_workers.setdefault(host, set())
            members.discard(worker_name)
            if not members:
                self.host_stops[host] = time.time()

    def hosts(self) -> list[dict[str, Any]]:
        self._check()
        return _host_entries(
            {h.encode(): str(t).encode() for h, t in self.host_beats.items()},
            {h.encode(): str(t).encode() for h, t in self.host_stops.items()},
            time.time(),
            BEAT_TTL,
        )

    def failed(self, limit: int) -> tuple[list[FailedJob], int]:
        self._check()
        return list(self.failures.values())[:limit], len(self.failures)

    def requeue_failed(self, job_id_: str | None = None) -> int:
        self._check()
        ids = [job_id_] if job_id_ else list(self.failures)
        done = 0
        for jid in ids:
            if jid not in self.failures:
                raise LookupError(f"Job {jid} is not among the failed jobs.")
            del self.failures[jid]
            nid = notification_id(jid)
            if nid is not None:
                self.enqueue([nid])
            done += 1
        return done

    def snapshot(self, head: int = 0) -> Snapshot:
        self._check()
        return Snapshot(
            hosts=self.hosts(),
            queues=[
                {
                    "name": self.name,
                    "queued": len(self.waiting),
                    "started": len(self.taken),
                    "failed": len(self.failures),
                    "scheduled": 0,
                    "deferred": 0,
                    "finished": 0,
                }
            ],
            queued=self.queued(head) if head else [],
        )

    def queued(self, limit: int) -> list[tuple[str, str]]:
        self._check()
        return [(job_id(n), f"notification {n}") for n in self.waiting[:limit]]

    def queued_count(self) -> int:
        self._check()
        return len(self.waiting)

    def run_all(self, perform: Callable[[int], object]) -> int:
        """Run every waiting job (and any it enqueues) with `perform(id)`; a job that
        raises is kept among the failed ones, as RQ would. Returns how many ran."""
        ran = 0
        while self.waiting:
            nid = self.waiting.pop(0)
            self.taken.add(nid)
            try:
                perform(nid)
            except Exception as exc:
                self.failures[job_id(nid)] = FailedJob(
                    job_id(nid), f"notification {nid}", error=repr(exc)
                )
            finally:
                self.taken.discard(nid)
            ran += 1
        return ran


JobQueue = RQJobQueue | MemoryJobQueue


# -- the app's queue -----------------------------------------------------------------------


def connect(app: Flask, **options) -> Redis:
    """A new client for REDIS_URL. Hosted Redis over TLS (rediss://) may present a
    certificate no CA signed (Heroku Redis does): REDIS_TLS_VERIFY=false accepts it.

    With REDIS_SENTINELS, a client of whichever server the sentinels name master of
    REDIS_SENTINEL_MASTER now (redis-py's Sentinel): after a failover its next
    connection goes to the promoted replica. REDIS_URL then gives only the database
    number, user name and password."""
    url = app.config["REDIS_URL"]
    if url.startswith("rediss://") and not app.config["REDIS_TLS_VERIFY"]:
        options.setdefault("ssl_cert_reqs", "none")
    sentinels = app.config.get("REDIS_SENTINELS")
    if not sentinels:
        return Redis.from_url(url, **options)
    return _sentinel(app).master_for(
        app.config["REDIS_SENTINEL_MASTER"], redis_class=Redis, **_in_url(url), **options
    )


def _sentinel(app: Flask) -> Sentinel:
    # Bounded like every other Redis call: a sentinel that is down costs a connect
    # timeout, and the next one in the list is asked.
    timeouts = {
        "socket_connect_timeout": app.config["REDIS_CONNECT_TIMEOUT"],
        "socket_timeout": app.config["REDIS_SOCKET_TIMEOUT"],
    }
    password = app.config.get("REDIS_SENTINEL_PASSWORD")
    return Sentinel(
        app.config["REDIS_SENTINELS"],
        sentinel_kwargs={**timeouts, **({"password": password} if password else {})},
    )


def _in_url(url: str) -> dict[str, Any]:
    """What a Sentinel-found master still takes from REDIS_URL."""
    parsed = parse_url(url)
    found = {key: parsed[key] for key in ("db", "username", "password") if parsed.get(key)}
    if url.startswith("rediss://"):
        found["ssl"] = True  # redis-py's Sentinel then makes TLS connections
    return found


def init_app(app: Flask) -> None:
    """JOB_QUEUE "rq" (the default) or "memory" (the fast tests' twin)."""
    app.extensions["redis"] = connect(
        app,
        socket_connect_timeout=app.config["REDIS_CONNECT_TIMEOUT"],
        socket_timeout=app.config["REDIS_SOCKET_TIMEOUT"],
    )
    if app.config.get("JOB_QUEUE", "rq") == "memory":
        app.extensions["job_queue"] = MemoryJobQueue(app.config["RQ_QUEUE"])
    else:
        app.extensions["job_queue"] = RQJobQueue(
            app.extensions["redis"], app.config["RQ_QUEUE"], beat_ttl=beat_ttl(app)
        )


def beat_ttl(app: Flask) -> float:
    """How long a worker may be silent before it counts as gone."""
    return app.config["WORKER_BEAT_SECONDS"] * BEATS_MISSED


def job_queue(app: Flask | None = None) -> JobQueue:
    return (app or current_app).extensions["job_queue"]


def redis_connection(app: Flask | None = None) -> Redis:
    """The app's Redis client with short timeouts (rate limits, locks, health)."""
    return (app or current_app).extensions["redis"]
