"""Why a mail failed, in words for the people it concerns (not for an admin).

A row ends `failed` with `last_error` holding what went wrong: usually the SMTP
server's refusal, as smtplib reported it (`SMTPRecipientsRefused: {'a@b': (550,
b'5.1.1 No such mailbox')}`), or a message that could not be built. `explain` turns
that into a sentence about the person who was not told, and keeps the server's own
words for those who want them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _

# smtplib's (code, b'text') pair, wherever it sits in the error's repr.
_REPLY = re.compile(r"\((\d{3}), b?(['\"])(.*?)\2\)")
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class Failure:
    reason: str  # "… mail server says this address does not exist"
    server_said: str | None  # "550 5.1.1 No such mailbox", when the server said it


def _reply(error: str) -> tuple[int | None, str]:
    found = _REPLY.search(error)
    if not found:
        return None, ""
    return int(found.group(1)), " ".join(found.group(3).split())[:200]


def explain(error: str | None, whose: str) -> Failure:
    """`whose` is how the recipient is named to the reader ("Ana", or an address)."""
    error = error or ""
    code, text = _reply(error)
    enhanced = _ENHANCED.search(text)
    detail = enhanced.group(0) if enhanced else ""
    server_said = f"{code} {text}".strip() if code else None
    if "could not build the message" in error or "is not a valid email address" in error:
        return Failure(
            _("we could not send to %(whose)s’s address as it is written", whose=whose), None
        )
    if code is None:
        return Failure(_("we could not deliver our message to %(whose)s", whose=whose), None)
    if detail.startswith("5.1.") or (code in (550, 551, 553) and "mailbox" in text.lower()):
        reason = _("%(whose)s’s mail server says this address does not exist", whose=whose)
    elif detail.startswith("5.2.") or code == 552:
        reason = _("%(whose)s’s mailbox is full or unavailable", whose=whose)
    elif detail.startswith("5.7.") or code == 554:
        reason = _("%(whose)s’s mail server refused our message", whose=whose)
    else:
        reason = _("%(whose)s’s mail server would not take our message", whose=whose)
    return Failure(reason, server_said)
