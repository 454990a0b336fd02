"""A request's mail is enqueued after its response is sent (app.after_response): the
person who clicked never waits for Redis, and no job is lost on the way."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time

import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.test import Client

from app import after_response
from app.accounts import service as accounts
from app.extensions import db
from app.jobqueue import job_id, job_queue
from app.lending import service as lending
from app.models import User
from app.notifications import outbox
from tests.support import notifications

LOAN = {"role": "lender", "counterparty_email": "bram@example.com", "item": "ladder"}


class HeldQueue:
    """The app's job queue, with `enqueue` held until the test lets it go."""

    def __init__(self, queue) -> None:
        self.queue = queue
        self.entered = threading.Event()
        self.go = threading.Event()

    def enqueue(self, ids, once=False):
        self.entered.set()
        assert self.go.wait(timeout=30), "the test never let the enqueue go"
        return self.queue.enqueue(ids, once=once)

    def __getattr__(self, name):
        return getattr(self.queue, name)


@pytest.fixture
def served(app):
    """The app behind werkzeug's threaded server on a free port: a real server, which
    sends the response and only then closes it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_the_response_is_sent_before_its_mail_is_enqueued(app, make, served):
    real = job_queue(app)
    held = app.extensions["job_queue"] = HeldQueue(real)
    token = accounts.log_in(make.user("Lena"), "api")

    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=5)
    connection.request(
        "POST",
        "/api/v1/loans",
        body=json.dumps(LOAN),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    # While Redis has not been talked to, the person already has their answer.
    response = connection.getresponse()
    created = json.loads(response.read())
    assert response.status == 201 and created["item"] == "ladder"
    assert held.entered.wait(timeout=5)
    [row] = notifications()
    assert row.status == outbox.PENDING
    assert real.live([row.id]) == {}  # no job yet
    db.session.rollback()

    held.go.set()
    connection.close()
    deadline = time.monotonic() + 10
    while real.live([row.id]) != {row.id: "waiting"} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert real.live([row.id]) == {row.id: "waiting"}
    assert [jid for jid, _ in real.queued(10)] == [job_id(row.id)]


def test_the_test_client_closes_its_responses_like_a_server(app, make):
    """Every test that reads the queue after a request relies on this."""
    token = accounts.log_in(make.user("Lena"), "api")
    response = app.test_client().post(
        "/api/v1/loans", json=LOAN, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201
    [row] = notifications()
    assert [jid for jid, _ in job_queue(app).queued(10)] == [job_id(row.id)]


def test_a_request_that_raises_still_enqueues_what_it_committed(settings, make):
    from app import create_app

    crashing = create_app({**settings, "PROPAGATE_EXCEPTIONS": True})

    @crashing.route("/commits-then-crashes", methods=["POST"])
    def commits_then_crashes():
        lena = db.session.get(User, user_id)
        lending.create_loan(lena, "lender", "bram@example.com", "ladder")  # commits
        raise RuntimeError("after the commit")

    with crashing.app_context():
        user = make.user("Lena")
        user_id = user.id
        db.session.commit()
        with pytest.raises(RuntimeError, match="after the commit"):
            crashing.test_client().post("/commits-then-crashes")
        [row] = notifications()
        assert [jid for jid, _ in job_queue(crashing).queued(10)] == [job_id(row.id)]
        db.session.remove()


def test_outside_a_served_request_the_jobs_are_enqueued_at_once(app, make):
    lena = make.user("Lena")
    # A command, the worker, or a request context nobody serves: nothing comes after.
    assert after_response.later(print) is False
    with app.test_request_context("/"):
        assert after_response.later(print) is False
        lending.create_loan(lena, "lender", "bram@example.com", "ladder")
        [row] = notifications()
        assert [jid for jid, _ in job_queue(app).queued(10)] == [job_id(row.id)]


def test_a_deferred_call_that_fails_is_logged_and_the_next_still_runs(caplog):
    ran = []
    app = Flask(__name__)

    @app.route("/")
    def index():
        after_response.later(lambda: 1 / 0)
        after_response.later(ran.append, "second")
        return "answered"

    app.wsgi_app = after_response.AfterResponse(app.wsgi_app)
    client = Client(app)
    with caplog.at_level(logging.ERROR, logger="app.after_response"):
        response = client.get("/", buffered=False)
        assert response.get_data() == b"answered"
        assert ran == []  # not before the server closes the response
        response.close()
    assert ran == ["second"]
    assert "after the response" in caplog.text and "ZeroDivisionError" in caplog.text
