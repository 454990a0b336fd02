"""POST /hooks/mail/ses: Amazon SES bounce and complaint events through an SNS topic,
with the documented sample messages (tests/hooks/samples.py) signed by a test key
whose certificate the app's fetch seam serves at the documented SigningCertURL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.hooks import sns
from app.lending import service as lending
from app.models import Notification
from app.notifications import suppression
from tests.hooks import samples
from tests.hooks.conftest import (
    CERT_URL,
    TOPIC,
    post_sns,
    ses_notification,
    sign,
    suppressions,
)


def test_the_string_to_sign_is_the_documented_one():
    message = samples.SNS_STRING_TO_SIGN_MESSAGE
    assert sns.string_to_sign(message) == samples.SNS_STRING_TO_SIGN.encode()
    # Subject is signed only when the message has one.
    without = {k: v for k, v in message.items() if k != "Subject"}
    assert b"Subject" not in sns.string_to_sign(without)


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_permanent_bounce_suppresses_and_a_new_loan_to_it_is_suppressed(
    version, ses_hook, client_for, make, enqueued, fetch, signing_key
):
    lena = make.user("Lena")
    jane = make.user("Jane", email="jane@example.com")
    response = post_sns(
        client_for(), ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key, version)
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "taken", "suppressed": 1}
    [entry] = suppressions().values()
    assert entry.address == "jane@example.com" and entry.suppressed_at is not None
    assert suppression.kind(entry.reason) == suppression.BOUNCE_KIND
    assert "550 5.1.1 <jane@example.com>... User" in entry.reason
    assert fetch.asked == [CERT_URL]

    # A provider's word needs no second refusal: the next loan's mail to Jane is
    # recorded suppressed, never queued; Lena's own mail still goes.
    loan = lending.create_loan(lena, "lender", jane.email, "tent")
    lending.fire_event(jane, loan.id, "accept")
    rows = {(n.notifier, n.recipient_email): n for n in enqueued.notifications()}
    offered = rows[("loan_offered", "jane@example.com")]
    assert offered.status == "suppressed"
    assert offered.last_error.startswith(suppression.BOUNCED)
    assert rows[("loan_accepted", lena.email)].status == "pending"
    assert str(offered.id) not in " ".join(enqueued.job_ids())


def test_a_bounce_without_a_dsn_suppresses_every_recipient(ses_hook, client_for, signing_key):
    message = ses_notification(samples.SES_BOUNCE_WITHOUT_DSN, signing_key)
    assert post_sns(client_for(), message).get_json()["suppressed"] == 2
    assert set(suppressions()) == {"jane@example.com", "richard@example.com"}
    assert "General" in suppressions()["richard@example.com"].reason


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_a_transient_or_undetermined_bounce_records_nothing(
    bounce_type, ses_hook, client_for, signing_key
):
    event = json.loads(samples.SES_BOUNCE_WITH_DSN)
    event["bounce"]["bounceType"] = bounce_type
    event["bounce"]["bounceSubType"] = (
        "MailboxFull" if bounce_type == "Transient" else "Undetermined"
    )
    response = post_sns(client_for(), ses_notification(json.dumps(event), signing_key))
    assert response.status_code == 200
    assert response.get_json()["suppressed"] == 0
    assert suppressions() == {}


def test_a_complaint_suppresses_and_the_loan_page_says_so(ses_hook, client_for, make, signing_key):
    lena = make.user("Lena")
    richard = make.user("Richard", email="richard@example.com")
    message = ses_notification(samples.SES_COMPLAINT_WITH_FEEDBACK, signing_key, "2")
    assert post_sns(client_for(), message).get_json() == {"status": "taken", "suppressed": 1}
    entry = suppressions()["richard@example.com"]
    assert suppression.kind(entry.reason) == suppression.COMPLAINT_KIND
    assert "abuse" in entry.reason and "AnyCompany Feedback Loop" in entry.reason

    loan = make.loan(lena, richard, state="requested")
    lending.fire_event(lena, loan.id, "accept")
    [accepted] = db.session.scalars(
        select(Notification).where(Notification.recipient_email == richard.email)
    )
    assert accepted.status == "suppressed"
    assert accepted.last_error.startswith(suppression.COMPLAINED)
    html = client_for(lena).page(f"/loans/{loan.id}")
    assert "not emailed: Richard marked our mail as spam, so Mooch stopped emailing them" in html
    assert "address bounced" not in html
    # Richard reads it of himself, with the way back.
    html = client_for(richard).page(f"/loans/{loan.id}")
    assert "not emailed: you marked our mail as spam" in html
    assert 'href="/account#address"' in html


def test_a_later_bounce_does_not_hide_a_complaint(ses_hook, client_for, signing_key):
    client = client_for()
    post_sns(client, ses_notification(samples.SES_COMPLAINT_WITH_FEEDBACK, signing_key))
    post_sns(client, ses_notification(samples.SES_BOUNCE_WITHOUT_DSN, signing_key))
    found = suppressions()
    assert suppression.kind(found["richard@example.com"].reason) == suppression.COMPLAINT_KIND
    assert suppression.kind(found["jane@example.com"].reason) == suppression.BOUNCE_KIND


def test_the_same_report_twice_changes_nothing_more(ses_hook, client_for, fetch, signing_key):
    client = client_for()
    message = ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key)
    assert post_sns(client, message).status_code == 200
    first = suppressions()["jane@example.com"]
    since, reason = first.suppressed_at, first.reason
    assert post_sns(client, message).status_code == 200
    again = suppressions()
    assert list(again) == ["jane@example.com"]
    assert (again["jane@example.com"].suppressed_at, again["jane@example.com"].reason) == (
        since,
        reason,
    )
    assert fetch.asked == [CERT_URL]  # the certificate is kept, not fetched per message


def test_a_bad_signature_is_refused_and_writes_nothing(ses_hook, client_for, fetch, signing_key):
    message = ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key)
    # Someone changes whom the bounce names: the signature no longer matches.
    message["Message"] = message["Message"].replace("jane@example.com", "lena@example.com")
    response = post_sns(client_for(), message)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert suppressions() == {}


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_message_signed_by_another_key_is_refused(version, ses_hook, client_for, other_key):
    response = post_sns(
        client_for(), ses_notification(samples.SES_BOUNCE_WITH_DSN, other_key, version)
    )
    assert response.status_code == 403
    assert suppressions() == {}


@pytest.mark.parametrize(("age", "code"), [(timedelta(hours=2), 403), (timedelta(minutes=-10), 403),
                                           (timedelta(minutes=50), 200)])  # fmt: skip
def test_an_old_notification_is_refused_as_a_replay(age, code, ses_hook, client_for, signing_key):
    """A notification signed long ago (or in the future) proves only that SNS once sent
    it: replayed after its owner lifted the suppression, it would suppress them again."""
    sent = datetime.now(UTC) - age
    message = ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key, sent=sent)
    response = post_sns(client_for(), message)
    assert response.status_code == code, response.get_json()
    assert bool(suppressions()) == (code == 200)


def test_a_signature_of_another_version_is_refused(ses_hook, client_for, signing_key):
    message = ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key, "1")
    message["SignatureVersion"] = "2"  # a SHA1 signature presented as SHA256
    assert post_sns(client_for(), message).status_code == 403
    message["SignatureVersion"] = "3"
    assert post_sns(client_for(), message).status_code == 403
    assert suppressions() == {}


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-west-2.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "http://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "https://sns.us-west-2.amazonaws.com:8443/cert.pem",
        "https://user@sns.us-west-2.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/sns.us-west-2.amazonaws.com/cert.pem",
        "https://sns.us-west-2.amazonaws.com@evil.example/cert.pem",
        "https://sns.s3.amazonaws.com/cert.pem",  # a bucket called "sns"
        "https://sns.s3-website-us-east-1.amazonaws.com/cert.pem",
    ],
)
def test_a_certificate_on_a_foreign_host_is_refused_without_fetching(
    url, ses_hook, client_for, fetch, signing_key
):
    message = sign(
        {**samples.SNS_NOTIFICATION, "Message": samples.SES_BOUNCE_WITH_DSN, "SigningCertURL": url},
        signing_key,
    )
    fetch.documents[url] = fetch.documents[CERT_URL]  # were it fetched, it would verify
    response = post_sns(client_for(), message)
    assert response.status_code == 403
    assert fetch.asked == []
    assert suppressions() == {}


def test_an_unknown_topic_is_refused_without_fetching(ses_hook, client_for, fetch, signing_key):
    other = "arn:aws:sns:us-west-2:999999999999:SomeoneElsesTopic"
    message = sign(
        {**samples.SNS_NOTIFICATION, "Message": samples.SES_BOUNCE_WITH_DSN, "TopicArn": other},
        signing_key,
    )
    assert post_sns(client_for(), message).status_code == 403
    assert fetch.asked == [] and suppressions() == {}


def test_topics_are_a_comma_separated_list(app, fetch, client_for, signing_key):
    app.config["SES_SNS_TOPIC_ARNS"] = f"arn:aws:sns:eu-west-1:123456789012:Other, {TOPIC}"
    message = ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key)
    assert post_sns(client_for(), message).status_code == 200


def test_without_topics_the_hook_refuses_everything(app, fetch, client_for, signing_key):
    assert not app.config["SES_SNS_TOPIC_ARNS"]
    response = post_sns(client_for(), ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "not_configured"
    assert fetch.asked == [] and suppressions() == {}


def test_a_subscription_is_confirmed_and_its_url_logged(
    ses_hook, client_for, fetch, signing_key, caplog
):
    url = samples.SNS_SUBSCRIPTION_CONFIRMATION["SubscribeURL"]
    message = sign(samples.SNS_SUBSCRIPTION_CONFIRMATION, signing_key)
    with caplog.at_level(logging.INFO, logger="app.hooks"):
        response = post_sns(client_for(), message)
    assert response.status_code == 200
    assert response.get_json()["status"] == "subscription confirmed"
    assert fetch.asked == [CERT_URL, url]
    assert url in caplog.text
    assert suppressions() == {}


def test_a_subscription_that_cannot_be_confirmed_now_asks_sns_to_retry(
    ses_hook, client_for, fetch, signing_key, caplog
):
    url = samples.SNS_SUBSCRIPTION_CONFIRMATION["SubscribeURL"]
    del fetch.documents[url]
    with caplog.at_level(logging.WARNING, logger="app.hooks"):
        response = post_sns(client_for(), sign(samples.SNS_SUBSCRIPTION_CONFIRMATION, signing_key))
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert f"visit {url} to confirm by hand" in caplog.text


def test_a_subscription_to_a_foreign_url_is_not_fetched(ses_hook, client_for, fetch, signing_key):
    message = sign(
        {**samples.SNS_SUBSCRIPTION_CONFIRMATION, "SubscribeURL": "https://evil.example/confirm"},
        signing_key,
    )
    assert post_sns(client_for(), message).status_code == 403
    assert fetch.asked == []


def test_a_certificate_that_cannot_be_fetched_asks_sns_to_retry(
    ses_hook, client_for, fetch, signing_key
):
    del fetch.documents[CERT_URL]
    response = post_sns(client_for(), ses_notification(samples.SES_BOUNCE_WITH_DSN, signing_key))
    assert response.status_code == 503
    assert suppressions() == {}


def test_other_sns_messages_are_taken_and_suppress_nothing(ses_hook, client_for, signing_key):
    client = client_for()
    # The documented notification itself (sent now): "Hello world!" is no SES event.
    hello = ses_notification(samples.SNS_NOTIFICATION["Message"], signing_key)
    response = post_sns(client, hello)
    assert response.get_json() == {"status": "taken", "suppressed": 0}
    delivery = json.dumps({"notificationType": "Delivery", "mail": {}, "delivery": {}})
    assert post_sns(client, ses_notification(delivery, signing_key)).status_code == 200
    assert suppressions() == {}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("this is not json", "The body is not JSON."),
        ("[1, 2, 3]", "The body is JSON, but not an object."),
        ('{"Type": ', "The body is not JSON."),
        ("\xff\xfe", "The body is not JSON."),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_clear_400(body, said, ses_hook, client_for):
    response = client_for().post(
        "/hooks/mail/ses", data=body.encode("latin-1"), content_type="text/plain"
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": {"code": "invalid", "message": said}}
    assert suppressions() == {}


def test_a_message_larger_than_the_apps_usual_limit_is_taken(
    app, ses_hook, client_for, signing_key
):
    """SNS carries up to 256 KiB, SES headers and all: more than the 64 KiB the app
    takes from a form."""
    event = json.loads(samples.SES_BOUNCE_WITH_DSN)
    event["mail"]["headers"].append({"name": "X-Padding", "value": "x" * (200 * 1024)})
    message = ses_notification(json.dumps(event), signing_key)
    assert len(json.dumps(message)) > app.config["MAX_CONTENT_LENGTH"]
    response = post_sns(client_for(), message)
    assert response.status_code == 200
    assert list(suppressions()) == ["jane@example.com"]


@pytest.mark.parametrize(
    "host",
    ["sns.us-east-1.amazonaws.com", "sns.us-gov-west-1.amazonaws.com",
     "sns.cn-north-1.amazonaws.com.cn", "sns.ap-southeast-7.amazonaws.com"],
)  # fmt: skip
def test_the_regions_hosts_are_sns_hosts(host):
    assert sns.is_sns_url(f"https://{host}/SimpleNotificationService-0123.pem")
