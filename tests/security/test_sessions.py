"""Sessions end when they should: on logout (a replayed cookie is anonymous), on a
password change or reset (every other session and API token), and on "log out
everywhere"."""

from __future__ import annotations

from http.cookies import SimpleCookie

from app.accounts import service as accounts
from app.accounts.tokens import make_token
from app.extensions import db
from app.models import LoginSession
from tests.support import PASSWORD
from tests.web.conftest import field_error

NEW = "kettle mosaic harbor"


def cookie_of(response) -> str:
    jar = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        jar.load(header)
    return jar["session"].value


def test_a_replayed_cookie_is_anonymous_after_logout(browser, make):
    lena = make.user("Lena")
    client = browser()
    logged_in = client.post("/login", data={"email": lena.email, "password": PASSWORD})
    assert logged_in.status_code == 302
    stolen = cookie_of(logged_in)
    assert client.get("/account").status_code == 200

    client.post("/logout")
    assert client.get("/account").status_code == 302

    # The attacker replays the cookie the browser held while logged in.
    replay = browser()
    replay.set_cookie("session", stolen, domain="localhost")
    assert replay.get("/account").status_code == 302
    assert "Log in" in replay.page("/")
    assert db.session.scalars(db.select(LoginSession)).all() == []


def _api_ok(api, token: str) -> bool:
    return api.get("/loans", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_changing_the_password_ends_every_other_session_and_token(browser, make, api, enqueued):
    lena = make.user("Lena")
    here, elsewhere = browser().log_in(lena), browser().log_in(lena)
    token = api.post("/auth/token", {"email": lena.email, "password": PASSWORD}).json["token"]
    assert _api_ok(api, token)

    wrong = here.post(
        "/account/password", data={"current_password": "not it at all", "new_password": NEW}
    )
    assert wrong.status_code == 400
    assert "not your current password" in field_error(
        wrong.get_data(as_text=True), "current_password"
    )
    weak = here.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": "password1234"}
    )
    assert "common password" in field_error(weak.get_data(as_text=True), "new_password")

    changed = here.post(
        "/account/password", data={"current_password": PASSWORD, "new_password": NEW}
    )
    assert changed.headers["Location"] == "/account"
    assert "Every other browser" in here.page("/account")  # this one stays in
    assert elsewhere.get("/account").status_code == 302
    assert not _api_ok(api, token)
    assert accounts.authenticate(lena.email, NEW).id == lena.id
    assert enqueued.mail()[-1] == ("password_changed", lena.email)


def test_a_reset_ends_every_session_and_token(browser, make, api):
    lena = make.user("Lena")
    logged_in = browser().log_in(lena)
    token = api.post("/auth/token", {"email": lena.email, "password": PASSWORD}).json["token"]
    accounts.reset_password(make_token("reset", lena), NEW)
    assert logged_in.get("/account").status_code == 302
    assert not _api_ok(api, token)


def test_log_out_everywhere(browser, make, api):
    lena, bram = make.user("Lena"), make.user("Bram")
    here, elsewhere, bram_here = (
        browser().log_in(lena),
        browser().log_in(lena),
        browser().log_in(bram),
    )
    token = api.post("/auth/token", {"email": lena.email, "password": PASSWORD}).json["token"]
    assert "Log out everywhere" in here.page("/account")

    response = here.post("/account/logout-everywhere")
    assert response.headers["Location"] == "/login"
    assert "logged out everywhere" in here.page("/login")
    for client in (here, elsewhere):
        assert client.get("/account").status_code == 302
    assert not _api_ok(api, token)
    # Someone else's sessions are theirs.
    assert bram_here.get("/account").status_code == 200
    # The password still works: a new session starts as usual.
    assert here.post("/login", data={"email": lena.email, "password": PASSWORD}).status_code == 302


def test_closing_the_account_ends_its_sessions(browser, make, api):
    lena = make.user("Lena")
    elsewhere = browser().log_in(lena)
    token = api.post("/auth/token", {"email": lena.email, "password": PASSWORD}).json["token"]
    accounts.start_disconnect(lena)
    accounts.disconnect(make_token("disconnect", lena))
    assert elsewhere.get("/account").status_code == 302
    assert not _api_ok(api, token)
    assert db.session.scalars(db.select(LoginSession)).all() == []


def test_only_a_hash_of_the_secret_is_stored(make):
    secret = accounts.log_in(make.user("Lena"), "web")
    [row] = db.session.scalars(db.select(LoginSession)).all()
    assert secret not in row.token_hash and len(row.token_hash) == 64
