"""Rows to JSON, in the shapes app/api/spec.py documents (tests check each one)."""

from __future__ import annotations

from datetime import date, datetime

from app.lending import service as lending
from app.models import AuditEvent, Loan, Notification, User


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: datetime | None) -> str | None:
    # Stored as naive UTC (app.models.utcnow).
    return value.isoformat(timespec="seconds") + "Z" if value else None


def user(account: User) -> dict:
    return {"id": account.id, "email": account.email, "name": account.name, "state": account.state}


def party(account: User) -> dict:
    return {"id": account.id, "name": account.name, "email": account.email}


def loan_summary(loan: Loan, viewer: User) -> dict:
    return {
        "id": loan.id,
        "item": loan.item,
        "message": loan.message,
        "state": loan.state,
        "role": loan.role_of(viewer),
        "lender": party(loan.lender),
        "borrower": party(loan.borrower),
        "due_date": _date(loan.due_date),
        "created_at": _time(loan.created_at),
        "version": loan.version,
        "allowed_events": lending.allowed_events(loan, viewer),
    }


def audit_event(event: AuditEvent) -> dict:
    return {
        "event": event.event,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "actor": party(event.actor) if event.actor else None,
        "at": _time(event.created_at),
    }


def notification(row: Notification) -> dict:
    return {
        "notifier": row.notifier,
        "recipient": row.recipient_email,
        "status": row.status,
        "sent_at": _time(row.sent_at),
    }


def loan(row: Loan, viewer: User) -> dict:
    return {
        **loan_summary(row, viewer),
        "events": [audit_event(e) for e in row.events],
        "notifications": [notification(n) for n in row.notifications],
    }


def loan_list(loans: list[Loan], viewer: User) -> dict:
    return {"loans": [loan_summary(each, viewer) for each in loans]}
