"""Every row of the account table in docs/architecture.md, through the account services, with the
mail each step sends read from the real SMTP server (delivered mode)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.accounts import service as accounts
from app.accounts.states import ACCOUNT, STATES
from app.accounts.tokens import make_token
from app.errors import InvalidInput, NotAllowedInState, NotAuthenticated
from app.extensions import db
from app.models import AuditEvent, User
from app.notifications import suppression
from tests.support import PASSWORD, action_link, text_of

# The service and its table: the queue's in-memory twin is enough (tests/conftest.py).
JOB_QUEUE = "memory"

# event, from, to, emailed  (docs/architecture.md, "The account"; None: no state change / none)
DESIGN = [
    ("sign_up", None, "pending", "signup_confirmation"),
    ("sign_up", "invited", "pending", "signup_confirmation"),
    ("sign_up", "pending", None, "signup_confirmation"),
    ("sign_up", "active", None, "signup_attempt"),
    ("sign_up", "closing", None, "signup_attempt"),
    ("resend_confirmation", "pending", None, "signup_confirmation"),
    ("activate", "pending", "active", "welcome"),
    ("reset_password", "active", None, "password_reset"),
    ("reset_password", "closing", None, "password_reset"),
    ("change_password", "active", None, "password_changed"),
    ("change_password", "closing", None, "password_changed"),
    ("start_disconnect", "active", "closing", "disconnect_confirmation"),
    ("disconnect", "closing", "closed", "farewell"),
    ("abort_disconnect", "closing", "active", None),
    ("request_address_confirmation", "active", None, "address_confirmation"),
    ("request_address_confirmation", "closing", None, "address_confirmation"),
    ("confirm_address", "active", None, None),
    ("confirm_address", "closing", None, None),
]
# A password the policy takes (12+ characters, not guessable).
STRONG = "kettle mosaic harbor"


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
        return accounts.sign_up(user.email if user else "new@example.com", "Newt")
    if event == "resend_confirmation":
        return accounts.resend_confirmation(user.email)
    if event == "activate":
        return accounts.activate(make_token("confirm", user), STRONG)
    if event == "reset_password":
        return accounts.request_password_reset(user.email)
    if event == "change_password":
        return accounts.change_password(user, PASSWORD, STRONG, keep=None)
    if event == "start_disconnect":
        return accounts.start_disconnect(user)
    if event == "disconnect":
        return accounts.disconnect(make_token("disconnect", user))
    if event == "abort_disconnect":
        return accounts.abort_disconnect(user)
    if event in ("request_address_confirmation", "confirm_address"):
        # Mail to the address stopped (a provider reported a bounce): the one mail
        # that reaches it is the link, and following the link lets mail through.
        suppression.report(user.email, "Postmark: Hard bounce")
        if event == "request_address_confirmation":
            return accounts.request_address_confirmation(user)
        return accounts.confirm_address(make_token("reconfirm", user))
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
    for event in ("start_disconnect", "disconnect", "abort_disconnect")
    for state in STATES
    if state not in {row[1] for row in DESIGN if row[0] == event}
]


@pytest.mark.parametrize(("event", "state"), WRONG_STATE)
def test_refused_in_the_wrong_state(event, state, make, enqueued):
    user = make.user("Wim", state=state)
    with pytest.raises(NotAllowedInState):
        _fire(event, user)
    db.session.expire_all()
    assert user.state == state
    assert enqueued.notifications() == [] and enqueued.job_ids() == []


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("invited", "no longer valid"),
        ("active", "already been used"),
        ("closing", "already been used"),
        ("closed", "closed"),
    ],
)
def test_a_confirmation_link_only_confirms_a_pending_account(state, why, make, enqueued):
    user = make.user("Wim", state=state)
    with pytest.raises(InvalidInput, match=why) as refused:
        accounts.activate(make_token("confirm", user), STRONG)
    assert refused.value.field == "token"
    db.session.expire_all()
    assert user.state == state
    assert enqueued.notifications() == []


@pytest.mark.parametrize("state", ["invited", "closed"])
def test_nothing_is_sent_again_to_an_account_not_waiting(state, make, enqueued):
    user = make.user("Res", state=state)
    assert accounts.resend_confirmation(user.email) is None
    assert enqueued.notifications() == []


def test_reset_reveals_nothing_for_unknown_closed_or_invited(make, enqueued):
    closed = make.user("Cleo", state="closed")
    invited = make.user("Ivo", state="invited")
    for address in ("nobody@example.com", closed.email, invited.email):
        assert accounts.request_password_reset(address) is None
    assert enqueued.notifications() == []


def test_forgot_password_for_a_pending_account_sends_the_confirmation_link(make, enqueued):
    pending = make.user("Pia", state="pending")
    accounts.request_password_reset(pending.email)
    assert enqueued.mail() == [("signup_confirmation", pending.email)]


def test_tokens_are_bound_to_their_purpose(make, enqueued):
    user = make.user("Pia", state="pending")
    user.password_hash = None
    db.session.commit()
    with pytest.raises(InvalidInput):
        accounts.activate(make_token("reset", user), STRONG)
    with pytest.raises(InvalidInput):
        accounts.activate("not-a-token", STRONG)
    closing = make.user("Cas", state="closing")
    with pytest.raises(InvalidInput):
        accounts.disconnect(make_token("confirm", closing))
    db.session.expire_all()
    assert (user.state, closing.state) == ("pending", "closing")
    assert enqueued.notifications() == []


def test_a_confirmation_link_works_once_and_sends_one_welcome(make, enqueued):
    user = make.user("Ada", state="pending")
    user.password_hash = None
    db.session.commit()
    token = make_token("confirm", user)
    older = make_token("confirm", user)
    accounts.activate(token, STRONG)
    for link in (token, older):
        with pytest.raises(InvalidInput, match="already been used"):
            accounts.activate(link, "another fine passphrase")
    assert enqueued.mail() == [("welcome", user.email)]
    assert accounts.authenticate(user.email, STRONG).id == user.id


def test_the_whole_account_life_by_mail(app, delivered):
    accounts.sign_up(" Noor@Example.com ", "Noor")
    [confirm] = delivered.run()
    assert confirm["Subject"] == "Confirm your email address for Mooch"
    with pytest.raises(NotAuthenticated):
        accounts.authenticate("noor@example.com", STRONG)

    token = action_link(confirm).rsplit("/", 1)[-1]
    user = accounts.activate(token, STRONG, "Noor N.")
    assert (user.state, user.email, user.name) == ("active", "noor@example.com", "Noor N.")
    [welcome] = delivered.run()
    assert welcome["Subject"] == "Welcome to Mooch, Noor N."
    assert accounts.authenticate("noor@example.com", STRONG).id == user.id
    with pytest.raises(NotAuthenticated):
        accounts.authenticate("noor@example.com", "wrong password")

    accounts.request_password_reset("noor@example.com")
    [reset] = delivered.run()
    reset_token = action_link(reset).rsplit("/", 1)[-1]
    accounts.reset_password(reset_token, "a newer lantern password")
    [changed] = delivered.run()
    assert changed["Subject"] == "Your Mooch password was changed"
    assert accounts.authenticate("noor@example.com", "a newer lantern password").id == user.id
    with pytest.raises(InvalidInput, match="already been used"):
        accounts.reset_password(reset_token, "yet another lantern one")

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
    with pytest.raises(NotAuthenticated):
        accounts.authenticate("noor@example.com", "a newer lantern password")


def test_admin_gets_no_mail(app, enqueued):
    admin = accounts.create_admin("root@example.com", STRONG, "Root")
    assert (admin.state, admin.is_admin) == ("active", True)
    assert enqueued.notifications() == []


@pytest.mark.parametrize(
    ("email", "name", "field"),
    [
        ("not-an-address", "N", "email"),
        ("", "N", "email"),
        (None, "N", "email"),
        ("a@example.com", "   ", "name"),
        ("a@example.com", None, "name"),
    ],
)
def test_sign_up_bad_input(email, name, field, app, enqueued):
    with pytest.raises(InvalidInput) as bad:
        accounts.sign_up(email, name)
    assert bad.value.field == field and bad.value.message
    assert db.session.scalars(select(User)).all() == []
    assert enqueued.notifications() == []


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 12 characters"),
        (None, "at least 12 characters"),
        ("password1234", "very common password"),
        ("qwertyuiopasdf", "commonly used password"),
        ("ada@example.com1", "too easy to guess"),
        ("x" * 1025, "longer than 1024"),
    ],
)
def test_a_weak_password_is_refused_saying_why(password, why, make, enqueued):
    user = make.user("Ada", state="pending", email="ada@example.com")
    user.password_hash = None
    db.session.commit()
    with pytest.raises(InvalidInput, match=why) as refused:
        accounts.activate(make_token("confirm", user), password)
    assert refused.value.field == "password"
    db.session.expire_all()
    assert (user.state, user.password_hash) == ("pending", None)
    assert enqueued.notifications() == []
