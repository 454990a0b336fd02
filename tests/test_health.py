"""GET /healthz: the database and Redis, reachable or not, as JSON for a load balancer."""

from __future__ import annotations

import socket
import time

import pytest

from app.extensions import db
from tests.processes import free_port
from tests.support import log_in_client


def check(app, path: str = "/healthz"):
    return app.test_client().get(path)


def assert_cheap(response) -> None:
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert not any(h.lower().startswith("x-ratelimit") for h, _ in response.headers)


def test_both_up_is_200(app):
    response = check(app)
    assert response.status_code == 200
    assert_cheap(response)
    body = response.get_json()
    assert set(body) == {"status", "database", "redis"}
    assert body["status"] == "ok"
    for part in ("database", "redis"):
        assert set(body[part]) == {"ok", "ms"} and body[part]["ok"] is True
        assert isinstance(body[part]["ms"], int | float) and body[part]["ms"] >= 0


def test_it_leaves_no_connection_or_transaction_open(app):
    assert check(app).status_code == 200
    assert db.engine.pool.checkedout() == 0
    assert not db.session().in_transaction()


def test_it_is_not_rate_limited_and_sets_no_cookie_for_a_logged_in_visitor(app, make):
    client = app.test_client()
    log_in_client(client, make.user())
    for _ in range(30):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert_cheap(response)


@pytest.fixture
def redis_down(settings):
    settings["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"


def test_redis_down_is_503(redis_down, app):
    started = time.monotonic()
    response = check(app)
    assert time.monotonic() - started < 5  # a safety bound; it answers at once here
    assert response.status_code == 503
    assert_cheap(response)
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] is True
    assert body["redis"] == {"ok": False, "error": "ConnectionError"}


@pytest.fixture
def redis_hung(settings):
    """A server that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        settings["REDIS_URL"] = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
        yield


def test_a_hung_redis_is_503_after_one_short_timeout(redis_hung, app):
    """The probe's own client: one try with a 1 s timeout, where the app's client would
    wait its 5 s socket timeout and retry."""
    started = time.monotonic()
    response = check(app)
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.get_json()["redis"] == {"ok": False, "error": "TimeoutError"}


@pytest.fixture
def database_down(settings, tmp_path):
    settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path}/no/such/dir/mooch.db"


def test_database_down_is_503(database_down, app):
    response = check(app)
    assert response.status_code == 503
    assert_cheap(response)
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["database"] == {"ok": False, "error": "OperationalError"}
    assert body["redis"]["ok"] is True


def test_only_get(app):
    assert app.test_client().post("/healthz").status_code == 405
