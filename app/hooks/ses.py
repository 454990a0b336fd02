"""What an Amazon SES event says of whom ("Amazon SNS notification contents for
Amazon SES"), read from the `Message` of a verified SNS notification.

- notificationType (or, with event publishing, eventType) "Bounce" with bounceType
  "Permanent": each of bounce.bouncedRecipients[].emailAddress is suppressed at once.
  "Transient" and "Undetermined" say nothing for good: nothing is recorded.
- "Complaint": each of complaint.complainedRecipients[].emailAddress is suppressed as
  a complaint, unless the feedback type is "not-spam" (the person said it was not).
- Anything else (a delivery, a message published by hand): nothing.
"""

from __future__ import annotations

import json

from app.hooks.verdicts import Verdict, address_of

PROVIDER = "Amazon SES"


def read(message: object) -> tuple[list[Verdict], str | None]:
    """The verdicts in an SNS notification's `Message`, and why there are none when
    that is worth saying (for the log and the answer)."""
    try:
        event = json.loads(message) if isinstance(message, str) else None
    except ValueError:
        event = None
    if not isinstance(event, dict):
        return [], "the message is not an Amazon SES event"
    kind = event.get("notificationType") or event.get("eventType")
    if kind == "Bounce":
        return _bounce(event.get("bounce"))
    if kind == "Complaint":
        return _complaint(event.get("complaint"))
    return [], f"an Amazon SES event that suppresses nothing ({str(kind)[:40]})"


def _recipients(block: dict, key: str) -> list[dict]:
    found = block.get(key)
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _bounce(bounce: object) -> tuple[list[Verdict], str | None]:
    if not isinstance(bounce, dict):
        return [], "a bounce event without its bounce"
    if bounce.get("bounceType") != "Permanent":
        return [], f"a {str(bounce.get('bounceType'))[:40].lower()} bounce: nothing for good"
    subtype = bounce.get("bounceSubType")
    verdicts = []
    for recipient in _recipients(bounce, "bouncedRecipients"):
        address = address_of(recipient.get("emailAddress"))
        if address is None:
            continue
        said = recipient.get("diagnosticCode") or recipient.get("status")
        reason = f"{PROVIDER}: permanent bounce"
        if isinstance(subtype, str) and subtype:
            reason += f" ({subtype})"
        if isinstance(said, str) and said:
            reason += f": {said}"
        verdicts.append(Verdict(address, complaint=False, reason=reason))
    return verdicts, None


def _complaint(complaint: object) -> tuple[list[Verdict], str | None]:
    if not isinstance(complaint, dict):
        return [], "a complaint event without its complaint"
    feedback = complaint.get("complaintFeedbackType")
    if feedback == "not-spam":
        return [], "a not-spam report: nothing to stop"
    reason = f"{PROVIDER}: complaint"
    if isinstance(feedback, str) and feedback:
        reason += f" (feedback type {feedback})"
    agent = complaint.get("userAgent")
    if isinstance(agent, str) and agent:
        reason += f", reported by {agent}"
    verdicts = []
    for recipient in _recipients(complaint, "complainedRecipients"):
        address = address_of(recipient.get("emailAddress"))
        if address is not None:
            verdicts.append(Verdict(address, complaint=True, reason=reason))
    return verdicts, None
