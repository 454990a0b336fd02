"""Email delivery throughput: N queued notifications drained into a local SMTP server.

One embedded Redis, one mail catcher and one SQLite database built by the migrations
serve every run. The notifications are made the way the web makes them, through
`lending.service.create_loan` (each new loan mails its counterparty once). Each run
then starts from exactly its N rows `pending` and N jobs queued, starts one worker
process, and times it from its start until the database shows all N rows `sent`;
it must have delivered exactly N messages carrying the N expected Message-IDs.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import psutil
from redis import Redis
from sqlalchemy import func, select, update

from app import create_app
from app.extensions import db
from app.lending.service import create_loan, today
from app.models import Notification, User
from app.notifications.compose import message_id
from app.notifications.outbox import enqueue
from devtools.mailcatcher import Caught, MailCatcher
from devtools.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.05
PROGRESS_SECONDS = 30.0
USERS = 50
ITEMS = ("cordless drill", "camping tent", "ladder", "pasta machine", "bike pump", "projector")
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def runners(redis_url: str, queue: str) -> dict[str, list[str]]:
    rq = str(Path(sys.executable).with_name("rq"))
    return {
        "ours": [sys.executable, "worker.py", "--burst"],
        "rq": [
            rq, "worker", "--burst",
            "--serializer", "rq.serializers.JSONSerializer",
            "--url", redis_url, queue,
        ],
    }  # fmt: skip


class CountingCatcher(MailCatcher):
    """A MailCatcher that keeps each message's bytes without parsing them.

    MailCatcher parses every message into an EmailMessage, about 4 ms of CPU each on
    a small machine, in the bench process, on the cores the worker needs. The check
    needs only the raw bytes; `caught` and `clear()` work as before, `messages` not.


    With `delay` (seconds, changeable between runs) it answers each DATA that much
    later, the way a slow real server does: concurrent connections wait concurrently.
    `arrived_at` holds, for each caught message in order, the time.monotonic() at
    which it was accepted (monotonic is system-wide: comparable across processes).
    """

    delay: float = 0.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._arrived_at: list[float] = []

    async def _handle_data(self, server, envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        raw = envelope.original_content or b""
        caught = Caught(envelope.mail_from or "", list(envelope.rcpt_tos), None, raw)
        with self._cond:
            self._caught.append(caught)
            self._arrived_at.append(time.monotonic())
        return "250 2.0.0 OK: counted"

    @property
    def arrived_at(self) -> list[float]:
        with self._cond:
            return list(self._arrived_at)

    def clear(self) -> None:
        with self._cond:
            self._caught.clear()
            self._arrived_at.clear()


@dataclass
class Result:
    runner: str
    command: str
    emails: int
    seconds: float  # from process start until every row is `sent`
    exit_seconds: float  # from process start until the process exited
    # Peak RSS in bytes, sampled every POLL_SECONDS: the worker process, and the
    # largest process it forked (RQ's work horse; 0 for a worker that does not fork).
    worker_rss: int
    horse_rss: int

    @property
    def rate(self) -> float:
        return self.emails / self.seconds

    def as_dict(self) -> dict:
        return {**asdict(self), "emails_per_second": self.rate}


class Bench:
    """The services, the database, and the notifications every run drains."""

    def __init__(
        self, count: int, timeout: float, parse_mail: bool, log: Callable[[str], None]
    ) -> None:
        self.count = count
        self.timeout = timeout
        self.parse_mail = parse_mail
        self.log = log

    def __enter__(self) -> Bench:
        self._tmp = tempfile.TemporaryDirectory(prefix="mooch-bench-")
        self.dir = Path(self._tmp.name)
        self.redis_server = RedisServer(directory=self.dir / "redis").start()
        self.catcher = (MailCatcher() if self.parse_mail else CountingCatcher()).start()
        # Read by create_app, here and in the worker processes, which inherit it.
        os.environ.update(
            DATABASE_URL=f"sqlite:///{self.dir / 'mooch.db'}",
            REDIS_URL=self.redis_server.url,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(self.catcher.port),
            SECRET_KEY="bench-secret",
            BASE_URL="https://mooch.test",
            # Our worker ticks once at start-up and then not again during a run; the
            # relay finds nothing to do (every row has its job, and is young).
            WORKER_TICK_SECONDS="86400",
            NOTIFICATION_RELAY_GRACE="86400",
            # The seeding starts thousands of loans from 50 people at once; the caps
            # against spam (app.lending.limits) have nothing to do with delivery.
            LOANS_PER_HOUR="1000000",
            INVITES_PER_DAY="1000000",
        )
        self.app = create_app()
        self._ctx = self.app.app_context()
        self._ctx.push()
        self.redis = Redis.from_url(self.redis_server.url)
        self.queue_key = f"rq:queue:{self.app.config['RQ_QUEUE']}"
        from flask_migrate import upgrade

        upgrade()
        self.ids = self._seed(self.count)
        return self

    def __exit__(self, *exc: object) -> None:
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
        self._ctx.pop()
        self.redis.close()
        self.catcher.stop()
        self.redis_server.close()
        self._tmp.cleanup()

    def _seed(self, count: int) -> list[int]:
        """One loan per notification, between active friends: every other one asks
        to borrow (`loan_requested`), the rest offer with a due date (`loan_offered`).
        The services enqueue jobs after commit too; _reset replaces them."""
        started = time.perf_counter()
        hashed = User(email="-", name="-")
        hashed.set_password("correct horse battery")  # deliberately slow: once, not per user
        users = [
            User(
                email=f"friend{i}@example.com",
                name=f"Friend {i}",
                state="active",
                is_admin=False,
                password_hash=hashed.password_hash,
            )
            for i in range(USERS)
        ]
        db.session.add_all(users)
        db.session.commit()
        due = (today() + timedelta(days=14)).isoformat()
        for i in range(count):
            actor = users[i % USERS]
            other = users[(i + 1 + i // USERS) % USERS]
            if other is actor:
                other = users[(i + 1) % USERS]
            lend = i % 2 == 1
            role = "lender" if lend else "borrower"
            create_loan(actor, role, other.email, ITEMS[i % len(ITEMS)], due if lend else None)
        ids = list(db.session.scalars(select(Notification.id).order_by(Notification.id)))
        db.session.rollback()
        if len(ids) != count:
            raise RuntimeError(f"expected {count} notifications, the services made {len(ids)}")
        self.log(f"seeded {count} notifications in {time.perf_counter() - started:.1f}s")
        return ids

    def _reset(self, ids: list[int]) -> set[str]:
        """Exactly these rows pending, one queued job each, nothing else queued or
        caught. Returns the Message-IDs their mail must carry."""
        db.session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(status="pending", attempts=0, not_before=None, sent_at=None, last_error=None)
        )
        db.session.commit()
        self.redis.flushdb()  # the services' jobs, the last run's jobs and registries
        self.catcher.clear()
        if not enqueue(ids):
            raise RuntimeError("could not enqueue the jobs")
        rows = db.session.scalars(select(Notification).where(Notification.id.in_(ids)))
        expected = {message_id(n) for n in rows}
        counts = self._counts()
        db.session.rollback()
        queued = self.redis.llen(self.queue_key)
        if counts.get("pending") != len(ids) or queued != len(ids):
            raise RuntimeError(f"bad start: rows {counts}, {queued} jobs queued")
        return expected

    def _counts(self) -> dict[str, int]:
        query = select(Notification.status, func.count()).group_by(Notification.status)
        return dict(db.session.execute(query).tuples().all())

    def _unsent(self) -> int:
        counts = self._counts()
        db.session.rollback()  # hold no snapshot: it would keep the WAL from checkpointing
        if counts.get("failed"):
            raise RuntimeError(f"notifications failed: {counts}")
        return counts.get("pending", 0)

    def run(self, runner: str, command: list[str], count: int) -> Result:
        expected = self._reset(self.ids[:count])
        self.log(f"{runner}: {count} jobs: {' '.join(command)}")
        logfile = self.dir / f"{runner}.log"
        with open(logfile, "wb") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            try:
                done_at, worker_rss, horse_rss = self._watch(runner, proc, started, count)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        exited_at = time.perf_counter() - started
        tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-15:])
        if proc.returncode != 0 or done_at is None:
            raise RuntimeError(
                f"{runner} exited with {proc.returncode}, {self._unsent()} rows unsent\n{tail}"
            )
        self._verify(runner, expected)
        return Result(runner, " ".join(command), count, done_at, exited_at, worker_rss, horse_rss)

    def _watch(
        self, runner: str, proc: subprocess.Popen, started: float, count: int
    ) -> tuple[float | None, int, int]:
        """Poll until the process exits: when was the last row sent, and the peak RSS
        of the worker and of the largest process it forked."""
        worker = psutil.Process(proc.pid)
        done_at = None
        worker_rss = horse_rss = 0
        next_progress = PROGRESS_SECONDS
        while proc.poll() is None:
            now = time.perf_counter() - started
            unsent = self._unsent()
            if done_at is None and unsent == 0:
                done_at = now
            if now > next_progress:
                self.log(f"{runner}: {count - unsent}/{count} sent after {now:.0f}s")
                next_progress += PROGRESS_SECONDS
            if now > self.timeout:
                raise RuntimeError(f"{runner}: still running after {now:.0f}s")
            try:
                worker_rss = max(worker_rss, worker.memory_info().rss)
                for child in worker.children(recursive=True):
                    horse_rss = max(horse_rss, child.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
            time.sleep(POLL_SECONDS)
        if done_at is None and self._unsent() == 0:
            done_at = time.perf_counter() - started
        return done_at, worker_rss, horse_rss

    def _verify(self, runner: str, expected: set[str]) -> None:
        caught = self.catcher.caught
        ids = {m.group(1).decode() if (m := MESSAGE_ID.search(c.raw)) else None for c in caught}
        if len(caught) != len(expected) or ids != expected:
            raise RuntimeError(
                f"{runner}: {len(caught)} messages caught, {len(ids)} distinct Message-IDs, "
                f"{len(ids & expected)} of the {len(expected)} expected"
            )
