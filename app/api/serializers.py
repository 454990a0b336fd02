"""Rows to JSON, in the shapes app/api/spec.py documents (tests check each one)."""

from __future__ import annotations

from datetime import date, datetime

from app.lending import service as lending
from app.lending.mail_view import SeenMail, mail_as_seen
from app.models import AuditEvent, Loan, User
from app.notifications.failures import explain


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: datetime | None) -> str | None:
    # Stored as naive UTC (app.models.utcnow).
    return value.isoformat(timespec="seconds") + "Z" if value else None


def user(account: User) -> dict:
    return {"id": account.id, "email": account.email, "name": account.name, "state": account.state}


def party(account: User, loan: Loan, viewer: User) -> dict:
    # Until the counterparty answers, the initiator sees them by the address typed.
    return {"id": account.id, "name": loan.shown_name(account, viewer), "email": account.email}


def loan_summary(loan: Loan, viewer: User) -> dict:
    return {
        "id": loan.id,
        "item": loan.item,
        "message": loan.message,
        "state": loan.state,
        "role": loan.role_of(viewer),
        "lender": party(loan.lender, loan, viewer),
        "borrower": party(loan.borrower, loan, viewer),
        "due_date": _date(loan.due_date),
        "created_at": _time(loan.created_at),
        "version": loan.version,
        "allowed_events": lending.allowed_events(loan, viewer),
    }


def audit_event(event: AuditEvent, loan: Loan, viewer: User) -> dict:
    return {
        "event": event.event,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "actor": party(event.actor, loan, viewer) if event.actor else None,
        "at": _time(event.created_at),
        "note": event.note,
    }


def notification(mail: SeenMail, loan: Loan, viewer: User) -> dict:
    problem = None
    if mail.status == "failed":
        whose = loan.shown_name(mail.row.recipient, viewer)
        problem = explain(mail.row.last_error, whose).reason
    return {
        "notifier": mail.notifier,
        "recipient": mail.row.recipient_email,
        "status": mail.status,
        "sent_at": _time(mail.sent_at),
        "problem": problem,
    }


def loan(row: Loan, viewer: User) -> dict:
    return {
        **loan_summary(row, viewer),
        "events": [audit_event(e, row, viewer) for e in row.events],
        "notifications": [notification(n, row, viewer) for n in mail_as_seen(row, viewer)],
    }


def loan_list(
    loans: list[Loan], viewer: User, next_path: str | None, next_cursor: str | None
) -> dict:
    return {
        "loans": [loan_summary(each, viewer) for each in loans],
        "next": next_path,
        "next_cursor": next_cursor,
    }
