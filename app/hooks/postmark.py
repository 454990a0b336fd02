"""Postmark's bounce and spam complaint webhooks ("Bounce webhook", "Spam complaint
webhook" in Postmark's developer documentation), behind HTTP basic auth.

Postmark signs nothing: the webhook URL is set in Postmark with a user name and a
password (POSTMARK_WEBHOOK_USER, POSTMARK_WEBHOOK_PASSWORD), which it sends as basic
auth. Both must be set here, or the hook refuses every request; they are compared in
constant time.

- RecordType "Bounce" with a permanent Type (HardBounce: unknown user, no mailbox;
  BadEmailAddress: not a valid address; ManuallyDeactivated: deactivated in Postmark,
  which then sends nothing to it): suppressed at once. Soft and transient types
  (SoftBounce, Transient, DnsError, AutoResponder, ...) say nothing for good.
- RecordType "SpamComplaint" (or a bounce record of Type SpamComplaint): suppressed as
  a complaint.
- Anything else (deliveries, opens, clicks): nothing.
"""

from __future__ import annotations

import hmac

from flask import Request

from app.hooks.verdicts import Verdict, address_of

PROVIDER = "Postmark"
PERMANENT = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
COMPLAINT = "SpamComplaint"


def configured(config) -> bool:
    return bool(config.get("POSTMARK_WEBHOOK_USER") and config.get("POSTMARK_WEBHOOK_PASSWORD"))


def authorized(request: Request, config) -> bool:
    """Whether the request carries the configured basic auth (never, unconfigured)."""
    if not configured(config):
        return False
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    # Both compared, always: how long this takes says nothing about which was wrong.
    user = hmac.compare_digest(
        (auth.username or "").encode(), config["POSTMARK_WEBHOOK_USER"].encode()
    )
    password = hmac.compare_digest(
        (auth.password or "").encode(), config["POSTMARK_WEBHOOK_PASSWORD"].encode()
    )
    return user and password


def read(record: dict) -> tuple[list[Verdict], str | None]:
    """The verdict in one webhook record, and why there is none when that is worth
    saying. A record with no RecordType is read as a bounce (Postmark's older bounce
    webhook sent none)."""
    record_type = record.get("RecordType", "Bounce")
    kind = record.get("Type")
    if record_type == COMPLAINT or (record_type == "Bounce" and kind == COMPLAINT):
        complaint = True
    elif record_type == "Bounce" and kind in PERMANENT:
        complaint = False
    elif record_type == "Bounce":
        return [], f"a {str(kind)[:40]} bounce: nothing for good"
    else:
        return [], f"a {str(record_type)[:40]} record: nothing to stop"
    address = address_of(record.get("Email"))
    if address is None:
        return [], "no address in the record"
    name = record.get("Name") or kind or record_type
    reason = f"{PROVIDER}: {name}"
    details = record.get("Details")
    if isinstance(details, str) and details:
        reason += f": {details}"
    return [Verdict(address, complaint=complaint, reason=reason)], None
