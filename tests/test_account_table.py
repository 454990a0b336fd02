"""Every row of DESIGN.md's account table, through the account services, with the
mail each step sends read from the real SMTP server (delivered mode)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.accounts import service as accounts
from app.accounts.states import ACCOUNT, STATES
from app.accounts.tokens import make_token
from app.errors import Forbidden, InvalidInput, NotAllowedInState, NotAuthenticated
from app.extensions import db
from app.models import AuditEvent, User
from tests.support import PASSWORD, action_link, text_of

# event, from, to, emailed  (DESIGN.md, "The account"; None: no state change / none)
DESIGN = [
    ("sign_up", None, "pending", "signup_confirmation"),
    ("sign_up", "invited", "pending", "signup_confirmation"),
    ("activate", "pending", "active", "welcome"),
    ("reset_password", "invited", None, "password_reset"),
    ("reset_password", "pending", None, "password_reset"),
    ("reset_password", "active", None, "password_reset"),
    ("reset_password", "closing", None, "password_reset"),
    ("start_disconnect", "active", "closing", "disconnect_confirmation"),
    ("disconnect", "closing", "closed", "farewell"),
    ("abort_disconnect", "closing", "active", None),
]


def test_code_table_is_the_design_table():
    code = {
        (s.event, source, s.dest, dict(s.notify).get("self"))
        for s in ACCOUNT.steps
        if s.event not in ("invite", "create_admin")
        for source in (s.source or (None,))
    }
    assert code == set(DESIGN)
    invite = ACCOUNT.creation("invite", "inviter")
    assert (invite.dest, dict(invite.notify)) == ("invited", {"self": "invitation"})
    admin = ACCOUNT.creation("create_admin", "system")
    assert (admin.dest, admin.notify) == ("active", ())


def _fire(event: str, user: User | None):
    if event == "sign_up":
        email = user.email if user else "new@example.com"
        return accounts.sign_up(email, "a new password", "Newt")
    if event == "activate":
        return accounts.activate(make_token("confirm", user))
    if event == "reset_password":
        return accounts.request_password_reset(user.email)
    if event == "start_disconnect":
        return accounts.start_disconnect(user)
    if event == "disconnect":
        return accounts.disconnect(make_token("disconnect", user))
    if event == "abort_disconnect":
        return accounts.abort_disconnect(user)
    raise AssertionError(event)


@pytest.mark.parametrize(("event", "source", "dest", "notifier"), DESIGN)
def test_allowed(event, source, dest, notifier, make, delivered):
    user = make.user("Una", state=source) if source else None
    _fire(event, user)
    db.session.expire_all()
    user = user or db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert user.state == (dest or source)
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.user_id == user.id)).all()
    assert [(a.event, a.from_state, a.to_state) for a in audit] == [(event, source, dest or source)]
    mail = delivered.run()
    if notifier is None:
        assert mail == []
    else:
        [message] = mail
        assert user.email in message["To"]
        assert action_link(message).startswith("https://mooch.test/")


WRONG_STATE = [
    (event, state)
    for event in ("activate", "start_disconnect", "disconnect", "abort_disconnect")
    for state in STATES
    if state not in {row[1] for row in DESIGN if row[0] == event}
    and not (event == "activate" and state == "active")
]


@pytest.mark.parametrize(("event", "state"), WRONG_STATE)
def test_refused_in_the_wrong_state(event, state, make, enqueued):
    user = make.user("Wim", state=state)
    with pytest.raises(NotAllowedInState):
        _fire(event, user)
    db.session.expire_all()
    assert user.state == state
    assert enqueued.notifications() == [] and enqueued.jobs() == []


@pytest.mark.parametrize("state", ["pending", "active", "closing", "closed"])
def test_sign_up_refused_for_an_address_with_an_account(state, make, enqueued):
    user = make.user("Xia", state=state)
    with pytest.raises(InvalidInput) as refused:
        accounts.sign_up(user.email.upper(), "another password", "Xia")
    assert refused.value.field == "email"
    assert enqueued.notifications() == []


def test_reset_reveals_nothing_for_unknown_or_closed(make, enqueued):
    closed = make.user("Cleo", state="closed")
    assert accounts.request_password_reset("nobody@example.com") is None
    assert accounts.request_password_reset(closed.email) is None
    assert enqueued.notifications() == []


def test_tokens_are_bound_to_their_purpose(make, enqueued):
    user = make.user("Pia", state="pending")
    with pytest.raises(InvalidInput):
        accounts.activate(make_token("reset", user))
    with pytest.raises(InvalidInput):
        accounts.activate("not-a-token")
    closing = make.user("Cas", state="closing")
    with pytest.raises(InvalidInput):
        accounts.disconnect(make_token("confirm", closing))
    db.session.expire_all()
    assert (user.state, closing.state) == ("pending", "closing")
    assert enqueued.notifications() == []


def test_activate_twice_sends_one_welcome(make, enqueued):
    user = make.user("Ada", state="pending")
    token = make_token("confirm", user)
    accounts.activate(token)
    accounts.activate(token)
    assert enqueued.mail() == [("welcome", user.email)]


def test_the_whole_account_life_by_mail(app, delivered):
    accounts.sign_up(" Noor@Example.com ", "a long password", "Noor")
    [confirm] = delivered.run()
    assert confirm["Subject"] == "Confirm your email address for Mooch"
    with pytest.raises(Forbidden):
        accounts.authenticate("noor@example.com", "a long password")

    token = action_link(confirm).rsplit("/", 1)[-1]
    user = accounts.activate(token)
    assert user.state == "active" and user.email == "noor@example.com"
    [welcome] = delivered.run()
    assert welcome["Subject"] == "Welcome to Mooch, Noor"
    assert accounts.authenticate("noor@example.com", "a long password").id == user.id
    with pytest.raises(NotAuthenticated):
        accounts.authenticate("noor@example.com", "wrong password")

    accounts.request_password_reset("noor@example.com")
    [reset] = delivered.run()
    reset_token = action_link(reset).rsplit("/", 1)[-1]
    accounts.reset_password(reset_token, "a newer password")
    assert accounts.authenticate("noor@example.com", "a newer password").id == user.id
    with pytest.raises(InvalidInput, match="already been used"):
        accounts.reset_password(reset_token, "yet another one")

    accounts.start_disconnect(user)
    [close] = delivered.run()
    assert "close" in text_of(close).lower()
    accounts.abort_disconnect(user)
    assert delivered.run() == []
    accounts.start_disconnect(user)
    [close] = delivered.run()
    accounts.disconnect(action_link(close).rsplit("/", 1)[-1])
    [farewell] = delivered.run()
    assert farewell["Subject"] == "Your Mooch account is closed"
    with pytest.raises(Forbidden, match="closed"):
        accounts.authenticate("noor@example.com", "a newer password")


def test_admin_gets_no_mail(app, enqueued):
    admin = accounts.create_admin("root@example.com", PASSWORD, "Root")
    assert (admin.state, admin.is_admin) == ("active", True)
    assert enqueued.notifications() == []


@pytest.mark.parametrize(
    ("email", "password", "name", "field"),
    [
        ("not-an-address", "long enough", "N", "email"),
        ("", "long enough", "N", "email"),
        ("a@example.com", "short", "N", "password"),
        ("a@example.com", "long enough", "   ", "name"),
        ("a@example.com", None, "N", "password"),
    ],
)
def test_sign_up_bad_input(email, password, name, field, app, enqueued):
    with pytest.raises(InvalidInput) as bad:
        accounts.sign_up(email, password, name)
    assert bad.value.field == field and bad.value.message
    assert db.session.scalars(select(User)).all() == []
    assert enqueued.notifications() == []


def test_an_invited_address_is_told_to_sign_up(make):
    invited = make.user("Ivo", state="invited")
    invited.password_hash = None
    db.session.commit()
    with pytest.raises(Forbidden, match="sign up"):
        accounts.authenticate(invited.email, "any password at all")
