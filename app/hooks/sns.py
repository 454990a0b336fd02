"""Amazon SNS messages to an HTTPS endpoint, checked as AWS documents it ("Verifying
the signatures of Amazon SNS messages", and the message formats of the SNS
Developer Guide).

A message is believed only if all of these hold, checked in this order, so that
nothing is fetched for a message that fails a check that needs no network:

1. its `Type` is one SNS sends (Notification, SubscriptionConfirmation,
   UnsubscribeConfirmation) and its `TopicArn` is one of ours (SES_SNS_TOPIC_ARNS):
   any AWS account can have SNS sign messages of a topic of its own;
2. its `SigningCertURL` (and a confirmation's `SubscribeURL`) is https on
   sns.<region>.amazonaws.com (or .amazonaws.com.cn), with no port or user;
3. its `SignatureVersion` is 1 (SHA1withRSA) or 2 (SHA256withRSA);
4. the certificate at that URL, fetched over verified TLS (redirects refused) and
   kept per process, is within its validity dates, and its RSA key verifies the
   base64 `Signature` over the string to sign: "Name\\nvalue\\n" for each signed
   key of the type, in byte order, `Subject` only when present;
5. a notification's signed `Timestamp` is within the last hour (MAX_AGE): an old
   one is a replay.

The network is reached through one object with a `get(url) -> bytes` method (the
fetch seam, app.extensions[app.hooks.FETCH]): HttpsFetch here, a local one in tests.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

NOTIFICATION = "Notification"
SUBSCRIBE = "SubscriptionConfirmation"
UNSUBSCRIBE = "UnsubscribeConfirmation"

# The signed keys of each type, in byte order; `Subject` is signed when present.
_CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                      "Type")  # fmt: skip
SIGNED_KEYS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIBE: _CONFIRMATION_KEYS,
    UNSUBSCRIBE: _CONFIRMATION_KEYS,
}
OPTIONAL_KEYS = frozenset({"Subject"})
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
# How old a notification may be, and how far ahead of our clock, to be taken.
MAX_AGE = timedelta(hours=1)
MAX_AHEAD = timedelta(minutes=5)

# sns.<region>.amazonaws.com(.cn), the region spelled as AWS spells them (us-east-1,
# us-gov-west-1, cn-north-1), so that no name a customer may choose fits: a bucket
# called "sns" is served at sns.s3.amazonaws.com.
_SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com(?:\.cn)?")


class Refused(Exception):
    """Not proven to come from Amazon SNS for one of our topics: answered 403."""


class Unreachable(Exception):
    """The signing certificate could not be fetched just now: answered 503, so SNS
    sends the message again."""


def is_sns_url(url: object) -> bool:
    """https on sns.<region>.amazonaws.com(.cn), on the default port, with no user."""
    if not isinstance(url, str) or len(url) > 2048:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and port is None
        and parts.netloc == parts.hostname  # no user, no port, no trailing oddity
        and _SNS_HOST.fullmatch(parts.hostname or "") is not None
    )


def string_to_sign(message: dict) -> bytes:
    """The canonical string SNS signed for this message."""
    lines = []
    for key in SIGNED_KEYS[message["Type"]]:
        value = message.get(key)
        if value is None and key in OPTIONAL_KEYS:
            continue
        if not isinstance(value, str):
            raise Refused(f"the signed key {key} is missing")
        lines += [key, value]
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


# -- the network ---------------------------------------------------------------------


class Fetch(Protocol):
    def get(self, url: str) -> bytes: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError: a redirect is no answer of SNS's


class HttpsFetch:
    """GET an https URL with verified TLS, no redirects, bounded in time and size."""

    def __init__(self, timeout: float = 5.0, limit: int = 64 * 1024) -> None:
        self.timeout = timeout
        self.limit = limit
        self._opener = urllib.request.build_opener(_NoRedirects)

    def get(self, url: str) -> bytes:
        if urlsplit(url).scheme != "https":
            raise ValueError("only https is fetched")
        request = urllib.request.Request(url, headers={"User-Agent": "Mooch"})
        with self._opener.open(request, timeout=self.timeout) as response:
            body = response.read(self.limit + 1)
        if len(body) > self.limit:
            raise ValueError(f"more than {self.limit} bytes at {url}")
        return body


class Certificates:
    """Signing certificates by URL, each fetched once per process and kept (SNS signs
    with a few, for months). At most `keep`; the oldest goes first."""

    def __init__(self, keep: int = 16) -> None:
        self.keep = keep
        self._found: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str, fetch: Fetch) -> x509.Certificate:
        with self._lock:
            if url in self._found:
                return self._found[url]
        try:
            pem = fetch.get(url)
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, too large
            raise Unreachable(f"could not fetch the signing certificate: {exc}") from exc
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise Refused("the signing certificate is not a PEM certificate") from exc
        with self._lock:
            self._found[url] = certificate
            while len(self._found) > self.keep:
                self._found.popitem(last=False)
        return certificate


# -- the checks ----------------------------------------------------------------------


def verify(
    message: dict,
    topics: Collection[str],
    fetch: Fetch,
    certificates: Certificates,
    now: datetime | None = None,
) -> None:
    """Raise Refused unless `message` is signed by Amazon SNS for one of `topics`
    (Unreachable when the certificate cannot be fetched now). Checks in the order of
    the module's docstring: nothing is fetched for a foreign topic or host."""
    kind = message.get("Type")
    if kind not in SIGNED_KEYS:
        raise Refused(f"not a message type SNS sends: {str(kind)[:40]!r}")
    if message.get("TopicArn") not in topics:
        raise Refused("a topic this app was not told to take messages from")
    url = message.get("SigningCertURL")
    if not is_sns_url(url):
        raise Refused("the signing certificate is not on an Amazon SNS host")
    if kind != NOTIFICATION and not is_sns_url(message.get("SubscribeURL")):
        raise Refused("the SubscribeURL is not on an Amazon SNS host")
    algorithm = HASHES.get(message.get("SignatureVersion"))
    if algorithm is None:
        raise Refused("an unknown SignatureVersion")
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise Refused("the signature is not base64") from exc
    signed = string_to_sign(message)
    certificate = certificates.get(url, fetch)
    now = now or datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Refused("the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise Refused("the signing certificate's key is not RSA")
    try:
        key.verify(signature, signed, PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise Refused("the signature does not match") from exc
    if kind == NOTIFICATION:
        _fresh(message.get("Timestamp"), now)


def _fresh(stamp: object, now: datetime) -> None:
    """A signed notification proves only that SNS sent it once: replayed later (after
    its owner lifted the suppression, say) it must not count again. SNS retries an
    HTTPS delivery for up to an hour by default; a clock a little ahead is allowed."""
    try:
        sent = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused("the Timestamp is not a time") from exc
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    if not now - MAX_AGE <= sent <= now + MAX_AHEAD:
        raise Refused(f"sent at {stamp}, too long ago (or ahead) to be taken: a replay?")
