"""Configuration, read from the environment once when the app is created.

Every setting has a default that works on a fresh machine (SQLite under
instance/, the embedded Redis, the local mail catcher); production sets
DATABASE_URL, REDIS_URL, MAIL_* and SECRET_KEY.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


def _float(name: str, default: float) -> float:
    return _number(name, default, float)


def _number(name: str, default, kind: type):
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return kind(value)
    except ValueError:
        raise ValueError(
            f"{name}={value!r} is not a{'n integer' if kind is int else ' number'}"
        ) from None


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _host_ports(name: str) -> list[tuple[str, int]]:
    """ "host:port,host:port" as [(host, port)]; [] when unset."""
    found = []
    for part in filter(None, (p.strip() for p in os.environ.get(name, "").split(","))):
        host, colon, port = part.rpartition(":")
        host = host.strip("[]")  # [::1]:26379
        if not (colon and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{name}: {part!r} is not host:port")
        found.append((host, int(port)))
    return found


def _database_url(default: str | None) -> str | None:
    url = os.environ.get("DATABASE_URL", default)
    # Heroku-style add-ons still hand out postgres://, which SQLAlchemy 2 refuses.
    if url and url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sender(base_url: str) -> str:
    """ "Mooch <mooch@HOST>" for the host of `base_url`; "localhost" for an IP address
    or no host (an address literal would need brackets that mail servers refuse)."""
    host = urlsplit(base_url).hostname or ""
    try:
        ipaddress.ip_address(host)
        host = ""
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = ""
    return f"Mooch <mooch@{host or 'localhost'}>"


class Config:
    """Defaults for development; every value can be overridden by the environment."""

    def __init__(self) -> None:
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
        # None means "sqlite file under the app's instance folder", filled in by create_app.
        self.SQLALCHEMY_DATABASE_URI = _database_url(None)
        self.SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
        # PostgreSQL only: seconds to wait for a connection before it is an error.
        self.DATABASE_CONNECT_TIMEOUT = _int("DATABASE_CONNECT_TIMEOUT", 5)
        # PostgreSQL only, per process: connections kept open, more allowed at a peak,
        # seconds to wait for one when all are busy, seconds before one is replaced.
        # A gunicorn worker serves one request at a time and a mail worker sends
        # WORKER_CONCURRENCY at once: size the server's max_connections (or PgBouncer's
        # pool) for processes x (pool size + overflow).
        self.DATABASE_POOL_SIZE = _int("DATABASE_POOL_SIZE", 5)
        self.DATABASE_MAX_OVERFLOW = _int("DATABASE_MAX_OVERFLOW", 20)
        self.DATABASE_POOL_TIMEOUT = _float("DATABASE_POOL_TIMEOUT", 10.0)
        self.DATABASE_POOL_RECYCLE = _int("DATABASE_POOL_RECYCLE", 1800)
        # PostgreSQL only: the longest a statement may run, in milliseconds (0: no
        # limit); a stuck query must be an error, not a request that never answers.
        self.DATABASE_STATEMENT_TIMEOUT = _int("DATABASE_STATEMENT_TIMEOUT", 30000)
        # Behind PgBouncer in transaction mode: no server-side prepared statements and
        # no settings sent at connect (set statement_timeout on the role instead).
        self.DATABASE_PGBOUNCER = _bool("DATABASE_PGBOUNCER", False)

        self.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6390/0")
        # Both bounded: a dead Redis must be an error, never a hang in a request.
        self.REDIS_CONNECT_TIMEOUT = _float("REDIS_CONNECT_TIMEOUT", 1.0)
        self.REDIS_SOCKET_TIMEOUT = _float("REDIS_SOCKET_TIMEOUT", 5.0)
        # rediss:// with a self-signed certificate (Heroku Redis) needs false.
        self.REDIS_TLS_VERIFY = _bool("REDIS_TLS_VERIFY", True)
        # Prometheus metrics (app/metrics.py): the bearer token /metrics asks for (unset:
        # no /metrics), and the port each worker supervisor serves its workers' on (0:
        # none).
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
        self.WORKER_METRICS_PORT = _int("WORKER_METRICS_PORT", 0)
        # Errors of web and worker to Sentry (app/error_tracking.py); off when unset.
        self.SENTRY_DSN = os.environ.get("SENTRY_DSN", "").strip()
        self.SENTRY_ENVIRONMENT = os.environ.get("SENTRY_ENVIRONMENT", "production")
        self.SENTRY_RELEASE = os.environ.get("SENTRY_RELEASE", "")
        # The share of requests and jobs traced for performance (0: errors only).
        self.SENTRY_TRACES_SAMPLE_RATE = _float("SENTRY_TRACES_SAMPLE_RATE", 0.0)
        # Redis with automatic failover: the sentinels (host:port, comma-separated) and
        # the name they watch the master under. Web and workers ask them for the
        # master; REDIS_URL then gives only the database number and the password.
        self.REDIS_SENTINELS = _host_ports("REDIS_SENTINELS")
        self.REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
        self.REDIS_SENTINEL_PASSWORD = os.environ.get("REDIS_SENTINEL_PASSWORD") or None
        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "mail")

        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
        self.MAIL_PORT = _int("MAIL_PORT", 1025)
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
        self.MAIL_SUPPRESS_SEND = False
        self.MAIL_TIMEOUT = _float("MAIL_TIMEOUT", 10.0)

        self.BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        # The From of every mail: "Mooch <mooch@HOST>", HOST being BASE_URL's, unless set.
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER") or _sender(self.BASE_URL)
        # A mailbox that takes "unsubscribe" mail: offered in List-Unsubscribe beside the
        # one-click link, when set.
        self.MAIL_UNSUBSCRIBE_ADDRESS = os.environ.get("MAIL_UNSUBSCRIBE_ADDRESS", "").strip()
        # Permanent refusals of an address (SMTP 5xx to RCPT) before it is suppressed.
        self.MAIL_BOUNCE_LIMIT = _int("MAIL_BOUNCE_LIMIT", 2)
        # The mail provider's bounce and complaint reports, POSTed to /hooks/mail/<provider>
        # (app/hooks). Amazon SES through SNS: the topics whose signed messages are
        # believed (comma-separated ARNs; none: the hook refuses everything, since any
        # AWS account can sign a message of its own topic). Postmark: the HTTP basic
        # auth user and password set on its webhook (either empty: the hook refuses).
        self.SES_SNS_TOPIC_ARNS = os.environ.get("SES_SNS_TOPIC_ARNS", "")
        self.POSTMARK_WEBHOOK_USER = os.environ.get("POSTMARK_WEBHOOK_USER", "")
        self.POSTMARK_WEBHOOK_PASSWORD = os.environ.get("POSTMARK_WEBHOOK_PASSWORD", "")
        self.LOAN_EXPIRY_DAYS = _int("LOAN_EXPIRY_DAYS", 7)
        self.PASSWORD_RESET_MAX_AGE = _int("PASSWORD_RESET_MAX_AGE", 3600)
        self.CONFIRM_MAX_AGE = _int("CONFIRM_MAX_AGE", 7 * 24 * 3600)

        # The outbox: how long a committed notification may wait for its job before
        # the relay enqueues it again, how long a worker's claim on a row lasts, and
        # how temporary SMTP failures back off before the row ends as failed.
        self.NOTIFICATION_RELAY_GRACE = _float("NOTIFICATION_RELAY_GRACE", 60.0)
        self.NOTIFICATION_CLAIM_SECONDS = _float("NOTIFICATION_CLAIM_SECONDS", 300.0)
        self.NOTIFICATION_RETRY_BASE = _float("NOTIFICATION_RETRY_BASE", 30.0)
        self.NOTIFICATION_RETRY_MAX = _float("NOTIFICATION_RETRY_MAX", 3600.0)
        self.NOTIFICATION_MAX_ATTEMPTS = _int("NOTIFICATION_MAX_ATTEMPTS", 8)

        # How often the worker runs the relay and the loan clock.
        self.WORKER_TICK_SECONDS = _float("WORKER_TICK_SECONDS", 30.0)
        # The hour (0-23), in each person's own time zone, from which their daily
        # digest is built (app/notifications/digest.py).
        self.DIGEST_HOUR = _int("DIGEST_HOUR", 8)
        if not 0 <= self.DIGEST_HOUR <= 23:
            raise ValueError(f"DIGEST_HOUR={self.DIGEST_HOUR} is not an hour (0-23)")
        # `worker.py status` exits 1 when a pending notification is older than this (s).
        self.WORKER_STATUS_MAX_PENDING_AGE = _float("WORKER_STATUS_MAX_PENDING_AGE", 600.0)

        # `python worker.py`: how many worker processes (more than one adds a
        # supervisor), which queues (comma-separated; empty = RQ_QUEUE), and the limits
        # after which a worker finishes its sends, exits 0 and is replaced: resident
        # memory in MiB (an idle worker holds about 50) and jobs done (0: no cap; the
        # memory cap is the guard against a leak). On SIGTERM the deliveries in hand
        # get WORKER_SHUTDOWN_GRACE seconds (under Heroku's 30) before they are given
        # back.
        self.WORKER_PROCESSES = _int("WORKER_PROCESSES", 1)
        # What this machine's workers are called in `worker.py status` (their names
        # start with it): set it where host names repeat or mean nothing (containers).
        self.WORKER_HOSTNAME = os.environ.get("WORKER_HOSTNAME", "").strip() or (
            socket.gethostname()
        )
        # How often each worker says it is alive; one silent for 3 beats is gone (its
        # jobs are relayed, its machine shows as died unless it stopped cleanly).
        self.WORKER_BEAT_SECONDS = _float("WORKER_BEAT_SECONDS", 5.0)
        self.WORKER_QUEUES = os.environ.get("WORKER_QUEUES", "")
        self.WORKER_MAX_MEMORY_MB = _float("WORKER_MAX_MEMORY_MB", 160.0)
        self.WORKER_MAX_JOBS = _int("WORKER_MAX_JOBS", 0)
        # How many mails one worker process sends at once, each on its own SMTP
        # connection. Mail servers answer in 50-300 ms; 16 at once keeps a process busy
        # against them. Lower it for a server that limits connections.
        self.WORKER_CONCURRENCY = _int("WORKER_CONCURRENCY", 16)
        # The mail provider's limit, in messages a second, shared by every worker
        # through Redis (SES allows 14 by default, Resend 2-5); 0 = no limit.
        self.MAIL_RATE_LIMIT = _float("MAIL_RATE_LIMIT", 0.0)
        self.WORKER_SHUTDOWN_GRACE = _float("WORKER_SHUTDOWN_GRACE", 25.0)
        # The supervisor restarts a worker that died with a growing delay (from
        # WORKER_RESTART_DELAY, doubling up to a minute) and gives up on it after
        # WORKER_FLAP_LIMIT failed starts within WORKER_FLAP_WINDOW seconds.
        self.WORKER_RESTART_DELAY = _float("WORKER_RESTART_DELAY", 1.0)
        self.WORKER_FLAP_LIMIT = _int("WORKER_FLAP_LIMIT", 5)
        self.WORKER_FLAP_WINDOW = _float("WORKER_FLAP_WINDOW", 300.0)

        # The JSON API: how long a bearer token lives, the largest request body, and
        # how many attempts at a token, a sign-up or a confirmation one client (by IP
        # address) may make, counted in the same Redis as the queue (Flask-Limiter).
        self.API_TOKEN_MAX_AGE = _int("API_TOKEN_MAX_AGE", 24 * 3600)
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 64 * 1024)
        self.RATELIMIT_AUTH = os.environ.get("RATELIMIT_AUTH", "10 per minute")
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        # How many proxies in front of the app set X-Forwarded-For and -Proto (a load
        # balancer, Heroku's router, nginx): the client's address and scheme are then
        # read from the entries those proxies added. 0 believes no such header, since
        # without a proxy that writes it a client could claim any address and so
        # escape the limits above; too high a number has the same effect.
        self.TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)

        # Sessions live in the database so that logging out, a password change and
        # "log out everywhere" end them on the server; a cookie alone could be replayed.
        self.WEB_SESSION_MAX_AGE = _int("WEB_SESSION_MAX_AGE", 14 * 24 * 3600)

        # Throttles shared by the web pages and the API (app/throttle.py), counted in
        # Redis: failed logins per account whatever the source address, and mail that
        # the sign-up, resend and forgot-password forms send to one address.
        self.RATELIMIT_LOGIN_FAILURES = os.environ.get(
            "RATELIMIT_LOGIN_FAILURES", "5 per 15 minutes"
        )
        self.RATELIMIT_MAIL_PER_ADDRESS = os.environ.get("RATELIMIT_MAIL_PER_ADDRESS", "3 per hour")
        # Mooch must not be a way to mail strangers: per user and day, how many
        # addresses they had no loan with may be named; per user and hour, how many
        # loans may be started. Counted in the database, so no Redis restart resets them.
        self.INVITES_PER_DAY = _int("INVITES_PER_DAY", 20)
        self.LOANS_PER_HOUR = _int("LOANS_PER_HOUR", 30)

        self.MOOCH_ENV = os.environ.get("MOOCH_ENV", "production")
