"""Every error the API gives is JSON in one shape, with the status that fits."""

from __future__ import annotations

import json
import logging
import socket
from datetime import timedelta

import pytest

from app import create_app
from app.extensions import db
from app.models import Loan, utcnow
from tests.api.client import Api
from tests.support import PASSWORD, Factory, log_in_client, notifications


def error_of(response) -> dict:
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "field"}
    return body["error"]


# -- 400 ----------------------------------------------------------------------------

LOAN = {"role": "lender", "counterparty_email": "x@example.com", "item": "x"}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "role", "The role is required."),
        (
            {"role": "borrower", "counterparty_email": "x@example.com", "item": "x", "due": "x"},
            "due",
            "Unknown field 'due'; the fields are role, counterparty_email, item, due_date, "
            "message.",
        ),
        (
            {"role": "thief", "counterparty_email": "x@example.com", "item": "x"},
            "role",
            "The role must be one of: lender, borrower.",
        ),
        (
            {"role": "lender", "counterparty_email": 7, "item": "x"},
            "counterparty_email",
            "The counterparty_email must be text.",
        ),
        (
            {"role": "lender", "counterparty_email": "x@example.com", "item": ""},
            "item",
            "The item cannot be empty.",
        ),
        (
            {"role": "lender", "counterparty_email": "x@example.com", "item": "x" * 201},
            "item",
            "The item is longer than 200 characters.",
        ),
        (
            {**LOAN, "message": 3},
            "message",
            "The message must be text or null.",
        ),
        (
            {**LOAN, "due_date": "20991231"},
            "due_date",
            "'20991231' is not a date (use YYYY-MM-DD).",
        ),
        (
            {**LOAN, "due_date": "2000-01-01"},
            "due_date",
            "The due date is in the past.",
        ),
        (
            {"role": "lender", "counterparty_email": "x@example", "item": "x"},
            "counterparty_email",
            None,
        ),
        (
            {"role": "lender", "counterparty_email": "x@example.com", "item": "drill\x00"},
            "item",
            "The item contains a NUL character or an unpaired surrogate.",
        ),
        (
            {"role": "lender", "counterparty_email": "x@example.com", "item": "drill\ud800"},
            "item",
            "The item contains a NUL character or an unpaired surrogate.",
        ),
    ],
    ids=lambda v: None,
)  # fmt: skip
def test_an_invalid_body_is_400_naming_the_field(body, field, message, api, make, enqueued):
    lena = make.user("Lena")
    response = api.post("/loans", body, as_=lena)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["field"]) == ("invalid", field)
    if message:
        assert error["message"] == message
    assert db.session.query(Loan).count() == 0 and enqueued.mail() == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "The body is not valid JSON."),
        (b"{", "The body is not valid JSON."),
        (b'{"role": NaN}', "The body is not valid JSON."),
        (b"\xff\xfe{}", "The body is not valid JSON."),
        (b"[]", "The body must be a JSON object."),
        (b'"text"', "The body must be a JSON object."),
        (b"null", "The body must be a JSON object."),
    ],
    ids=["empty", "truncated", "nan", "not-utf8", "array", "string", "null"],
)
def test_a_malformed_body_is_400(raw, message, api, make):
    lena = make.user("Lena")
    response = api.post("/loans", data=raw, content_type="application/json", as_=lena)
    assert response.status_code == 400
    assert error_of(response) == {"code": "invalid", "message": message}


def test_a_deeply_nested_body_within_the_size_limit_is_400(api, make):
    lena = make.user("Lena")
    raw = b"[" * 30_000 + b"]" * 30_000
    response = api.post("/loans", data=raw, content_type="application/json", as_=lena)
    assert response.status_code == 400
    assert error_of(response)["message"] == "The body is not valid JSON."


# -- 401, 403, 404, 405 -----------------------------------------------------------------


def test_a_loan_that_does_not_exist_and_one_that_is_not_yours_look_the_same(api, make):
    lena, bram, sam = make.user("Lena"), make.user("Bram"), make.user("Sam")
    theirs = make.loan(lena, bram)
    missing = theirs.id + 1000
    for path in (f"/loans/{theirs.id}", f"/loans/{missing}"):
        assert api.get(path, as_=sam).json == {
            "error": {"code": "not_found", "message": "No such loan."}
        }
    for path in (f"/loans/{theirs.id}/events", f"/loans/{missing}/events"):
        response = api.post(path, {"event": "accept"}, as_=sam)
        assert response.status_code == 404
        assert response.json == {"error": {"code": "not_found", "message": "No such loan."}}


@pytest.mark.parametrize("loan_id", ["0", "-1", "abc", "2147483648", "99999999999999999999999"])
def test_an_id_that_cannot_name_a_loan_is_404(loan_id, api, make):
    lena = make.user("Lena")
    for method in ("GET", "POST"):
        suffix = "" if method == "GET" else "/events"
        response = api.call(method, f"/loans/{loan_id}{suffix}", as_=lena)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


def test_unknown_api_paths_and_methods_are_json(api, make):
    missing = api.get("/nothing/here")
    assert (missing.status_code, error_of(missing)["code"]) == (404, "not_found")
    wrong = api.call("DELETE", "/loans")
    assert (wrong.status_code, error_of(wrong)["code"]) == (405, "method_not_allowed")
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}
    also = api.client.get("/api/elsewhere")
    assert (also.status_code, also.json["error"]["code"]) == (404, "not_found")


def test_pages_outside_the_api_keep_html_errors(app):
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


# -- 409 ----------------------------------------------------------------------------


def test_an_event_not_allowed_in_the_state_is_409(api, make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="requested")
    response = api.post(f"/loans/{loan.id}/events", {"event": "confirm_return"}, as_=lena)
    assert response.status_code == 409
    assert error_of(response) == {
        "code": "invalid_state",
        "message": "“Confirm return” is not possible now: this loan is “Requested”.",
    }
    assert enqueued.mail() == []


def test_an_event_on_a_stale_version_is_409_and_sends_nothing(api, make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = make.loan(lena, bram, state="agreed")
    seen = api.get(f"/loans/{loan.id}", as_=bram).json["version"]
    # Lena hands it over first; Bram's cancel was meant for the loan as he saw it.
    due = (utcnow().date() + timedelta(days=3)).isoformat()
    handed = api.post(f"/loans/{loan.id}/events", {"event": "hand_over", "due_date": due}, as_=lena)
    assert handed.status_code == 200 and handed.json["version"] > seen
    mail = enqueued.mail()
    stale = api.post(f"/loans/{loan.id}/events", {"event": "cancel", "version": seen}, as_=bram)
    assert stale.status_code == 409
    assert error_of(stale) == {
        "code": "conflict",
        "message": "This loan has changed since you loaded it. Reload and try again.",
    }
    unversioned = api.post(f"/loans/{loan.id}/events", {"event": "cancel"}, as_=bram)
    assert unversioned.status_code == 409
    assert error_of(unversioned)["code"] == "invalid_state"
    assert enqueued.mail() == mail


# -- 413, 415 -------------------------------------------------------------------------


def test_a_body_too_large_is_413(api, make):
    lena = make.user("Lena")
    body = {"role": "lender", "counterparty_email": "x@example.com", "item": "x" * 70_000}
    response = api.post("/loans", body, as_=lena)
    assert response.status_code == 413
    assert error_of(response) == {
        "code": "too_large",
        "message": "The body is larger than 65536 bytes.",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "role=lender", "content_type": "application/x-www-form-urlencoded"},
        {"data": '{"email": "x"}', "content_type": "text/plain"},
        {"data": '{"email": "x"}'},
    ],
)
def test_a_body_that_is_not_json_is_415(kwargs, api):
    response = api.post("/users", **kwargs)
    assert response.status_code == 415
    assert error_of(response) == {
        "code": "unsupported_media_type",
        "message": "Send a JSON body with Content-Type: application/json.",
    }


def test_json_with_a_charset_or_a_json_suffix_is_json(api, make):
    lena = make.user("Lena")
    body = json.dumps({"email": lena.email, "password": PASSWORD})
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = api.post("/auth/token", data=body, content_type=content_type)
        assert response.status_code == 200, content_type


# -- 429 ----------------------------------------------------------------------------


@pytest.fixture
def three_a_minute(settings):
    settings["RATELIMIT_AUTH"] = "3 per minute"


def test_too_many_attempts_at_a_token_are_429(three_a_minute, api, make, redis):
    lena = make.user("Lena")
    wrong = {"email": lena.email, "password": "not the password"}
    for _ in range(3):
        assert api.post("/auth/token", wrong).status_code == 401
    # Even the right password, now: it is the attempts that are counted.
    refused = api.post("/auth/token", {"email": lena.email, "password": PASSWORD})
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "rate_limited"
    assert "3 per 1 minute" in error["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Counted in the app's Redis, so every web process shares the count.
    assert any(b"mooch-auth" in key for key in redis.scan_iter())

    # Another client is counted apart; the other limited endpoints too; the rest is not limited.
    other = {"environ_base": {"REMOTE_ADDR": "192.0.2.7"}}
    assert api.post("/auth/token", wrong, **other).status_code == 401
    assert api.post("/users/confirm", {"token": "x"}).status_code == 400
    for _ in range(5):
        assert api.get("/loans", as_=lena).status_code == 200


def test_sign_up_and_confirm_are_limited_too(three_a_minute, api, enqueued):
    for n in range(3):
        body = {"email": f"u{n}@example.com", "name": "U"}
        assert api.post("/users", body).status_code == 202
    body = {"email": "u9@example.com", "name": "U"}
    assert api.post("/users", body).status_code == 429
    confirm = {"token": "x", "password": "kettle mosaic harbor"}
    for _ in range(3):
        assert api.post("/users/confirm", confirm).status_code == 400
    assert api.post("/users/confirm", confirm).status_code == 429
    for n in range(3):
        resend = {"email": f"r{n}@example.com"}
        assert api.post("/users/confirm/resend", resend).status_code == 202
    assert api.post("/users/confirm/resend", {"email": "r9@example.com"}).status_code == 429
    assert len(enqueued.mail()) == 3


def test_the_limit_resets_with_a_fresh_redis(three_a_minute, api, make, redis):
    lena = make.user("Lena")
    wrong = {"email": lena.email, "password": "not the password"}
    for _ in range(3):
        api.post("/auth/token", wrong)
    assert api.post("/auth/token", wrong).status_code == 429
    redis.flushdb()
    assert api.post("/auth/token", wrong).status_code == 401


def _dead_redis_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_with_redis_down_the_api_serves_and_limits_from_memory(three_a_minute, settings, caplog):
    settings["REDIS_URL"] = _dead_redis_url()
    down = create_app(settings)
    with down.app_context():
        try:
            lena = Factory(down).user("Lena")
            api = Api(down, down.test_client())
            caplog.set_level(logging.WARNING, logger="flask-limiter")
            for _ in range(3):
                issued = api.post("/auth/token", {"email": lena.email, "password": PASSWORD})
                assert issued.status_code == 200
            # The sign-up commits; its mail waits in the outbox for Redis.
            body = {"email": "new@example.com", "name": "New"}
            assert api.post("/users", body).status_code == 202
            assert [(n.notifier, n.status) for n in notifications()] == [
                ("signup_confirmation", "pending")
            ]
            assert "falling back to in-memory storage" in caplog.text
            refused = api.post("/auth/token", {"email": lena.email, "password": PASSWORD})
            assert refused.status_code == 429
        finally:
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


# -- 500 ----------------------------------------------------------------------------


def test_a_crash_is_a_json_500_without_a_traceback(settings, caplog):
    settings["TESTING"] = False
    crashing = create_app(settings)

    @crashing.get("/api/v1/crash")
    def crash():
        raise RuntimeError("secret internals")

    with crashing.app_context():
        response = crashing.test_client().get("/api/v1/crash")
        db.session.remove()
    assert response.status_code == 500
    assert response.json == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side; it has been logged.",
        }
    }
    assert b"secret internals" not in response.data and b"Traceback" not in response.data
    assert "secret internals" in caplog.text


# -- CSRF -----------------------------------------------------------------------------


def test_the_api_needs_no_csrf_token(settings, make):
    settings["WTF_CSRF_ENABLED"] = True
    protected = create_app(settings)
    lena = make.user("Lena")
    with protected.app_context():
        response = protected.test_client().post(
            "/api/v1/auth/token", json={"email": lena.email, "password": PASSWORD}
        )
        db.session.remove()
    assert response.status_code == 200


def test_a_session_cookie_does_not_authenticate(api, make):
    lena = make.user("Lena")
    log_in_client(api.client, lena)
    assert api.get("/loans").status_code == 401
