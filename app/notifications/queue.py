"""The app's Redis connection and its RQ queue (explicit connection, JSON jobs)."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer


def init_app(app: Flask) -> None:
    app.extensions["redis"] = connect(
        app,
        socket_connect_timeout=app.config["REDIS_CONNECT_TIMEOUT"],
        socket_timeout=app.config["REDIS_SOCKET_TIMEOUT"],
    )


def connect(app: Flask, **options) -> Redis:
    """A new client for REDIS_URL. Hosted Redis over TLS (rediss://) may present a
    certificate no CA signed (Heroku Redis does): REDIS_TLS_VERIFY=false accepts it."""
    url = app.config["REDIS_URL"]
    if url.startswith("rediss://") and not app.config["REDIS_TLS_VERIFY"]:
        options.setdefault("ssl_cert_reqs", "none")
    return Redis.from_url(url, **options)


def redis_connection(app: Flask | None = None) -> Redis:
    return (app or current_app).extensions["redis"]


def mail_queue(app: Flask | None = None) -> Queue:
    app = app or current_app
    return Queue(
        app.config["RQ_QUEUE"], connection=redis_connection(app), serializer=JSONSerializer
    )


def job_id(notification_id: int) -> str:
    return f"notification-{notification_id}"
