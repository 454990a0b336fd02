"""Account actions: one function each, checking, firing, recording and committing.

Each either commits its whole change (state, audit row, notifications, sessions) or
raises a typed error from app.errors having written nothing.

Whoever proves control of an address decides its password: signing up takes only a
name and an address, and the emailed link is where the password is chosen. Nobody
can hold a password for an address they cannot read mail at, so signing up with
someone else's address (invited, pending or new) gains nothing. The forms that mail
an address answer the same whatever the address is, so they do not tell who has an
account.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import i18n, throttle, validation
from app.accounts import passwords, sessions, signals
from app.accounts.states import ACCOUNT
from app.accounts.tokens import read_token, read_token_made, unused
from app.errors import InvalidInput, NotAuthenticated
from app.extensions import db
from app.history import record_step
from app.models import Loan, MailSuppression, User
from app.notifications import suppression
from app.transaction import atomic
from app.workflow import Step

log = logging.getLogger(__name__)


def find_by_email(email: str) -> User | None:
    """The account that is not closed with this address, if any: a closed account
    keeps its address for its old loans, but the address is free again."""
    return db.session.scalar(select(User).where(User.email == email, User.state != "closed"))


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
        raise InvalidInput(_("This link is not valid."), field="token")
    return user


def _name(value: object) -> str:
    return validation.text(value, "name", max_length=120)


def _create(
    event: str,
    role: str,
    address: str,
    name: str,
    *,
    actor: User | None = None,
    locale: str | None = None,
    zone: str | None = None,
    **kw,
) -> User:
    """A new account, by the table's creation step for `event`, with its audit row
    and mail; part of the caller's transaction."""
    step = ACCOUNT.creation(event, role)
    user = User(email=address, name=name, state=step.dest, is_admin=event == "create_admin")
    if locale is not None:
        user.locale = locale
    if zone is not None:
        user.time_zone = zone
    db.session.add(user)
    _record(step, user, None, actor, **kw)
    return user


# -- signing up and confirming ---------------------------------------------------


def sign_up(
    email: object, name: object, *, locale: object = None, time_zone: object = None
) -> None:
    """Mail the address a link to confirm it and choose a password; or, if it already
    has an account, tell its owner that someone tried. Returns nothing, on purpose:
    the caller answers the same either way. `locale` (the browser's best language) and
    `time_zone` (the browser's zone) are kept when known, English and UTC otherwise: the
    confirmation is the first mail in them."""
    address = validation.email_address(email)
    display = _name(name)
    language = i18n.known_locale(locale) or i18n.SOURCE
    zone = i18n.known_zone(time_zone) or i18n.UTC_NAME
    throttle.mail_to("confirm", address)
    for attempt in range(2):
        try:
            with atomic():
                user = find_by_email(address)
                if user is None:
                    _create("sign_up", "self", address, display, locale=language, zone=zone)
                    return
                if user.state in ("invited", "pending"):
                    # Unproven until the link is followed, where its owner may change it.
                    user.name = display
                    user.locale, user.time_zone = language, zone
                _fire(user, "sign_up")
                return
        except IntegrityError:
            # Two sign-ups for one new address at once: the other made the account;
            # this one now finds it and sends the link again.
            if attempt:
                raise


def resend_confirmation(email: object) -> None:
    """A fresh link for an account waiting to be confirmed; nothing otherwise (and
    the same answer, so that the form does not tell which addresses wait)."""
    address = validation.email_address(email)
    throttle.mail_to("confirm", address)
    with atomic():
        user = find_by_email(address)
        if user is not None and user.state == "pending":
            _fire(user, "resend_confirmation")


def confirmable(token: object) -> User:
    """The pending account a confirmation link may still confirm; InvalidInput on
    the token, saying why, for any other link."""
    user = _user_from_token("confirm", token)
    if user.state == "pending" and unused("confirm", token, user):
        return user
    if user.is_active:
        raise InvalidInput(
            _("This link has already been used: log in with the password you chose."),
            field="token",
        )
    if user.state == "closed":
        raise InvalidInput(_("This account is closed."), field="token")
    raise InvalidInput(_("This link is no longer valid: ask for a new one."), field="token")


def activate(token: object, password: object, name: object = None) -> User:
    """Confirm the address the link was sent to, with the password (and, if given,
    the name) its owner chooses now. The link works once."""
    with atomic():
        user = confirmable(token)
        display = user.name if name is None else _name(name)
        secret = passwords.check(password, known=(user.email, display))
        user.name = display
        user.set_password(secret)
        _fire(user, "activate", actor=user)
    return user


def invite(email: str, inviter: User, loan: Loan) -> User:
    """An `invited` account for an address that has none, sent an invitation about
    `loan`; part of the caller's transaction. It speaks its inviter's language and
    time zone (friends mostly share them) until its owner signs up with their own."""
    return _create(
        "invite",
        "inviter",
        email,
        email.split("@", 1)[0],
        actor=inviter,
        mail_about=loan,
        locale=i18n.locale_of(inviter),
        zone=i18n.zone_name_of(inviter),
    )


def create_admin(email: object, password: object, name: object) -> User:
    address = validation.email_address(email)
    display = _name(name)
    secret = passwords.check(password, known=(address, display))
    with atomic():
        if find_by_email(address) is not None:
            raise InvalidInput(
                _("An account with this email address already exists."), field="email"
            )
        user = _create("create_admin", "system", address, display)
        user.set_password(secret)
    return user


# -- logging in and out ------------------------------------------------------------


def authenticate(email: object, password: object) -> User:
    """The account these credentials log in to, or NotAuthenticated. An unknown
    address, an account nobody has chosen a password for yet (invited, pending), a
    closed one and a wrong password get the same answer after the same work (one
    password hash checked), so neither the answer nor its time tells them apart.
    Failures are counted per address (app.throttle), whatever the client."""
    if not isinstance(email, str) or not isinstance(password, str):
        raise NotAuthenticated(_("Email and password are required."))
    try:
        address = validation.email_address(email)
    except InvalidInput:
        address = email.strip().lower()[:254]
    throttle.check_login(address)
    user = find_by_email(address) if address else None
    stored = user.password_hash if user is not None and user.is_active else None
    if not passwords.verify(stored, password):
        throttle.login_failed(address)
        raise NotAuthenticated(_("Wrong email or password."))
    return user


def log_in(user: User, kind: str) -> str:
    """A new session ("web") or API token ("api") for `user`; returns its secret."""
    with atomic():
        return sessions.start(user, kind)


def log_out(secret: object) -> None:
    with atomic():
        sessions.end(secret)


def log_out_everywhere(user: User) -> int:
    """End every session and API token of `user`; returns how many there were."""
    with atomic():
        return sessions.end_all(user)


# -- passwords ---------------------------------------------------------------------


def request_password_reset(email: object) -> None:
    """Mail a reset link to an account that can log in, or a fresh confirmation link
    to one still waiting to be confirmed (it has no password to reset); say nothing
    either way, so the answer does not reveal which addresses exist."""
    address = validation.email_address(email)
    throttle.mail_to("reset", address)
    with atomic():
        user = find_by_email(address)
        if user is None:
            return
        if user.state == "pending":
            _fire(user, "resend_confirmation")
        elif ACCOUNT.step_from(user.state, "reset_password") is not None:
            _fire(user, "reset_password")


def resettable(token: object) -> User:
    """The account a reset link may still set a password for; InvalidInput otherwise."""
    user = _user_from_token("reset", token)
    if not unused("reset", token, user):
        raise InvalidInput(_("This link has already been used."), field="token")
    if not user.is_active:
        raise InvalidInput(_("This account is closed."), field="token")
    return user


def reset_password(token: object, password: object) -> User:
    """Set a new password from a reset link: the link is used up, and every session
    and API token of the account ends (whoever had them no longer knows the password)."""
    with atomic():
        user = resettable(token)
        secret = passwords.check(password, known=(user.email, user.name))
        user.set_password(secret)
        sessions.end_all(user)
        _fire(user, "change_password")
    return user


def change_password(user: User, current: object, new: object, *, keep: str | None) -> User:
    """Change the password of a logged-in account, given the current one; every other
    session and API token ends, the one whose secret is `keep` stays. A wrong current
    password counts as a failed login."""
    if not isinstance(current, str):
        raise InvalidInput(_("Type your current password."), field="current_password")
    throttle.check_login(user.email)
    if not passwords.verify(user.password_hash, current):
        throttle.login_failed(user.email)
        raise InvalidInput(_("That is not your current password."), field="current_password")
    secret = passwords.check(new, known=(user.email, user.name), field="new_password")
    with atomic():
        user.set_password(secret)
        sessions.end_all(user, keep=keep)
        _fire(user, "change_password", actor=user)
    return user


# -- the account -------------------------------------------------------------------


def change_name(user: User, name: object) -> User:
    display = _name(name)
    with atomic():
        user.name = display
    return user


def change_language(user: User, locale: object, time_zone: object) -> User:
    """The language of `user`'s pages and mail, and the time zone their times are
    shown in: one we ship (app.i18n.languages) and an IANA zone, or InvalidInput
    naming the field, and nothing saved."""
    language = i18n.known_locale(locale)
    if language is None:
        raise InvalidInput(_("Choose one of the languages in the list."), field="locale")
    zone = i18n.known_zone(time_zone)
    if zone is None:
        raise InvalidInput(
            _("Choose a time zone from the list, such as Europe/Berlin."), field="time_zone"
        )
    with atomic():
        user.locale, user.time_zone = language, zone
    return user


def start_disconnect(user: User) -> User:
    """Ask to close the account; a subscriber of signals.closing may refuse (lending
    does while loans are under way)."""
    with atomic():
        signals.send(signals.closing, user)
        _fire(user, "start_disconnect", actor=user)
    return user


def abort_disconnect(user: User) -> User:
    with atomic():
        _fire(user, "abort_disconnect", actor=user)
    return user


def disconnect(token: object) -> User:
    """Close the account the signed link names, calling off its open loans and ending
    its sessions (signals.closed: lending calls off the loans). Its address is free
    to sign up again, as a new account."""
    with atomic():
        user = _user_from_token("disconnect", token)
        _fire(user, "disconnect", actor=user)
        signals.send(signals.closed, user)
        sessions.end_all(user)
    return user


# -- an address that stopped getting mail -----------------------------------------


def request_address_confirmation(user: User) -> None:
    """Mail `user`'s own address, suppressed because our mail to it bounced or they
    marked it as spam, a link to prove it reads our mail: the one mail that still
    reaches a suppressed address (notifiers.PAST_SUPPRESSION). Counted per address,
    as the forms' mail is (app.throttle, "reconfirm")."""
    if suppression.suppressed(user.email) is None:
        raise InvalidInput(_("Mooch already emails your address: there is nothing to confirm."))
    throttle.mail_to("reconfirm", user.email)
    with atomic():
        _fire(user, "request_address_confirmation", actor=user)


def address_to_confirm(token: object) -> tuple[User, MailSuppression | None]:
    """The account a link to confirm its address again names, and the address's
    suppression if it still has one. InvalidInput on the token for a bad or expired
    link, an account that is closed, or a link sent before the address was suppressed
    again (the new failure came after it: it proves nothing about that)."""
    user_id, made = read_token_made("reconfirm", token)
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise InvalidInput(_("This link is not valid."), field="token")
    entry = suppression.suppressed(user.email)
    # The token's time is to the second: a suppression within that second came first.
    if entry is not None and entry.suppressed_at >= made + timedelta(seconds=1):
        raise InvalidInput(
            _(
                "Our mail to this address failed again after this link was sent: ask for a "
                "new one on your account page."
            ),
            field="token",
        )
    return user, entry


def confirm_address(token: object) -> tuple[User, bool]:
    """The emailed link's button: the address reads our mail, so it gets mail again,
    its count of refusals started afresh. Returns the account and whether its address
    was suppressed (False: nothing to lift, any more)."""
    with atomic():
        user, entry = address_to_confirm(token)
        if entry is None:
            return user, False
        kind, since = suppression.kind(entry.reason), entry.suppressed_at
        _fire(user, "confirm_address", actor=user)
        suppression.forget(user.email)
    log.info(
        "suppression lifted by its owner: user %s confirmed their address (it was "
        "suppressed for a %s since %s)",
        user.id,
        kind,
        since.isoformat(timespec="seconds"),
        extra={"fields": {"event": "suppression_lifted", "user_id": user.id, "kind": kind}},
    )
    return user, True
