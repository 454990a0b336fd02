"""/admin/rq: live workers, queue depths, RQ's failed jobs (requeued from the page) and
the queued jobs, read from the test's own Redis."""

from __future__ import annotations

import html
import re
import time

from rq import Worker
from rq.registry import FailedJobRegistry

from app import create_app
from app.extensions import db
from app.jobqueue import job_id, job_queue
from app.notifications import outbox
from tests.processes import free_port
from tests.support import log_in_client, notifications

OLD_SIGNATURE = "deliver_notification() missing 1 required positional argument"


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def table_row(page: str, row_id: str) -> list[str]:
    found = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert found, f"no row {row_id}"
    return [text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)]


def failing_jobs(app, delivered, n: int) -> list[str]:
    """Jobs that raise when run: enqueued with the arguments of an older signature, as
    jobs left in Redis across a deploy might be. The worker's own code runs them."""
    queue = job_queue(app).queue
    ids = [queue.enqueue("app.notifications.jobs.deliver_notification").id for _ in range(n)]
    delivered.run()
    assert sorted(FailedJobRegistry(queue=queue).get_job_ids()) == sorted(ids)
    return ids


def test_a_live_worker_is_shown(app, admin, redis):
    worker = Worker([app.config["RQ_QUEUE"]], connection=redis, name="mooch-test-worker")
    worker.register_birth()
    try:
        page = admin.page("/admin/rq")
    finally:
        worker.register_death()
    assert 'Workers <span class="count">1</span>' in page
    words = text_of(page)
    assert "mooch-test-worker" in words and str(worker.pid) in words
    assert "Database: reachable" in words and "Redis: reachable" in words


def test_no_worker_says_so(admin):
    assert "No worker is alive" in admin.page("/admin/rq")


def test_queue_depth_and_queued_jobs(admin, make):
    bob = make.user("Bob")
    for _ in range(3):
        outbox.record("welcome", bob)
    db.session.commit()
    ids = [n.id for n in notifications()]
    page = admin.page("/admin/rq")
    name, queued, *_ = table_row(page, "queue-mail")
    assert (name, queued) == ("mail", "3")
    assert "3 pending" in text_of(page)
    listed = re.findall(r"<li><code>(.*?)</code> (.*?)</li>", page)
    assert listed == [(job_id(n), f"notification {n}") for n in ids]


def test_failed_jobs_are_listed_and_requeued_one_by_one(app, admin, delivered):
    first, second = failing_jobs(app, delivered, 2)
    page = admin.page("/admin/rq")
    job, description, ended, error, action = table_row(page, f"failed-job-{first}")
    assert job == first
    assert description == "app.notifications.jobs.deliver_notification()"
    assert ended.startswith("20") and action == "Requeue"
    assert error.startswith("TypeError: " + OLD_SIGNATURE)
    assert "Requeue all (2)" in page

    response = admin.post(f"/admin/rq/failed/{first}/requeue")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/rq"
    page = admin.page("/admin/rq")
    assert f"Job {first} is back in the queue." in text_of(page)
    queue = job_queue(app).queue
    assert queue.get_job_ids() == [first]
    assert FailedJobRegistry(queue=queue).get_job_ids() == [second]
    assert f'id="failed-job-{first}"' not in page and f'id="failed-job-{second}"' in page

    again = admin.post(f"/admin/rq/failed/{first}/requeue")
    assert f"Job {first} is not among the failed jobs." in text_of(admin.page(again.location))


def test_requeue_all_failed_jobs(app, admin, delivered):
    ids = failing_jobs(app, delivered, 3)
    response = admin.post("/admin/rq/failed/requeue-all")
    page = admin.page(response.headers["Location"])
    assert "3 failed job(s) back in the queue." in text_of(page)
    queue = job_queue(app).queue
    assert sorted(queue.get_job_ids()) == sorted(ids)
    assert FailedJobRegistry(queue=queue).count == 0
    assert "No failed jobs." in page


def test_with_redis_down_the_page_says_so(settings, admin_user):
    unreachable = create_app({**settings, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    try:
        with unreachable.app_context():
            client = unreachable.test_client()
            log_in_client(client, admin_user)
            response = client.get("/admin/rq")
            assert response.status_code == 200
            words = text_of(response.get_data(as_text=True))
            assert "Redis: unreachable" in words and "Database: reachable" in words
            assert "Redis is unreachable" in words
    finally:
        with unreachable.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


def test_each_machine_is_shown_running_stopped_or_died(app, admin, redis):
    beats = job_queue(app)
    beats.beat_ttl = 3  # this app's: a worker silent for 3 s is gone
    beats.beat("gone.1.a", "host-gone")
    beats.beat("done.1.a", "host-done")
    beats.forget_beat("done.1.a", "host-done")
    time.sleep(3.2)  # the page is rendered within 3 s of host-up's beat, even under load
    beats.beat("up.1.a", "host-up")
    page = admin.page("/admin/rq")
    assert table_row(page, "host-host-up")[:2] == ["host-up", "running"]
    assert table_row(page, "host-host-done")[1].startswith("stopped cleanly")
    assert table_row(page, "host-host-gone")[1].replace(" :", ":") == (
        "died: its heartbeats stopped without a clean stop"
    )
