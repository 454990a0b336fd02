"""A provider's verdict on one address, and what Mooch does with it: suppress it at
once (a provider's word needs no count of MAIL_BOUNCE_LIMIT), as a bounce or as a
complaint. Logs name the address's domain, never the address."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr

from app.notifications import suppression

log = logging.getLogger(__name__)

# An address longer than this is no address (RFC 5321), and no column of ours holds it.
MAX_ADDRESS = 254


@dataclass(frozen=True)
class Verdict:
    address: str
    complaint: bool  # the person marked our mail as spam; else a permanent bounce
    reason: str  # what the provider said, for the admin page and the person


def address_of(value: object) -> str | None:
    """The bare address in what a provider reported ("jane@example.com", or
    "Jane <jane@example.com>"), or None for anything that is not one."""
    if not isinstance(value, str):
        return None
    address = parseaddr(value)[1].strip()
    if not 3 <= len(address) <= MAX_ADDRESS or "@" not in address[1:-1]:
        return None
    if any(char.isspace() or not char.isprintable() for char in address):
        return None
    return address


def apply(verdicts: Iterable[Verdict], provider: str) -> int:
    """Suppress every address the verdicts name; returns how many. Idempotent."""
    done = 0
    for verdict in verdicts:
        suppression.report(verdict.address, verdict.reason, complaint=verdict.complaint)
        kind = "complaint" if verdict.complaint else "bounce"
        domain = verdict.address.rsplit("@", 1)[-1]
        log.warning(
            "%s reported a %s: an address at %s gets no more mail",
            provider,
            kind,
            domain,
            extra={"fields": {"event": "suppressed", "provider": provider, "kind": kind,
                              "domain": domain}},
        )  # fmt: skip
        done += 1
    return done
