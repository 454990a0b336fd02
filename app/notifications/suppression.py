"""Addresses that stop getting mail because they hard-bounce or complain (issue 12, part 4).

A send the receiving server refuses for the address itself (SMTP 5xx to RCPT TO, e.g.
"550 5.1.1 user unknown") counts against that address; after MAIL_BOUNCE_LIMIT (2)
such refusals it is suppressed. The list is consulted when a notification row is made
(outbox.record): a suppressed address's row is recorded `suppressed` with the reason,
and the loan page tells the other party ("Ana's address bounced; ask her for
another"). An admin lifts an address on /admin/suppressions; nothing is dropped in the
worker. A refusal of the message (5xx to DATA) or a template error is not the
address's fault and counts nothing.

A mail provider's own verdict, from its webhook (app/hooks: Amazon SES through SNS,
Postmark), suppresses at once (`report`): a permanent bounce, or a complaint (the
person marked our mail as spam). A complaint's reason starts with COMPLAINT, so the
pages can say which it was; any other reason is a bounce. The person lifts their own
address by confirming it again from their account page (app.accounts.service,
confirm_address), which `forget`s the entry: a later bounce counts afresh.
"""

from __future__ import annotations

import re
import smtplib

from flask import current_app
from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.extensions import db
from app.models import MailSuppression, utcnow
from app.notifications.failures import explain
from app.transaction import autocommit

# A suppressed row's reason starts with one of these (the loan page and the admin say
# why): the address bounced, or its owner marked our mail as spam.
BOUNCED = "the address bounced"
COMPLAINED = "the recipient marked our mail as spam"
# An entry whose reason starts with this was suppressed for a complaint.
COMPLAINT = "complaint: "
# The two kinds of entry, as `kind` names them.
BOUNCE_KIND, COMPLAINT_KIND = "bounce", "complaint"


def key(address: str) -> str:
    return address.strip().lower()


def kind(text: str | None) -> str:
    """COMPLAINT_KIND for an entry's reason, or a suppressed row's last_error, that
    tells of a complaint; BOUNCE_KIND for any other."""
    return COMPLAINT_KIND if (text or "").startswith((COMPLAINT, COMPLAINED)) else BOUNCE_KIND


def detail(reason: str | None) -> str:
    """An entry's reason without its kind: what the server or the provider said."""
    reason = reason or ""
    return reason[len(COMPLAINT) :] if reason.startswith(COMPLAINT) else reason


def said(reason: str | None) -> str:
    """What the server or the provider said, for a person to read: an SMTP refusal's
    own reply ("550 5.1.1 No such user"), or the provider's report as recorded."""
    text = detail(reason)
    return explain(text, "").server_said or text


def row_reason(entry: MailSuppression) -> str:
    """The last_error of a row recorded `suppressed` because of `entry`."""
    if kind(entry.reason) == COMPLAINT_KIND:
        return f"{COMPLAINED}: {detail(entry.reason)}"
    return f"{BOUNCED}: {entry.reason}"


def _reason_kept(table, new_reason):
    """The reason an upsert leaves: a complaint already on record stays (it says more
    about what the person wants than any bounce after it); else the new one."""
    complained = table.c.suppressed_at.is_not(None) & table.c.reason.startswith(COMPLAINT)
    return case((complained, table.c.reason), else_=new_reason)


def _insert(table):
    return pg_insert(table) if db.engine.dialect.name == "postgresql" else sqlite_insert(table)


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
    statement = _insert(table).values(
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
            "reason": _reason_kept(table, statement.excluded.reason),
            "suppressed_at": case(
                (table.c.suppressed_at.is_not(None), table.c.suppressed_at),
                (failures >= limit, now),
                else_=None,
            ),
        },
    )
    with autocommit() as connection:
        connection.execute(statement)
        suppressed = connection.execute(
            select(table.c.suppressed_at).where(table.c.address == key(address))
        ).scalar_one_or_none()
    return suppressed is not None


def report(address: str, reason: str, *, complaint: bool = False) -> None:
    """A mail provider's verdict on `address` (a permanent bounce, or with `complaint`
    the person marked our mail as spam): suppressed at once, whatever
    MAIL_BOUNCE_LIMIT says. Idempotent, as providers send a report again until it is
    taken: the moment it was first suppressed is kept, and a complaint's reason is
    never replaced by a bounce's. One autocommit statement, like `record_bounce`."""
    now = utcnow()
    table = MailSuppression.__table__
    text = (COMPLAINT + reason if complaint else reason)[:2000]
    statement = _insert(table).values(
        address=key(address), reason=text, failures=1, suppressed_at=now, created_at=now
    )
    excluded = statement.excluded.reason
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.address],
        set_={
            "reason": excluded if complaint else _reason_kept(table, excluded),
            "suppressed_at": func.coalesce(table.c.suppressed_at, now),
        },
    )
    with autocommit() as connection:
        connection.execute(statement)


def suppressed(address: str) -> MailSuppression | None:
    """The address's entry if it no longer gets mail (part of the caller's session)."""
    return db.session.scalar(select(MailSuppression).where(*_suppressing(address)))


def suppressed_query(address: str):
    """The key of the address's entry if it no longer gets mail, as a scalar subquery
    (NULL otherwise), for a caller that asks it with other things in one statement."""
    return select(MailSuppression.address).where(*_suppressing(address)).scalar_subquery()


def _suppressing(address: str) -> tuple:
    return MailSuppression.address == key(address), MailSuppression.suppressed_at.is_not(None)


def listed() -> list[MailSuppression]:
    return list(
        db.session.scalars(
            select(MailSuppression)
            .where(MailSuppression.suppressed_at.is_not(None))
            .order_by(MailSuppression.suppressed_at.desc())
        )
    )


def forget(address: str) -> bool:
    """Let the address get mail again, its count started afresh, as part of the
    caller's transaction. True if it was listed."""
    done = db.session.execute(
        delete(MailSuppression).where(MailSuppression.address == key(address))
    )
    return bool(done.rowcount)


def lift(address: str) -> bool:
    """Let the address get mail again, its count started afresh. True if it was listed."""
    done = forget(address)
    db.session.commit()
    return done
