"""Writing what a step did: its audit row and its notifications, in the step's
transaction, so that they commit or roll back together with the state change."""

from __future__ import annotations

from collections.abc import Callable

from app.extensions import db
from app.models import AuditEvent, Loan, Notification, User
from app.notifications import outbox
from app.workflow import Step


def record_step(
    step: Step,
    *,
    from_state: str | None,
    to_state: str,
    actor: User | None,
    recipient: Callable[[str], User | None],
    loan: Loan | None = None,
    user: User | None = None,
    notifier_for: Callable[[User, str], str | outbox.Skipped | None] = lambda user, n: n,
    mail_about: Loan | None = None,
    note: str | None = None,
) -> tuple[AuditEvent, list[Notification]]:
    """Add the audit row and one notification per recipient of `step`.

    `recipient(role)` resolves a role of the step's `notify` to a user;
    `notifier_for(user, notifier)` may swap or drop (None) a notifier for one user, or
    record it as skipped (outbox.Skipped);
    `mail_about` names the loan an account event's mail is about (an invitation);
    `note` is what the actor wrote with the step.
    """
    audit = AuditEvent(
        loan=loan,
        subject=user,
        event=step.event,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        note=note,
    )
    db.session.add(audit)
    sent = []
    for role, notifier in step.notify:
        to = recipient(role)
        chosen = notifier_for(to, notifier) if to is not None else None
        about = loan or mail_about
        if isinstance(chosen, outbox.Skipped):
            sent.append(
                outbox.record(
                    chosen.notifier, to, loan=about, audit_event=audit, skipped=chosen.reason
                )
            )
        elif chosen:
            sent.append(outbox.record(chosen, to, loan=about, audit_event=audit))
    return audit, sent
