"""The retry service (app/notifications/retry.py) and `flask notifications retry`."""

from __future__ import annotations

import pytest

from app import create_app
from app.errors import Conflict, NotFound
from app.extensions import db
from app.jobqueue import job_id
from app.models import Notification
from app.notifications import outbox
from app.notifications.retry import retry, retry_all_failed
from tests.processes import free_port
from tests.support import notifications


def status_of(notification_id: int) -> tuple[str, int]:
    db.session.expire_all()
    row = db.session.get(Notification, notification_id)
    return row.status, row.attempts


# -- the service ----------------------------------------------------------------------


def test_a_failed_row_goes_back_to_pending_with_a_job(failed, enqueued, delivered):
    [row] = failed(1)
    error = row.last_error
    retried = retry(row.id)
    assert (retried.reset, retried.enqueued) == ([row.id], True)
    db.session.expire_all()
    row = db.session.get(Notification, row.id)
    assert (row.status, row.attempts, row.not_before, row.last_error) == ("pending", 0, None, error)
    assert [job.id for job in enqueued.jobs()] == [job_id(row.id)]
    [message] = delivered.run()
    assert message["To"].addresses[0].addr_spec == row.recipient_email
    assert status_of(row.id) == ("sent", 1)


def test_retrying_twice_makes_one_job_and_one_mail(failed, enqueued, delivered):
    """The second retry finds the row pending with its job waiting: nothing to add."""
    [row] = failed(1)
    assert retry(row.id).reset == [row.id]
    second = retry(row.id)
    assert (second.reset, second.requeued, second.already_queued) == ([], [], [row.id])
    assert second.message == f"Notification {row.id} is pending and already queued."
    assert enqueued.queue.count == 1
    assert len(delivered.run()) == 1


def test_retry_all_failed_leaves_other_rows_alone(failed, sent, make, enqueued):
    rows = failed(2)
    done = sent()
    outbox.record("welcome", make.user("Eve"))
    db.session.commit()
    fresh = max(n.id for n in notifications())
    retried = retry_all_failed()
    assert retried.reset == [r.id for r in rows]
    assert (
        retried.message
        == "2 failed notifications are pending again, with a fresh round of attempts."
    )
    assert status_of(done.id) == ("sent", 1)
    assert status_of(fresh) == ("pending", 0)
    assert sorted(j.id for j in enqueued.jobs()) == sorted(
        job_id(n) for n in [*(r.id for r in rows), fresh]
    )
    assert retry_all_failed().ids == []


def test_a_sent_row_is_refused(sent, enqueued):
    row = sent()
    with pytest.raises(Conflict, match="already sent"):
        retry(row.id)
    assert status_of(row.id) == ("sent", 1)
    assert enqueued.jobs() == []


def test_an_unknown_row_is_not_found(app):
    with pytest.raises(NotFound, match="no notification 4242"):
        retry(4242)


def test_a_pending_row_waiting_for_its_next_attempt_is_refused(
    app, make, delivered, mail_server, enqueued
):
    """A temporary failure: the row waits (not_before) and its next try is the relay's.
    That wait cannot be told from a worker's claim, so it is not cut short."""
    app.config["NOTIFICATION_RETRY_BASE"] = 600
    mail_server.fail_next(1, "451 4.3.0 Try again later")
    outbox.record("welcome", make.user("Bob"))
    db.session.commit()
    delivered.run()
    [row] = notifications()
    assert (row.status, row.attempts) == ("pending", 1)
    with pytest.raises(Conflict, match="next attempt at"):
        retry(row.id)
    assert enqueued.jobs() == []


def test_a_stuck_pending_row_is_enqueued_again(make, redis, enqueued, delivered):
    outbox.record("welcome", make.user("Bob"))
    db.session.commit()
    [row] = notifications()
    redis.flushdb()  # Redis restarted empty: the job is gone
    retried = retry(row.id)
    assert (retried.requeued, retried.enqueued) == ([row.id], True)
    assert [job.id for job in enqueued.jobs()] == [job_id(row.id)]
    assert len(delivered.run()) == 1


def test_with_redis_down_the_row_is_pending_and_the_relay_enqueues_it(
    app, settings, failed, enqueued
):
    [row] = failed(1)
    unreachable = create_app({**settings, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    try:
        with unreachable.app_context():
            retried = retry(row.id)
            assert (retried.reset, retried.enqueued) == ([row.id], False)
            assert retried.message.endswith(
                "Redis is unreachable: the relay will queue it once it answers."
            )
    finally:
        with unreachable.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
    assert status_of(row.id) == ("pending", 0)
    assert enqueued.jobs() == []
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    assert outbox.relay() == 1
    assert [job.id for job in enqueued.jobs()] == [job_id(row.id)]


# -- the command ----------------------------------------------------------------------


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["notifications", "retry", *args])


def test_command_retries_one(app, failed, enqueued):
    first, second = failed(2)
    result = run(app, str(first.id))
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == f"Notification {first.id} is pending again, with a fresh round of attempts.\n"
    )
    assert status_of(first.id) == ("pending", 0)
    assert status_of(second.id) == ("failed", 1)
    assert [job.id for job in enqueued.jobs()] == [job_id(first.id)]


def test_command_retries_all(app, failed, enqueued):
    rows = failed(2)
    result = run(app, "--all")
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == "2 failed notifications are pending again, with a fresh round of attempts.\n"
    )
    assert [status_of(r.id) for r in rows] == [("pending", 0)] * 2
    assert len(enqueued.jobs()) == 2
    again = run(app, "--all")
    assert (again.exit_code, again.output) == (0, "No failed notifications to retry.\n")


@pytest.mark.parametrize("args", [(), ("--all", "1")])
def test_command_wants_an_id_or_all(app, args):
    result = run(app, *args)
    assert result.exit_code == 2
    assert "Give either a notification ID or --all" in result.output
    assert "Usage:" in result.output


def test_command_refuses_an_unknown_id(app):
    result = run(app, "999")
    assert result.exit_code == 1
    assert "Error: There is no notification 999." in result.output


def test_command_refuses_a_sent_row(app, sent, enqueued):
    row = sent()
    result = run(app, str(row.id))
    assert result.exit_code == 1
    assert f"Error: Notification {row.id} was already sent" in result.output
    assert enqueued.jobs() == []


def test_command_refuses_a_non_number(app):
    result = run(app, "seven")
    assert result.exit_code == 2 and "is not a valid integer" in result.output
