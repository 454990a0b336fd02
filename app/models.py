"""The tables: users, loans, the audit trail, and the notification outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, ForeignKey, Index, String, Text, and_, case, or_, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db


def utcnow() -> datetime:
    """Naive UTC: the same on SQLite (no time zones) and PostgreSQL columns without one."""
    return datetime.now(UTC).replace(tzinfo=None)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique among accounts that are not closed: a closed account keeps its address
    # for the loans it was part of, and the address may sign up again (a fresh account).
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    # None until whoever proves control of the address chooses one (the emailed link).
    password_hash: Mapped[str | None] = mapped_column(String(256))
    # Column name differs from any trigger name: transitions writes triggers onto models.
    state: Mapped[str] = mapped_column(String(16), index=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    # The language pages and mail are written in, and the zone dates are shown in.
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    __table_args__ = (
        Index(
            "uq_users_email_open",
            "email",
            unique=True,
            sqlite_where=text("state <> 'closed'"),
            postgresql_where=text("state <> 'closed'"),
        ),
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return self.password_hash is not None and check_password_hash(self.password_hash, password)

    # Flask-Login, and the one rule for "this account may log in and act": an account
    # being closed can still settle its loans.
    @property
    def is_active(self) -> bool:
        return self.state in ("active", "closing")

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.state}>"


class Loan(db.Model):
    __tablename__ = "loans"

    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    lender_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Who started it. Until the other party answers, they are shown to the initiator by
    # the address as typed, never by an account's name (which would tell who has one).
    initiator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    counterparty_answered: Mapped[bool] = mapped_column(default=False)
    due_date: Mapped[date | None]
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the state last changed: the loan clock measures expiry from here.
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Optimistic locking: every UPDATE checks it, so of two concurrent events one wins.
    version: Mapped[int] = mapped_column(default=1)

    lender: Mapped[User] = relationship(foreign_keys=[lender_id])
    borrower: Mapped[User] = relationship(foreign_keys=[borrower_id])
    events: Mapped[list[AuditEvent]] = relationship(
        back_populates="loan", order_by="AuditEvent.id", viewonly=True
    )
    notifications: Mapped[list[Notification]] = relationship(
        back_populates="loan", order_by="Notification.id", viewonly=True
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
    # A user's loans newest first, one side at a time (lending.service.loan_page):
    # PostgreSQL's index on lender_id alone keeps equal keys in no id order, so the
    # newest few would need every one of the user's loans read and sorted. The state
    # rides along so that the dashboard's groups, and their counts, are read from the
    # index alone, not from the row of each of the user's loans.
    __table_args__ = (
        Index("ix_loans_lender_id_id_state", "lender_id", "id", "state"),
        Index("ix_loans_borrower_id_id_state", "borrower_id", "id", "state"),
    )

    # -- who is who: the one home of "the other party" and "loans of this user" ---

    @classmethod
    def side(cls, role: str):
        """The column naming the party who plays `role` ("lender" or "borrower")."""
        return cls.lender_id if role == "lender" else cls.borrower_id

    @classmethod
    def of(cls, user: User) -> ColumnElement[bool]:
        """SQL: `user` is one of the loan's two parties."""
        return or_(cls.lender_id == user.id, cls.borrower_id == user.id)

    @classmethod
    def between(cls, user: User, others: list[int]) -> ColumnElement[bool]:
        """SQL: `user` is one party and one of the ids `others` the other (one arm per
        side, so that each can use its side's index)."""
        return or_(
            and_(cls.lender_id == user.id, cls.borrower_id.in_(others)),
            and_(cls.borrower_id == user.id, cls.lender_id.in_(others)),
        )

    @classmethod
    def other_party_id(cls, user: User) -> ColumnElement[int]:
        """SQL: the id of the party of the loan who is not `user` (Loan.other_party)."""
        return case((cls.lender_id == user.id, cls.borrower_id), else_=cls.lender_id)

    def role_of(self, user: User) -> str | None:
        return self.role_of_id(user.id)

    def role_of_id(self, user_id: int | None) -> str | None:
        if user_id == self.lender_id:
            return "lender"
        if user_id == self.borrower_id:
            return "borrower"
        return None

    def party(self, role: str) -> User:
        return self.lender if role == "lender" else self.borrower

    def set_party(self, role: str, user: User) -> None:
        if role == "lender":
            self.lender = user
        else:
            self.borrower = user

    def other_party(self, user: User) -> User:
        return self.borrower if user.id == self.lender_id else self.lender

    def shown_name(self, party: User, viewer: User | None) -> str:
        """`party`'s name as `viewer` may see it: the address alone while `party` is
        the counterparty who has not answered the viewer's request or offer."""
        if (
            viewer is not None
            and party.id != viewer.id
            and party.id != self.initiator_id
            and not self.counterparty_answered
        ):
            return party.email
        return party.name

    def __repr__(self) -> str:
        return f"<Loan {self.id} {self.item!r} {self.state}>"


class AuditEvent(db.Model):
    """One row per transition of a loan or an account: what, from, to, who, when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    # None means the system (the loan clock, or an account being closed).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the actor wrote with the step: required for a dispute (its reason), its
    # resolution (the outcome) and a note while disputed; optional for any other.
    note: Mapped[str | None] = mapped_column(Text)

    loan: Mapped[Loan | None] = relationship(back_populates="events")
    # The account an account event is about (None for loan events).
    subject: Mapped[User | None] = relationship(foreign_keys=[user_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])


class LoginSession(db.Model):
    """A logged-in browser or an API token. Only a hash of its secret is stored: the
    secret lives in the cookie or the client. Deleting the row ends the session."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "web" or "api"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


def new_message_id() -> str:
    return uuid.uuid4().hex


class Notification(db.Model):
    """The outbox: a row per email, written in the transaction of the change it reports."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    notifier: Mapped[str] = mapped_column(String(40))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The address at the time of the event; the account may change its address later.
    recipient_email: Mapped[str] = mapped_column(String(254))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), index=True)
    audit_event_id: Mapped[int | None] = mapped_column(ForeignKey("audit_events.id"))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # The relay leaves a row alone until then: a worker's claim, or the next retry.
    not_before: Mapped[datetime | None]
    # The local part of the Message-ID; fixed at creation so a resend carries the same one.
    message_token: Mapped[str] = mapped_column(String(32), default=new_message_id)
    # The daily digest (app/notifications/digest.py). A row held for its reader's digest
    # (status "digest") names the digest row that carried it, once one did; a digest
    # row names the day, in its reader's time zone, it is the digest of.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    digest_day: Mapped[date | None]

    recipient: Mapped[User] = relationship(foreign_keys=[recipient_id])
    loan: Mapped[Loan | None] = relationship(back_populates="notifications")
    audit_event: Mapped[AuditEvent | None] = relationship()
    digest: Mapped[Notification | None] = relationship(
        foreign_keys=[digest_id], remote_side=[id], back_populates="covered"
    )
    covered: Mapped[list[Notification]] = relationship(
        foreign_keys=[digest_id], back_populates="digest", order_by="Notification.id"
    )

    __table_args__ = (
        Index("ix_notifications_status_not_before", "status", "not_before"),
        # One digest per person per day of theirs, however many clocks build it.
        Index(
            "uq_notifications_digest_day",
            "recipient_id",
            "digest_day",
            unique=True,
            sqlite_where=text("digest_day IS NOT NULL"),
            postgresql_where=text("digest_day IS NOT NULL"),
        ),
    )

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.notifier} {self.status}>"


__all__ = ["AuditEvent", "Loan", "LoginSession", "Notification", "User", "utcnow"]


class MailPreference(db.Model):
    """How one person wants one optional notifier (app.notifications.preferences);
    no row is the default, "immediately"."""

    __tablename__ = "mail_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    notifier: Mapped[str] = mapped_column(String(40), primary_key=True)
    choice: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailSuppression(db.Model):
    """An address that hard-bounced (app.notifications.suppression): its permanent
    refusals counted, and once there were enough, when it stopped getting mail."""

    __tablename__ = "mail_suppressions"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)  # lower case
    reason: Mapped[str] = mapped_column(Text)  # the last refusal, as the server said it
    failures: Mapped[int] = mapped_column(default=0)
    suppressed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
