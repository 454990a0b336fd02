"""Settings that shape connections: what reaches the drivers."""

from __future__ import annotations

import os

import pytest

from app import create_app
from app.jobqueue import connect


@pytest.mark.parametrize(
    ("url", "verify", "expected"),
    [
        ("rediss://h.example:6380/0", False, "none"),
        ("rediss://h.example:6380/0", True, None),  # redis-py's default: verify
        ("redis://h.example:6379/0", False, None),
    ],
)
def test_redis_tls_verification_can_be_turned_off_for_self_signed_servers(
    settings, url, verify, expected
):
    app = create_app({**settings, "REDIS_URL": url, "REDIS_TLS_VERIFY": verify})
    kwargs = connect(app).connection_pool.connection_kwargs
    assert kwargs.get("ssl_cert_reqs") == expected
    # The app's own client (queue, rate limits) is made the same way.
    assert app.extensions["redis"].connection_pool.connection_kwargs.get("ssl_cert_reqs") == (
        expected
    )


def test_postgresql_connections_time_out(settings):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    app = create_app({**settings, "SQLALCHEMY_DATABASE_URI": url, "DATABASE_CONNECT_TIMEOUT": 3})
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"]["connect_timeout"] == 3
    if not settings["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert "connect_args" not in create_app(settings).config["SQLALCHEMY_ENGINE_OPTIONS"]


PG = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def test_postgresql_pool_and_statement_timeout_are_settings(settings):
    app = create_app(
        {
            **settings,
            "SQLALCHEMY_DATABASE_URI": PG,
            "DATABASE_PGBOUNCER": False,
            "DATABASE_POOL_SIZE": 3,
            "DATABASE_MAX_OVERFLOW": 7,
            "DATABASE_POOL_TIMEOUT": 2.5,
            "DATABASE_POOL_RECYCLE": 600,
            "DATABASE_STATEMENT_TIMEOUT": 1500,
        }
    )
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"]) == (3, 7)
    assert (options["pool_timeout"], options["pool_recycle"]) == (2.5, 600)
    assert options["connect_args"]["options"] == "-c statement_timeout=1500"
    assert "prepare_threshold" not in options["connect_args"]


def test_behind_pgbouncer_nothing_outlives_a_transaction(settings):
    app = create_app({**settings, "SQLALCHEMY_DATABASE_URI": PG, "DATABASE_PGBOUNCER": True})
    connect_args = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert connect_args["prepare_threshold"] is None  # no server-side prepared statements
    assert "options" not in connect_args  # no session settings at connect


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL") or bool(os.environ.get("TEST_PGBOUNCER")),
    reason="needs PostgreSQL reached directly (TEST_DATABASE_URL without TEST_PGBOUNCER)",
)
def test_a_statement_longer_than_the_timeout_is_cancelled(settings):
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from app.extensions import db

    app = create_app({**settings, "DATABASE_STATEMENT_TIMEOUT": 200})
    with app.app_context():
        try:
            with pytest.raises(OperationalError, match="statement timeout"):
                db.session.execute(text("SELECT pg_sleep(2)"))
            db.session.rollback()
            assert db.session.execute(text("SELECT 1")).scalar() == 1
        finally:
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("10.0.0.1:26379", [("10.0.0.1", 26379)]),
        (" a.example:26379, b.example:26380 ,", [("a.example", 26379), ("b.example", 26380)]),
        ("[::1]:26379", [("::1", 26379)]),
    ],
)
def test_sentinels_are_read_as_host_port_pairs(monkeypatch, value, expected):
    from config import Config

    monkeypatch.setenv("REDIS_SENTINELS", value)
    found = Config().REDIS_SENTINELS
    assert found == expected


@pytest.mark.parametrize("value", ["a.example", "a.example:", ":26379", "a.example:99999", "a:b"])
def test_a_sentinel_that_is_not_host_port_stops_the_start(monkeypatch, value):
    from config import Config

    monkeypatch.setenv("REDIS_SENTINELS", value)
    with pytest.raises(ValueError, match="REDIS_SENTINELS"):
        Config()


def test_with_sentinels_the_client_asks_them_for_the_master(settings):
    app = create_app(
        {
            **settings,
            "REDIS_URL": "redis://:secret@ignored.example:1/3",
            "REDIS_SENTINELS": [("s1.example", 26379), ("s2.example", 26380)],
            "REDIS_SENTINEL_MASTER": "mooch",
            "REDIS_SENTINEL_PASSWORD": "sentinel-secret",
        }
    )
    pool = connect(app, socket_timeout=2.5).connection_pool
    assert pool.service_name == "mooch"
    assert [
        (c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        for c in pool.sentinel_manager.sentinels
    ] == [("s1.example", 26379), ("s2.example", 26380)]
    sentinel_kwargs = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel_kwargs["password"] == "sentinel-secret"
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"], kwargs["socket_timeout"]) == (3, "secret", 2.5)
    assert "host" not in kwargs  # the sentinels say where the master is
