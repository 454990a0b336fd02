"""Fixtures for the provider hooks: a signing key and certificate of our own for SNS
(AWS's cannot be had offline), the documented messages signed with it, and a local
stand-in for the network served through the app's fetch seam."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from app.extensions import db
from app.hooks import FETCH
from app.models import MailSuppression
from tests.hooks import samples
from tests.web.conftest import Browser

TOPIC = samples.SNS_NOTIFICATION["TopicArn"]
CERT_URL = samples.SNS_NOTIFICATION["SigningCertURL"]

# The signed keys of each message type, in the order AWS documents them
# ("Verifying the signatures of Amazon SNS messages"), written out again here rather
# than taken from the code under test.
DOCUMENTED_KEYS = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
    ],
}  # fmt: skip


class LocalFetch:
    """The fetch seam, with no network: serves the documents it was given by URL and
    remembers every URL it was asked for."""

    def __init__(self, documents: dict[str, bytes] | None = None) -> None:
        self.documents = dict(documents or {})
        self.asked: list[str] = []

    def get(self, url: str) -> bytes:
        self.asked.append(url)
        if url not in self.documents:
            raise OSError(f"nothing at {url} (no network in the tests)")
        return self.documents[url]


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com (test)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return _key()


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return _key()


@pytest.fixture(scope="session")
def certificate(signing_key) -> bytes:
    return _certificate(signing_key)


@pytest.fixture
def fetch(app, certificate) -> LocalFetch:
    """This app's fetch seam: our certificate at the documented SigningCertURL, and
    the documented SubscribeURL answering as SNS does."""
    subscribe = samples.SNS_SUBSCRIPTION_CONFIRMATION["SubscribeURL"]
    local = LocalFetch({CERT_URL: certificate, subscribe: b"<ConfirmSubscriptionResponse/>"})
    app.extensions[FETCH] = local
    return local


@pytest.fixture
def client_for(app):
    """A new browser (its own cookies) per call, logged in as `user` if given."""
    app.test_client_class = Browser

    def new(user=None) -> Browser:
        client = app.test_client()
        return client.log_in(user) if user is not None else client

    return new


@pytest.fixture
def ses_hook(app, fetch):
    """The SES hook configured for the documented topic."""
    app.config["SES_SNS_TOPIC_ARNS"] = TOPIC
    return app


def sign(message: dict, key: rsa.RSAPrivateKey, version: str = "1") -> dict:
    """`message` with SignatureVersion `version` and our signature over the string to
    sign, built as AWS documents it."""
    signed = {**message, "SignatureVersion": version}
    text = "".join(
        f"{name}\n{signed[name]}\n" for name in DOCUMENTED_KEYS[signed["Type"]] if name in signed
    )
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), algorithm)
    signed["Signature"] = base64.b64encode(signature).decode("ascii")
    return signed


def ses_notification(
    event: str, key: rsa.RSAPrivateKey, version: str = "1", sent: datetime | None = None
) -> dict:
    """The documented SNS notification carrying the SES event `event`, signed, with
    its Timestamp now (or `sent`): the documented one is from 2012, and an old
    notification is refused as a replay."""
    stamp = (sent or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return sign({**samples.SNS_NOTIFICATION, "Message": event, "Timestamp": stamp}, key, version)


def post_sns(client, message: dict | str):
    """POST as SNS does: a JSON body sent as text/plain."""
    body = message if isinstance(message, str) else json.dumps(message)
    return client.post(
        "/hooks/mail/ses",
        data=body,
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": message["Type"] if isinstance(message, dict) else "",
        },
    )


def suppressions() -> dict[str, MailSuppression]:
    db.session.expire_all()
    rows = db.session.scalars(select(MailSuppression)).all()
    return {row.address: row for row in rows}
