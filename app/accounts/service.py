"""Account actions: one function each, checking, firing, recording and committing.

Each either commits its whole change (state, audit row, notifications) or raises a
typed error from app.errors having written nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from app import validation
from app.accounts.states import ACCOUNT
from app.accounts.tokens import check_reset_fingerprint, read_token
from app.errors import Forbidden, InvalidInput, NotAuthenticated
from app.extensions import db
from app.history import record_step
from app.models import Loan, User
from app.transaction import atomic
from app.workflow import Step


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def _record(step: Step, user: User, from_state: str | None, actor: User | None, **kw) -> None:
    record_step(
        step,
        from_state=from_state,
        to_state=user.state,
        actor=actor,
        user=user,
        recipient=lambda role: user,
        **kw,
    )


def _fire(user: User, event: str, actor: User | None = None) -> None:
    """Fire an account event through the machine; the audit row and mail are
    written by the transition's callback, inside the same transaction."""
    step = ACCOUNT.check(user.state, event, "self")
    ACCOUNT.fire(user, event, after=lambda before, after: _record(step, user, before, actor))


def _user_from_token(purpose: str, token: object) -> User:
    user = db.session.get(User, read_token(purpose, token))
    if user is None:
        raise InvalidInput("This link is not valid.", field="token")
    return user


def _credentials(email: object, password: object, name: object) -> tuple[str, str, str]:
    return (
        validation.email_address(email),
        validation.password(password),
        validation.text(name, "name", max_length=120),
    )


def _create(
    event: str, role: str, address: str, name: str, *, actor: User | None = None, **kw
) -> User:
    """A new account, by the table's creation step for `event`, with its audit row
    and mail; part of the caller's transaction."""
    step = ACCOUNT.creation(event, role)
    user = User(email=address, name=name, state=step.dest, is_admin=event == "create_admin")
    db.session.add(user)
    _record(step, user, None, actor, **kw)
    return user


def _taken() -> InvalidInput:
    return InvalidInput("An account with this email address already exists.", field="email")


def sign_up(email: object, password: object, name: object) -> User:
    address, secret, display = _credentials(email, password, name)
    with atomic():
        user = find_by_email(address)
        if user is not None and user.state != "invited":
            raise _taken()
        if user is None:
            user = _create("sign_up", "self", address, display)
            user.set_password(secret)
        else:  # invited by someone's loan: the same row becomes theirs
            user.name = display
            user.set_password(secret)
            _fire(user, "sign_up")
    return user


def invite(email: str, inviter: User, loan: Loan) -> User:
    """An `invited` account for an address that has none, sent an invitation about
    `loan`; part of the caller's transaction."""
    return _create(
        "invite", "inviter", email, email.split("@", 1)[0], actor=inviter, mail_about=loan
    )


def create_admin(email: object, password: object, name: object) -> User:
    address, secret, display = _credentials(email, password, name)
    with atomic():
        if find_by_email(address) is not None:
            raise _taken()
        user = _create("create_admin", "system", address, display)
        user.set_password(secret)
    return user


def activate(token: object) -> User:
    with atomic():
        user = _user_from_token("confirm", token)
        if user.state == "active":
            return user  # the link clicked twice: nothing to do, nothing to send
        _fire(user, "activate", actor=user)
    return user


def request_password_reset(email: object) -> None:
    """Send a reset link if the address has an account that is not closed; say
    nothing either way, so the answer does not reveal which addresses exist."""
    address = validation.email_address(email)
    with atomic():
        user = find_by_email(address)
        if user is None or ACCOUNT.step_from(user.state, "reset_password") is None:
            return
        _fire(user, "reset_password")


def reset_password(token: object, password: object) -> User:
    secret = validation.password(password)
    with atomic():
        user = _user_from_token("reset", token)
        check_reset_fingerprint(token, user)
        if user.state == "closed":
            raise InvalidInput("This account is closed.", field="token")
        user.set_password(secret)
    return user


def authenticate(email: object, password: object) -> User:
    """The active account with these credentials, or a typed refusal saying why."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise NotAuthenticated("Email and password are required.")
    user = find_by_email(email.strip().lower())
    if user is not None and user.state == "invited":
        raise Forbidden("This address was invited but has not signed up yet: sign up first.")
    if user is None or not user.check_password(password):
        raise NotAuthenticated("Wrong email or password.")
    if user.state == "pending":
        raise Forbidden("Confirm your email address first: follow the link we sent you.")
    if user.state == "closed":
        raise Forbidden("This account is closed.")
    return user


def change_name(user: User, name: object) -> User:
    display = validation.text(name, "name", max_length=120)
    with atomic():
        user.name = display
    return user


def start_disconnect(user: User) -> User:
    from app.lending.states import IN_PROGRESS_STATES

    with atomic():
        busy = db.session.scalar(
            select(Loan.id)
            .where((Loan.lender_id == user.id) | (Loan.borrower_id == user.id))
            .where(Loan.state.in_(IN_PROGRESS_STATES))
            .limit(1)
        )
        if busy is not None:
            raise Forbidden(
                "You still have loans under way: settle them before closing your account."
            )
        _fire(user, "start_disconnect", actor=user)
    return user


def abort_disconnect(user: User) -> User:
    with atomic():
        _fire(user, "abort_disconnect", actor=user)
    return user


def disconnect(token: object) -> User:
    """Close the account the signed link names, calling off its open loans."""
    from app.lending.service import call_off_open_loans

    with atomic():
        user = _user_from_token("disconnect", token)
        _fire(user, "disconnect", actor=user)
        call_off_open_loans(user)
    return user
