"""Settings that shape connections: what reaches the drivers."""

from __future__ import annotations

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
    assert create_app(settings).config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args") in (
        None,
        {"connect_timeout": 5},  # the suite itself may run on PostgreSQL
    )
