"""Addresses that stop getting mail because they hard-bounce (issue 12, part 4).

A send the receiving server refuses for the address itself (SMTP 5xx to RCPT TO, e.g.
"550 5.1.1 user unknown") counts against that address; after MAIL_BOUNCE_LIMIT (2)
such refusals it is suppressed. The list is consulted when a notification row is made
(outbox.record): a suppressed address's row is recorded `suppressed` with the reason,
and the loan page tells the other party ("Ana's address bounced; ask her for
another"). An admin lifts an address on /admin/suppressions; nothing is dropped in the
worker. A refusal of the message (5xx to DATA) or a template error is not the
address's fault and counts nothing.
"""

from __future__ import annotations

import re
import smtplib

from flask import current_app
from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.models import MailSuppression, utcnow

# A suppressed row's reason starts with this (the loan page and the admin say why).
BOUNCED = "the address bounced"


def key(address: str) -> str:
    return address.strip().lower()


# RFC 3463 enhanced status codes that blame the address: 5.1.x (bad mailbox, bad
# system, moved, no MX) and 5.2.1 (mailbox disabled). A 5.7.x (policy, spam) or a
# 5.3.x (the server's own trouble) is not the address's fault.
_ADDRESS_STATUS = re.compile(r"\b5\.(?:1\.\d{1,3}|2\.1)\b")


def is_bounce(exc: BaseException) -> bool:
    """Whether the server refused the address itself, for good: every recipient
    refused with a 5xx at RCPT TO, or a 5xx reply whose enhanced status blames the
    address (e.g. "550 5.1.1 No such user" to DATA)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        return bool(replies) and all(500 <= code < 600 for code, _ in replies)
    code = getattr(exc, "smtp_code", None)
    if not isinstance(code, int) or not 500 <= code < 600:
        return False
    said = getattr(exc, "smtp_error", b"")
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return bool(_ADDRESS_STATUS.search(text))


def record_bounce(address: str, reason: str) -> bool:
    """Count one permanent refusal of `address` (its own autocommit statement, safe
    against any number of workers at once); True once the address is suppressed."""
    limit = int(current_app.config["MAIL_BOUNCE_LIMIT"])
    now = utcnow()
    table = MailSuppression.__table__
    dialect = db.engine.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(
        address=key(address),
        reason=reason[:2000],
        failures=1,
        suppressed_at=now if limit <= 1 else None,
        created_at=now,
    )
    failures = table.c.failures + 1
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.address],
        set_={
            "failures": failures,
            "reason": statement.excluded.reason,
            "suppressed_at": case(
                (table.c.suppressed_at.is_not(None), table.c.suppressed_at),
                (failures >= limit, now),
                else_=None,
            ),
        },
    )
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(statement)
        suppressed = connection.execute(
            select(table.c.suppressed_at).where(table.c.address == key(address))
        ).scalar_one_or_none()
    return suppressed is not None


def suppressed(address: str) -> MailSuppression | None:
    """The address's entry if it no longer gets mail (part of the caller's session)."""
    return db.session.scalar(
        select(MailSuppression).where(
            MailSuppression.address == key(address), MailSuppression.suppressed_at.is_not(None)
        )
    )


def listed() -> list[MailSuppression]:
    return list(
        db.session.scalars(
            select(MailSuppression)
            .where(MailSuppression.suppressed_at.is_not(None))
            .order_by(MailSuppression.suppressed_at.desc())
        )
    )


def lift(address: str) -> bool:
    """Let the address get mail again, its count started afresh. True if it was listed."""
    done = db.session.execute(
        delete(MailSuppression).where(MailSuppression.address == key(address))
    )
    db.session.commit()
    return bool(done.rowcount)
