"""Sign-up, confirmation and bearer tokens through the JSON API."""

from __future__ import annotations

import pytest

from app.accounts import service as accounts
from app.accounts.tokens import make_token
from app.extensions import db
from tests.support import PASSWORD, action_link


def test_sign_up_confirm_by_the_mailed_link_then_get_a_token(api, delivered):
    signed_up = api.post(
        "/users", {"email": " Nina@Example.com", "password": "long enough", "name": "Nina"}
    )
    assert signed_up.status_code == 201
    assert signed_up.json == {
        "id": signed_up.json["id"],
        "email": "nina@example.com",
        "name": "Nina",
        "state": "pending",
    }
    refused = api.post("/auth/token", {"email": "nina@example.com", "password": "long enough"})
    assert refused.status_code == 403
    assert "Confirm your email address" in refused.json["error"]["message"]

    [mail] = delivered.run()
    assert mail["Subject"] == "Confirm your email address for Mooch"
    link = action_link(mail)
    assert link.startswith("https://mooch.test/confirm/")
    token = link.rsplit("/", 1)[1]

    confirmed = api.post("/users/confirm", {"token": token})
    assert confirmed.status_code == 200
    assert confirmed.json["state"] == "active"
    assert [m["Subject"] for m in delivered.run()] == ["Welcome to Mooch, Nina"]
    # The link clicked twice: still active, no second welcome.
    assert api.post("/users/confirm", {"token": token}).json["state"] == "active"
    assert delivered.run() == []

    issued = api.post("/auth/token", {"email": "NINA@example.com ", "password": "long enough"})
    assert issued.status_code == 200
    assert issued.json["token_type"] == "Bearer"
    assert issued.json["expires_in"] == 24 * 3600
    loans = api.get("/loans", headers={"Authorization": f"Bearer {issued.json['token']}"})
    assert loans.status_code == 200 and loans.json == {"loans": []}


def test_signing_up_an_invited_address_takes_over_the_invitation(api, make, enqueued):
    lena = make.user("Lena")
    api.post(
        "/loans",
        {"role": "lender", "counterparty_email": "new@example.com", "item": "ladder"},
        as_=lena,
    )
    signed_up = api.post(
        "/users", {"email": "new@example.com", "password": "long enough", "name": "Neo"}
    )
    assert signed_up.status_code == 201
    assert (signed_up.json["name"], signed_up.json["state"]) == ("Neo", "pending")


def test_sign_up_refuses_a_taken_address_and_a_bad_one(api, make, enqueued):
    taken = make.user("Lena")
    again = api.post("/users", {"email": taken.email, "password": "long enough", "name": "L"})
    assert again.status_code == 400
    assert again.json["error"] == {
        "code": "invalid",
        "message": "An account with this email address already exists.",
        "field": "email",
    }
    bad = api.post("/users", {"email": "not-an-address", "password": "long enough", "name": "X"})
    assert (bad.status_code, bad.json["error"]["field"]) == (400, "email")
    short = api.post("/users", {"email": "x@example.com", "password": "short", "name": "X"})
    assert short.json["error"]["field"] == "password"
    assert "at least 8 characters" in short.json["error"]["message"]
    blank = api.post("/users", {"email": "x@example.com", "password": "long enough", "name": " "})
    assert blank.json["error"] == {
        "code": "invalid",
        "message": "The name cannot be empty.",
        "field": "name",
    }
    assert enqueued.mail() == []


def test_confirm_refuses_a_bad_token(api, make):
    pending = make.user("Pia", state="pending")
    for token in ("nonsense", make_token("reset", pending)):
        refused = api.post("/users/confirm", {"token": token})
        assert refused.status_code == 400
        assert refused.json["error"] == {
            "code": "invalid",
            "message": "This link is not valid.",
            "field": "token",
        }


def test_confirm_cannot_reopen_a_closed_account(api, make):
    closed = make.user("Cleo", state="closed")
    refused = api.post("/users/confirm", {"token": make_token("confirm", closed)})
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "invalid_state"


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("pending", "Confirm your email address first"),
        ("invited", "invited but has not signed up"),
        ("closed", "This account is closed"),
    ],
)
def test_only_an_active_account_gets_a_token(state, why, api, make):
    user = make.user("Uma", state=state)
    refused = api.post("/auth/token", {"email": user.email, "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "forbidden"
    assert why in refused.json["error"]["message"]


def test_an_account_being_closed_still_gets_a_token(api, make):
    user = make.user("Uma", state="closing")
    assert api.post("/auth/token", {"email": user.email, "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "lena1@example.com", "password": "wrong password"},
        {"email": "nobody@example.com", "password": PASSWORD},
    ],
)
def test_wrong_credentials_are_401_and_say_nothing_more(credentials, api, make):
    make.user("Lena")
    refused = api.post("/auth/token", credentials)
    assert refused.status_code == 401
    assert refused.json["error"] == {
        "code": "unauthenticated",
        "message": "Wrong email or password.",
    }
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


def _token(api, user) -> str:
    issued = api.post("/auth/token", {"email": user.email, "password": PASSWORD})
    assert issued.status_code == 200, issued.json
    return issued.json["token"]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic bGVuYTpwdw==", "Bearer not-a-token", "Token abc"],
)
def test_a_missing_or_bad_token_is_401(header, api, make):
    make.loan(make.user("Lena"), make.user("Bram"))
    headers = {} if header is None else {"Authorization": header}
    for method, path in (("GET", "/loans"), ("GET", "/loans/1"), ("POST", "/loans")):
        refused = api.call(method, path, {} if method == "POST" else None, headers=headers)
        assert refused.status_code == 401, (method, path)
        assert refused.json["error"]["code"] == "unauthenticated"
        assert "POST /api/v1/auth/token" in refused.json["error"]["message"]
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="mooch"'


def test_the_token_scheme_is_case_insensitive(api, make):
    lena = make.user("Lena")
    token = _token(api, lena)
    assert api.get("/loans", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_a_token_for_another_purpose_is_refused(api, make):
    lena = make.user("Lena")
    for purpose in ("confirm", "reset", "disconnect"):
        headers = {"Authorization": f"Bearer {make_token(purpose, lena)}"}
        assert api.get("/loans", headers=headers).status_code == 401


def test_a_token_dies_when_the_password_changes(api, make):
    lena = make.user("Lena")
    headers = {"Authorization": f"Bearer {_token(api, lena)}"}
    assert api.get("/loans", headers=headers).status_code == 200
    accounts.reset_password(make_token("reset", lena), "a new password")
    refused = api.get("/loans", headers=headers)
    assert refused.status_code == 401
    assert "password changed" in refused.json["error"]["message"]


def test_a_token_dies_when_the_account_closes(api, make):
    lena = make.user("Lena")
    headers = {"Authorization": f"Bearer {_token(api, lena)}"}
    accounts.start_disconnect(lena)
    # Closing is not closed: the account can still settle its loans.
    assert api.get("/loans", headers=headers).status_code == 200
    accounts.disconnect(make_token("disconnect", lena))
    assert api.get("/loans", headers=headers).status_code == 401


@pytest.fixture
def expired_tokens(settings):
    settings["API_TOKEN_MAX_AGE"] = -1


def test_a_token_expires(expired_tokens, api, make):
    lena = make.user("Lena")
    token = _token(api, lena)
    refused = api.get("/loans", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert "expired" in refused.json["error"]["message"]


def test_a_token_for_a_deleted_row_is_refused(api, make):
    lena = make.user("Lena")
    token = _token(api, lena)
    db.session.delete(lena)
    db.session.commit()
    assert api.get("/loans", headers={"Authorization": f"Bearer {token}"}).status_code == 401
