"""Nobody takes over an account before its owner registers.

The attack as reported: a stranger signs up with an address they do not control (a
fresh one, one already invited by a loan, one already waiting for confirmation) and
chooses a password; the owner follows the emailed link; the stranger then logs in
with their password. Now whoever follows the link chooses the password, so the
stranger's attempt leaves them nothing that works."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.accounts import service as accounts
from app.accounts.tokens import make_token
from app.extensions import db
from app.lending import service as lending
from app.models import User
from tests.support import action_link
from tests.web.conftest import alert

ATTACKER = "attacker's own password"
OWNER = "kettle mosaic harbor"


def path_of(url: str) -> str:
    return urlsplit(url).path


def the_link(delivered, address: str) -> str:
    delivered.run()
    return path_of(action_link(delivered.to(address)[-1]))


@pytest.fixture(params=["fresh", "invited", "pending"])
def victim(request, make) -> str:
    """An address the attacker does not control, in each state it can be in."""
    address = "victim@example.com"
    if request.param == "invited":
        lending.create_loan(make.user("Lena"), "lender", address, "ladder")
    elif request.param == "pending":
        accounts.sign_up(address, "Victim")
    return address


def test_the_web_takeover_sequence_fails(victim, browser, delivered):
    stranger, owner = browser(), browser()
    # 1. The stranger signs up with the victim's address. There is no password to
    #    choose: the form takes a name and an address.
    response = stranger.post(
        "/signup", data={"name": "Owned", "email": victim, "password": ATTACKER}
    )
    assert response.status_code == 302
    # 2. The owner follows the link in their mailbox and chooses their own password.
    link = the_link(delivered, victim)
    page = owner.page(link)
    assert 'value="Owned"' in page  # the stranger's name, which the owner may correct
    response = owner.post(link, data={"name": "Vic", "password": OWNER})
    assert response.status_code == 302
    assert "Welcome, Vic" in owner.page("/")
    # 3. The stranger has nothing: their password does not work, and their browser is
    #    not logged in.
    refused = stranger.post("/login", data={"email": victim, "password": ATTACKER})
    assert refused.status_code == 401
    assert stranger.get("/account").status_code == 302
    user = db.session.scalar(db.select(User).where(User.email == victim))
    db.session.refresh(user)
    assert (user.state, user.name) == ("active", "Vic")
    assert accounts.authenticate(victim, OWNER).id == user.id


def test_the_api_takeover_sequence_fails(victim, api, delivered):
    # The old API took a password at sign-up: that field is refused now.
    old = api.post("/users", {"email": victim, "password": ATTACKER, "name": "Owned"})
    assert old.status_code == 400 and old.json["error"]["field"] == "password"
    assert api.post("/users", {"email": victim, "name": "Owned"}).status_code == 202
    token = the_link(delivered, victim).rsplit("/", 1)[1]
    confirmed = api.post("/users/confirm", {"token": token, "password": OWNER, "name": "Vic"})
    assert confirmed.status_code == 200 and confirmed.json["state"] == "active"
    refused = api.post("/auth/token", {"email": victim, "password": ATTACKER})
    assert refused.status_code == 401
    assert api.post("/auth/token", {"email": victim, "password": OWNER}).status_code == 200


def test_a_pending_account_with_an_expired_link_gets_a_new_one(make, browser, settings, delivered):
    pending = make.user("Pia", state="pending")
    pending.password_hash = None
    db.session.commit()
    expired = make_token("confirm", pending)
    settings_app = browser()
    # An expired link says so and offers a new one.
    from flask import current_app

    current_app.config["CONFIRM_MAX_AGE"] = -1
    response = settings_app.get(f"/confirm/{expired}")
    assert response.status_code == 400
    assert "expired" in alert(response.get_data(as_text=True))
    assert "/signup/resend" in response.get_data(as_text=True)
    current_app.config["CONFIRM_MAX_AGE"] = 7 * 24 * 3600
    # Signing up again is not "already exists": it sends a fresh link.
    response = settings_app.post("/signup", data={"name": "Pia", "email": pending.email})
    assert response.status_code == 302
    link = the_link(delivered, pending.email)
    assert settings_app.post(link, data={"name": "Pia", "password": OWNER}).status_code == 302
    db.session.refresh(pending)
    assert pending.state == "active"


# -- links are single-use, and never switch a session --------------------------------


def test_a_used_confirmation_link_logs_nobody_in(browser, make, delivered):
    owner, fresh, someone_else = browser(), browser(), browser().log_in(make.user("Eve"))
    owner.post("/signup", data={"name": "Nina", "email": "nina@example.com"})
    link = the_link(delivered, "nina@example.com")
    assert owner.post(link, data={"name": "Nina", "password": OWNER}).status_code == 302

    # Opened again, in a fresh browser: refused, not logged in.
    again = fresh.get(link)
    assert again.status_code == 400
    assert "already been used" in alert(again.get_data(as_text=True))
    assert (
        fresh.post(link, data={"name": "X", "password": "another fine passphrase"}).status_code
        == 400
    )
    assert fresh.get("/account").status_code == 302
    # Opened in a browser logged in as someone else: still Eve, not Nina.
    assert someone_else.get(link).status_code == 400
    assert "Eve" in someone_else.page("/account")


def test_an_unused_link_never_switches_a_logged_in_browser(browser, make, delivered):
    eve = browser().log_in(make.user("Eve"))
    eve.post("/logout")
    eve.log_in(make.user("Eve", email="eve@example.com"))
    accounts.sign_up("nina@example.com", "Nina")
    link = the_link(delivered, "nina@example.com")
    page = eve.get(link)
    assert page.status_code == 409
    assert "logged in as someone else" in page.get_data(as_text=True)
    assert eve.post(link, data={"name": "Nina", "password": OWNER}).status_code == 409
    assert "eve@example.com" in eve.page("/account")
    assert accounts.find_by_email("nina@example.com").state == "pending"


def test_reset_links_stay_single_use(browser, make, delivered):
    lena = make.user("Lena")
    client = browser()
    client.post("/forgot-password", data={"email": lena.email})
    link = the_link(delivered, lena.email)
    assert client.post(link, data={"password": OWNER}).status_code == 302
    used = client.get(link)
    assert used.status_code == 400
    assert "already been used" in alert(used.get_data(as_text=True))


def test_a_closed_accounts_address_can_sign_up_again_as_a_new_account(browser, make, delivered):
    closed = make.user("Cleo", state="closed")
    client = browser()
    assert client.post("/signup", data={"name": "Cleo", "email": closed.email}).status_code == 302
    link = the_link(delivered, closed.email)
    assert client.post(link, data={"name": "Cleo", "password": OWNER}).status_code == 302
    fresh = accounts.find_by_email(closed.email)
    assert fresh.id != closed.id and fresh.state == "active"
    db.session.refresh(closed)
    assert closed.state == "closed"
