"""The relay against what RQ leaves behind when a worker dies between taking a job and
claiming its row (issue: a mail stuck 3-13 minutes), and against a job that vanishes
while a relay round deletes it. Real Redis, real RQ keys, a real burst worker.

A row must be relayed within NOTIFICATION_RELAY_GRACE + one tick of its worker dying,
whatever RQ's registries say: a job whose worker is gone is not a job that will run.
"""

from __future__ import annotations

import threading

from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.extensions import db
from app.jobqueue import BEAT_KEY, job_id, job_queue
from app.models import Notification
from app.notifications import outbox
from app.notifications.retry import retry
from tests.support import notifications


def pending_rows(make, n: int = 1) -> list[int]:
    user = make.user("Bob")
    rows = [outbox.record("welcome", user) for _ in range(n)]
    db.session.commit()
    return [row.id for row in rows]


def rq_queue(app) -> Queue:
    return Queue(
        app.config["RQ_QUEUE"], connection=job_queue(app).connection, serializer=JSONSerializer
    )


def take_like_a_worker_that_then_dies(app) -> str:
    """What RQ 3.0's dequeue does first: move the job id to the intermediate list.
    The worker is killed before it starts the job."""
    queue = rq_queue(app)
    moved = queue.connection.lmove(queue.key, queue.intermediate_queue_key)
    assert moved is not None
    return moved.decode()


def start_like_a_worker_that_then_dies(app, redis, beating: bool) -> str:
    """A worker dequeued the job and started it (RQ's started registry, an execution,
    the job `started` with the worker's name), then died before claiming the row."""
    queue = rq_queue(app)
    job, _ = Queue.dequeue_any(
        [queue], None, connection=queue.connection, serializer=JSONSerializer
    )
    return start_taken_job(app, redis, job.id, beating)


def start_taken_job(app, redis, jid: str, beating: bool) -> str:
    """What a worker does once its dequeue has moved job `jid` out of the queue."""
    queue = rq_queue(app)
    worker = SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer)
    worker.register_birth()
    job = Job.fetch(jid, connection=queue.connection, serializer=JSONSerializer)
    execution = worker.prepare_execution(job)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    assert execution is not None
    if beating:
        redis.set(BEAT_KEY.format(worker.name), 1, ex=15)
    return job.id


def test_a_job_a_dead_worker_took_out_of_the_queue_is_relayed(app, make, delivered):
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    [row] = pending_rows(make)
    assert take_like_a_worker_that_then_dies(app) == job_id(row)
    job = Job.fetch(job_id(row), connection=job_queue(app).connection, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.QUEUED  # RQ still says queued

    assert outbox.relay() == 1
    assert rq_queue(app).job_ids == [job_id(row)]
    assert len(delivered.run()) == 1
    assert [n.status for n in notifications()] == ["sent"]


def test_retrying_such_a_row_queues_it_again_rather_than_saying_already_queued(app, make):
    [row] = pending_rows(make)
    take_like_a_worker_that_then_dies(app)
    retried = retry(row)
    assert (retried.requeued, retried.already_queued) == ([row], [])
    assert rq_queue(app).job_ids == [job_id(row)]


def test_a_job_started_by_a_worker_that_stopped_beating_is_relayed(app, make, redis, delivered):
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    [row] = pending_rows(make)
    start_like_a_worker_that_then_dies(app, redis, beating=False)
    assert db.session.get(Notification, row).attempts == 0  # never claimed

    assert outbox.relay() == 1
    assert len(delivered.run()) == 1
    assert [(n.status, n.attempts) for n in notifications()] == [("sent", 1)]


def test_a_job_started_by_a_live_worker_is_left_to_it(app, make, redis):
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    [row] = pending_rows(make)
    start_like_a_worker_that_then_dies(app, redis, beating=True)
    assert outbox.relay() == 0
    assert job_queue(app).live([row]) == {row: "taken"}


def test_a_job_a_live_worker_is_taking_right_now_is_left_to_it(app, make, redis):
    """Between moving a job out of the queue and starting it, a live worker's job looks
    like a dead worker's. A relay round landing in that moment (the worker's own clock
    thread, under load: CI saw it) must not replace the job: the worker's status then
    showed it busy with no job, and the id was taken twice."""
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    [row] = pending_rows(make)
    jid = take_like_a_worker_that_then_dies(app)
    starting = threading.Timer(0.05, start_taken_job, (app, redis, jid, True))
    starting.start()
    try:
        assert outbox.relay() == 0
    finally:
        starting.join()
    job = Job.fetch(jid, connection=job_queue(app).connection, serializer=JSONSerializer)
    assert job.get_status() == JobStatus.STARTED
    assert rq_queue(app).job_ids == []  # no second job for the id
    assert job_queue(app).live([row]) == {row: "taken"}


def test_a_job_waiting_in_the_queue_is_left_alone(app, make):
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    [row] = pending_rows(make)
    assert job_queue(app).live([row]) == {row: "waiting"}
    assert outbox.relay() == 0
    assert rq_queue(app).job_ids == [job_id(row)]


def test_a_job_that_vanishes_mid_round_does_not_stop_the_round(app, make, redis, delivered):
    """RQ can leave a job's hash holding only `last_heartbeat` (a heartbeat landing after
    a finished job was deleted): deleting it raises InvalidJobOperation. The other rows
    of the round are relayed all the same."""
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    first, second = pending_rows(make, 2)
    queue = rq_queue(app)
    queue.connection.delete(queue.key)  # both jobs lost from the queue...
    redis.delete(Job.key_for(job_id(first)))
    redis.hset(
        Job.key_for(job_id(first)), "last_heartbeat", "2026-12-01T00:00:00Z"
    )  # ...one half-gone

    assert outbox.relay() == 2
    assert sorted(queue.job_ids) == sorted([job_id(first), job_id(second)])
    assert len(delivered.run()) == 2


def test_a_send_given_back_while_the_relay_runs_gets_one_job(app, make, redis):
    """A worker gives a send back under a short SIGTERM grace: the row is pending and
    due again, and its finished job is deleted before the worker enqueues a new one.
    A relay round landing in that gap enqueues it too: the id must be queued once,
    not twice, whichever comes first (the flaky SIGTERM test in
    tests/test_concurrent_sends.py saw seven jobs for six rows)."""
    from types import SimpleNamespace

    from app.worker.runner import build_worker

    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    [row] = pending_rows(make)
    queue = rq_queue(app)
    Job.fetch(job_id(row), connection=queue.connection, serializer=JSONSerializer).delete()
    worker = build_worker(app, name="giving-back")

    assert outbox.relay() == 1  # the relay first...
    worker._requeue(SimpleNamespace(args=(row,)))  # ...then the worker's give-back
    assert queue.job_ids == [job_id(row)]

    queue.empty()
    redis.delete(Job.key_for(job_id(row)))
    worker._requeue(SimpleNamespace(args=(row,)))  # the other way round
    assert outbox.relay() == 0
    assert queue.job_ids == [job_id(row)]


def test_enqueueing_once_leaves_an_id_with_a_job_alone_in_rq_and_its_twin(make):
    from app.jobqueue import MemoryJobQueue

    for queue in (job_queue(), MemoryJobQueue()):
        queue.enqueue([1])
        queue.enqueue([1, 2], once=True)
        assert queue.live([1, 2]) == {1: "waiting", 2: "waiting"}, queue
        assert [jid for jid, _ in queue.queued(5)] == [job_id(1), job_id(2)], queue
        assert queue.queued_count() == 2, queue


def test_the_memory_twin_answers_like_rq(make):
    from app.jobqueue import MemoryJobQueue

    queue = MemoryJobQueue()
    queue.enqueue([1, 2])
    assert queue.live([1, 2, 3]) == {1: "waiting", 2: "waiting"}
    queue.discard([2])
    assert queue.live([1, 2]) == {1: "waiting"}
    ran = []
    assert queue.run_all(ran.append) == 1
    assert ran == [1] and queue.live([1]) == {}
