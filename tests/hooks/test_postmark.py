"""POST /hooks/mail/postmark: Postmark's bounce and spam complaint webhooks, with the
documented example payloads (tests/hooks/samples.py), behind HTTP basic auth; and
what both hooks owe any provider: no CSRF token, no rate limit, 404 for an unknown
one."""

from __future__ import annotations

import base64
import json

import pytest

from app.extensions import db
from app.notifications import outbox, suppression
from tests.hooks import samples
from tests.hooks.conftest import suppressions

USER, PASSWORD = "postmark", "a long random webhook password"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def postmark_hook(app):
    app.config.update(POSTMARK_WEBHOOK_USER=USER, POSTMARK_WEBHOOK_PASSWORD=PASSWORD)
    return app


def post(client, body: str, headers: dict | None = None):
    return client.post(
        "/hooks/mail/postmark",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def test_a_hard_bounce_suppresses_the_address(postmark_hook, client_for, make, enqueued):
    john = make.user("John", email="john@example.com")
    response = post(client_for(), samples.POSTMARK_BOUNCE, basic(USER, PASSWORD))
    assert response.status_code == 200
    assert response.get_json() == {"status": "taken", "suppressed": 1}
    entry = suppressions()["john@example.com"]
    assert entry.suppressed_at is not None
    assert entry.reason == "Postmark: Hard bounce: Test bounce details"
    assert suppression.kind(entry.reason) == suppression.BOUNCE_KIND
    # And it holds: the next mail to John is recorded suppressed.
    outbox.record("welcome", john)
    db.session.commit()
    assert [(n.notifier, n.status) for n in enqueued.notifications()] == [("welcome", "suppressed")]


@pytest.mark.parametrize("kind", ["BadEmailAddress", "ManuallyDeactivated"])
def test_the_other_permanent_types_suppress_too(kind, postmark_hook, client_for):
    record = {**json.loads(samples.POSTMARK_BOUNCE), "Type": kind, "Name": kind}
    response = post(client_for(), json.dumps(record), basic(USER, PASSWORD))
    assert response.get_json()["suppressed"] == 1
    assert "john@example.com" in suppressions()


@pytest.mark.parametrize(
    ("kind", "code"),
    [("SoftBounce", 4096), ("Transient", 2), ("DnsError", 256), ("AutoResponder", 64)],
)
def test_soft_and_transient_bounces_record_nothing(kind, code, postmark_hook, client_for):
    record = {**json.loads(samples.POSTMARK_BOUNCE), "Type": kind, "TypeCode": code}
    response = post(client_for(), json.dumps(record), basic(USER, PASSWORD))
    assert response.status_code == 200
    assert response.get_json()["suppressed"] == 0
    assert suppressions() == {}


def test_a_spam_complaint_suppresses_as_a_complaint(postmark_hook, client_for):
    response = post(client_for(), samples.POSTMARK_SPAM_COMPLAINT, basic(USER, PASSWORD))
    assert response.get_json() == {"status": "taken", "suppressed": 1}
    entry = suppressions()["john@example.com"]
    assert suppression.kind(entry.reason) == suppression.COMPLAINT_KIND
    assert "Test spam complaint details" in entry.reason


def test_the_same_report_twice_changes_nothing_more(postmark_hook, client_for):
    client = client_for()
    post(client, samples.POSTMARK_BOUNCE, basic(USER, PASSWORD))
    first = suppressions()["john@example.com"]
    since = first.suppressed_at
    assert post(client, samples.POSTMARK_BOUNCE, basic(USER, PASSWORD)).status_code == 200
    assert suppressions()["john@example.com"].suppressed_at == since


def test_other_records_are_taken_and_suppress_nothing(postmark_hook, client_for):
    delivery = {"RecordType": "Delivery", "Recipient": "john@example.com", "ServerID": 23}
    response = post(client_for(), json.dumps(delivery), basic(USER, PASSWORD))
    assert response.get_json() == {"status": "taken", "suppressed": 0}
    assert suppressions() == {}


@pytest.mark.parametrize(
    "headers",
    [
        basic(USER, "wrong password"),
        basic("someone", PASSWORD),
        basic(USER, PASSWORD[:-1]),
        basic("", ""),
        {"Authorization": "Bearer " + PASSWORD},
        {"Authorization": "Basic not-base64!"},
        {},
    ],
    ids=["wrong-password", "wrong-user", "almost", "empty", "bearer", "garbled", "none"],
)
def test_wrong_or_missing_credentials_are_refused(headers, postmark_hook, client_for):
    for body in (samples.POSTMARK_BOUNCE, samples.POSTMARK_SPAM_COMPLAINT, "not json"):
        response = post(client_for(), body, headers)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "forbidden"
    assert suppressions() == {}


@pytest.mark.parametrize(
    "configured",
    [{}, {"POSTMARK_WEBHOOK_USER": USER}, {"POSTMARK_WEBHOOK_PASSWORD": PASSWORD}],
    ids=["neither", "no-password", "no-user"],
)
def test_unconfigured_it_refuses_everyone(configured, app, client_for):
    app.config.update(configured)
    for headers in (basic(USER, PASSWORD), basic("", ""), basic(USER, ""), {}):
        response = post(client_for(), samples.POSTMARK_BOUNCE, headers)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "not_configured"
    assert suppressions() == {}


def test_a_body_that_is_not_json_is_a_clear_400(postmark_hook, client_for):
    response = post(client_for(), "{not json", basic(USER, PASSWORD))
    assert response.status_code == 400
    assert response.get_json() == {"error": {"code": "invalid", "message": "The body is not JSON."}}


def test_an_unknown_provider_is_404(app, client_for):
    response = client_for().post("/hooks/mail/sendgrid", data="{}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_no_csrf_token_and_no_rate_limit_stand_in_the_way(postmark_hook, client_for):
    postmark_hook.config["WTF_CSRF_ENABLED"] = True  # as in production
    postmark_hook.config["RATELIMIT_AUTH"] = "2 per minute"
    client = client_for()
    for _ in range(12):
        response = post(client, samples.POSTMARK_BOUNCE, basic(USER, PASSWORD))
        assert response.status_code == 200, response.get_data(as_text=True)
    assert "john@example.com" in suppressions()


def test_a_body_larger_than_an_sns_message_is_refused(postmark_hook, client_for):
    huge = json.dumps({"RecordType": "Delivery", "Details": "x" * (600 * 1024)})
    response = post(client_for(), huge, basic(USER, PASSWORD))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
