"""Helpers for tests: building rows, and the two mail modes' assertions."""

from __future__ import annotations

import re
import signal
from datetime import date
from email.message import EmailMessage

from flask import Flask
from rq import Queue
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.jobqueue import MemoryJobQueue, job_queue
from app.models import Loan, Notification, User
from devtools.mailcatcher import MailCatcher

URL = re.compile(r"https?://[^\s<>\"]+")
PASSWORD = "correct horse"
# Hashing is slow on purpose; scene-setting users share one hash of the same password.
_PASSWORD_HASH = generate_password_hash(PASSWORD)


def migrate_to_head(url: str) -> None:
    """Build a database the way production does: by running the migrations."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade()
        for engine in db.engines.values():
            engine.dispose()


class Factory:
    """Rows in any state, written directly (no mail): for setting the scene."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.count = 0

    def user(self, name: str = "Alice", state: str = "active", email: str | None = None) -> User:
        self.count += 1
        user = User(
            name=name,
            email=email or f"{name.lower()}{self.count}@example.com",
            state=state,
            is_admin=False,
        )
        user.password_hash = _PASSWORD_HASH
        db.session.add(user)
        db.session.commit()
        return user

    def loan(
        self,
        lender: User,
        borrower: User,
        state: str = "requested",
        item: str = "cordless drill",
        due_date: date | None = None,
    ) -> Loan:
        # The borrower asked (requested) or the lender offered; past those, the other
        # party has answered.
        loan = Loan(
            item=item,
            lender=lender,
            borrower=borrower,
            state=state,
            due_date=due_date,
            initiator_id=borrower.id if state == "requested" else lender.id,
            counterparty_answered=state not in ("requested", "offered", "expired"),
        )
        db.session.add(loan)
        db.session.commit()
        return loan


def log_in_client(client, user: User):
    """Log a Flask test client in as `user` the way the login page does: a
    server-side session whose secret the cookie carries."""
    from app.accounts import service as accounts

    secret = accounts.log_in(user, "web")
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["sid"] = secret
    return client


def notifications() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).order_by(Notification.id)))


class Enqueued:
    """What an action queued: outbox rows and the queue's jobs, none of them run. On
    the in-memory queue (a test module's JOB_QUEUE = "memory"), `jobs()` is RQ-only."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.job_queue = job_queue(app)

    @property
    def queue(self) -> Queue:
        return self.job_queue.queue

    def notifications(self) -> list[Notification]:
        return notifications()

    def mail(self) -> list[tuple[str, str]]:
        """(notifier, recipient address) of every notification, in order."""
        return [(n.notifier, n.recipient_email) for n in self.notifications()]

    def jobs(self) -> list:
        return self.queue.get_jobs()

    def job_ids(self) -> list[str]:
        return [jid for jid, _ in self.job_queue.queued(1000)]

    def job_args(self) -> list[tuple[str, tuple]]:
        return [(job.func_name, tuple(job.args)) for job in self.jobs()]


class Delivered:
    """Runs the queued jobs through the worker's own code, in burst mode, and reads
    what the real SMTP server received."""

    def __init__(self, app: Flask, server: MailCatcher) -> None:
        self.app = app
        self.server = server

    def run(self) -> list[EmailMessage]:
        from app.notifications.jobs import deliver_notification
        from app.worker.runner import build_worker

        db.session.rollback()  # no transaction of the test's may hold a lock meanwhile
        before = len(self.server.messages)
        queue = job_queue(self.app)
        if isinstance(queue, MemoryJobQueue):
            queue.run_all(deliver_notification)
        else:
            handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                # One send at a time: the tests read mail in the order it was committed.
                # Concurrent sends are tested with real worker processes.
                build_worker(self.app, concurrency=1).work(burst=True, logging_level="WARNING")
            finally:
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
        db.session.expire_all()
        return self.server.messages[before:]

    @property
    def messages(self) -> list[EmailMessage]:
        return self.server.messages

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    def one(self, address: str) -> EmailMessage:
        found = self.to(address)
        assert len(found) == 1, [m["Subject"] for m in found]
        return found[0]


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def links_in(message: EmailMessage) -> list[str]:
    return URL.findall(text_of(message))


def action_link(message: EmailMessage) -> str:
    """The one link to act on: the last link in the text part above the signature."""
    body = text_of(message).split("\n-- \n")[0]
    links = URL.findall(body)
    assert links, body
    return links[-1]
