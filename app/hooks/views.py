"""POST /hooks/mail/<provider>: `ses` (Amazon SES through an SNS topic) and `postmark`.

A provider posts here with no login, no session and no CSRF token (the blueprint is
exempt from CSRFProtect; no rate limit applies to it). What it proves instead is
checked before anything is written: the SNS signature and topic, or Postmark's basic
auth. The answer comes at once, as JSON:

- 200 {"status", "suppressed"}: taken (also when it suppresses nothing). The same
  report again, as providers send it until they see a 2xx, changes nothing more.
- 400: the body is not a JSON object. 403: not proven to come from the provider, or
  the provider is not configured here; nothing written. 404: no such provider.
- 503 with Retry-After: an SNS signing certificate, or the subscription's
  confirmation, could not be fetched just now (SNS tries again on a 5xx).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.hooks import CERTIFICATES, FETCH, postmark, ses, sns
from app.hooks.verdicts import apply

log = logging.getLogger(__name__)

hooks = Blueprint("hooks", __name__, url_prefix="/hooks")

# An SNS message may carry 256 KiB; with its envelope and JSON escapes, this is room.
MAX_BODY = 512 * 1024
RETRY_AFTER = 30  # seconds


class BadBody(Exception):
    pass


def _answer(http_status: int, /, **body) -> Response:
    response = jsonify(body)
    response.status_code = http_status
    return response


def _error(status: int, code: str, message: str) -> Response:
    return _answer(status, error={"code": code, "message": message})


@hooks.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Response:
    return _error(413, "too_large", f"The body is larger than {MAX_BODY} bytes.")


def _body() -> dict:
    """The request's body as a JSON object, whatever its Content-Type (SNS sends
    text/plain); BadBody saying why otherwise."""
    request.max_content_length = max(request.max_content_length or 0, MAX_BODY)
    raw = request.get_data(cache=False)
    try:
        found = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadBody("The body is not JSON.") from None
    if not isinstance(found, dict):
        raise BadBody("The body is JSON, but not an object.")
    return found


def _topics() -> set[str]:
    configured = current_app.config.get("SES_SNS_TOPIC_ARNS") or ""
    if isinstance(configured, str):
        configured = configured.split(",")
    return {arn.strip() for arn in configured if arn and arn.strip()}


# -- Amazon SES, through SNS -----------------------------------------------------------


def from_ses() -> Response:
    topics = _topics()
    if not topics:
        log.warning("SNS hook: refused, SES_SNS_TOPIC_ARNS is not set")
        return _error(403, "not_configured", "This hook is not configured.")
    try:
        message = _body()
    except BadBody as exc:
        return _error(400, "invalid", str(exc))
    fetch = current_app.extensions[FETCH]
    try:
        sns.verify(message, topics, fetch, current_app.extensions[CERTIFICATES])
    except sns.Refused as exc:
        log.warning("SNS hook: refused a message: %s", exc)
        return _error(403, "forbidden", "This message is not signed by Amazon SNS for our topic.")
    except sns.Unreachable as exc:
        log.warning("SNS hook: %s", exc)
        return _unavailable("The signing certificate could not be fetched; try again.")
    topic, kind = message["TopicArn"], message["Type"]
    if kind == sns.SUBSCRIBE:
        return _confirm_subscription(message, fetch)
    if kind == sns.UNSUBSCRIBE:
        log.warning("SNS hook: this endpoint was unsubscribed from %s", topic)
        return _answer(200, status="unsubscription noted", suppressed=0)
    verdicts, why_none = ses.read(message.get("Message"))
    if why_none:
        log.info("SNS hook: %s (message %s)", why_none, message.get("MessageId"))
    return _answer(200, status="taken", suppressed=apply(verdicts, ses.PROVIDER))


def _confirm_subscription(message: dict, fetch: sns.Fetch) -> Response:
    """Confirm a subscription SNS signed for one of our topics by fetching its
    SubscribeURL (checked to be on an SNS host by sns.verify). The URL is logged too,
    for a deployer to confirm by hand should the fetch fail."""
    url, topic = message["SubscribeURL"], message["TopicArn"]
    log.warning("SNS hook: subscription to %s; confirming by visiting %s", topic, url)
    try:
        fetch.get(url)
    except (OSError, ValueError) as exc:
        log.warning("SNS hook: could not confirm (%s); visit %s to confirm by hand", exc, url)
        return _unavailable("The subscription could not be confirmed just now.")
    log.warning("SNS hook: subscription to %s confirmed", topic)
    return _answer(200, status="subscription confirmed", suppressed=0)


def _unavailable(message: str) -> Response:
    response = _error(503, "unavailable", message)
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


# -- Postmark ----------------------------------------------------------------------


def from_postmark() -> Response:
    if not postmark.configured(current_app.config):
        log.warning("Postmark hook: refused, POSTMARK_WEBHOOK_USER/PASSWORD are not set")
        return _error(403, "not_configured", "This hook is not configured.")
    if not postmark.authorized(request, current_app.config):
        log.warning("Postmark hook: refused a request with wrong or missing credentials")
        return _error(403, "forbidden", "Wrong or missing credentials.")
    try:
        record = _body()
    except BadBody as exc:
        return _error(400, "invalid", str(exc))
    verdicts, why_none = postmark.read(record)
    if why_none:
        log.info("Postmark hook: %s", why_none)
    return _answer(200, status="taken", suppressed=apply(verdicts, postmark.PROVIDER))


PROVIDERS: dict[str, Callable[[], Response]] = {"ses": from_ses, "postmark": from_postmark}


@hooks.post("/mail/<provider>")
def mail(provider: str) -> Response:
    handle = PROVIDERS.get(provider)
    if handle is None:
        return _error(404, "not_found", f"No such provider; there are: {', '.join(PROVIDERS)}.")
    return handle()
