"""Sign-up, confirmation and bearer tokens through the JSON API."""

from __future__ import annotations

import pytest

from app.accounts import service as accounts
from app.accounts.tokens import make_token
from app.extensions import db
from tests.support import PASSWORD, action_link

STRONG = "kettle mosaic harbor"


def test_sign_up_confirm_with_a_password_by_the_mailed_link_then_get_a_token(api, delivered):
    signed_up = api.post("/users", {"email": " Nina@Example.com", "name": "Nina"})
    assert signed_up.status_code == 202
    assert "emailed that address" in signed_up.json["message"]
    refused = api.post("/auth/token", {"email": "nina@example.com", "password": STRONG})
    assert refused.status_code == 401

    [mail] = delivered.run()
    assert mail["Subject"] == "Confirm your email address for Mooch"
    link = action_link(mail)
    assert link.startswith("https://mooch.test/confirm/")
    token = link.rsplit("/", 1)[1]

    weak = api.post("/users/confirm", {"token": token, "password": "password1234"})
    assert (weak.status_code, weak.json["error"]["field"]) == (400, "password")
    assert "common password" in weak.json["error"]["message"]

    confirmed = api.post("/users/confirm", {"token": token, "password": STRONG})
    assert confirmed.status_code == 200
    assert confirmed.json == {
        "id": confirmed.json["id"],
        "email": "nina@example.com",
        "name": "Nina",
        "state": "active",
    }
    assert [m["Subject"] for m in delivered.run()] == ["Welcome to Mooch, Nina"]
    # The link used twice: refused, and no second welcome.
    again = api.post("/users/confirm", {"token": token, "password": "another fine passphrase"})
    assert again.status_code == 400
    assert "already been used" in again.json["error"]["message"]
    assert delivered.run() == []

    issued = api.post("/auth/token", {"email": "NINA@example.com ", "password": STRONG})
    assert issued.status_code == 200
    assert issued.json["token_type"] == "Bearer"
    assert issued.json["expires_in"] == 24 * 3600
    loans = api.get("/loans", headers={"Authorization": f"Bearer {issued.json['token']}"})
    assert loans.status_code == 200 and loans.json["loans"] == []


def test_confirm_may_correct_the_name(api, make, delivered):
    api.post("/users", {"email": "neo@example.com", "name": "Typo"})
    token = action_link(delivered.run()[0]).rsplit("/", 1)[1]
    confirmed = api.post("/users/confirm", {"token": token, "password": STRONG, "name": "Neo"})
    assert confirmed.json["name"] == "Neo"


def test_signing_up_an_invited_address_takes_over_the_invitation(api, make, enqueued):
    lena = make.user("Lena")
    api.post(
        "/loans",
        {"role": "lender", "counterparty_email": "new@example.com", "item": "ladder"},
        as_=lena,
    )
    signed_up = api.post("/users", {"email": "new@example.com", "name": "Neo"})
    assert signed_up.status_code == 202
    assert enqueued.mail()[-1] == ("signup_confirmation", "new@example.com")


def test_sign_up_answers_the_same_for_a_taken_address(api, make, enqueued):
    taken = make.user("Lena")
    new = api.post("/users", {"email": "fresh@example.com", "name": "F"})
    again = api.post("/users", {"email": taken.email, "name": "L"})
    assert (again.status_code, again.json) == (new.status_code, new.json)
    assert enqueued.mail() == [
        ("signup_confirmation", "fresh@example.com"),
        ("signup_attempt", taken.email),
    ]


def test_sign_up_refuses_bad_input_naming_the_field(api, enqueued):
    bad = api.post("/users", {"email": "not-an-address", "name": "X"})
    assert (bad.status_code, bad.json["error"]["field"]) == (400, "email")
    old_style = api.post("/users", {"email": "x@example.com", "password": STRONG, "name": "X"})
    assert (old_style.status_code, old_style.json["error"]["field"]) == (400, "password")
    assert "Unknown field 'password'" in old_style.json["error"]["message"]
    blank = api.post("/users", {"email": "x@example.com", "name": " "})
    assert blank.json["error"] == {
        "code": "invalid",
        "message": "The name cannot be empty.",
        "field": "name",
    }
    assert enqueued.mail() == []


def test_resend_confirmation_answers_the_same_whatever_the_address(api, make, enqueued):
    pending = make.user("Pia", state="pending")
    active = make.user("Ari")
    answers = [
        api.post("/users/confirm/resend", {"email": address})
        for address in (pending.email, active.email, "nobody@example.com")
    ]
    assert {(a.status_code, a.json["message"]) for a in answers} == {
        (202, answers[0].json["message"])
    }
    assert enqueued.mail() == [("signup_confirmation", pending.email)]


def test_confirm_refuses_a_bad_token(api, make):
    pending = make.user("Pia", state="pending")
    for token in ("nonsense", make_token("reset", pending)):
        refused = api.post("/users/confirm", {"token": token, "password": STRONG})
        assert refused.status_code == 400
        assert refused.json["error"] == {
            "code": "invalid",
            "message": "This link is not valid.",
            "field": "token",
        }


def test_confirm_cannot_reopen_a_closed_account(api, make):
    closed = make.user("Cleo", state="closed")
    refused = api.post(
        "/users/confirm", {"token": make_token("confirm", closed), "password": STRONG}
    )
    assert refused.status_code == 400
    assert refused.json["error"]["message"] == "This account is closed."


@pytest.mark.parametrize("state", ["pending", "invited", "closed"])
def test_only_an_active_account_gets_a_token_and_the_others_are_told_nothing(state, api, make):
    user = make.user("Uma", state=state)
    refused = api.post("/auth/token", {"email": user.email, "password": PASSWORD})
    assert refused.status_code == 401
    assert refused.json["error"] == {
        "code": "unauthenticated",
        "message": "Wrong email or password.",
    }


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
    # A web session's secret is not an API token either.
    headers = {"Authorization": f"Bearer {accounts.log_in(lena, 'web')}"}
    assert api.get("/loans", headers=headers).status_code == 401


def test_a_token_dies_when_the_password_changes(api, make):
    lena = make.user("Lena")
    headers = {"Authorization": f"Bearer {_token(api, lena)}"}
    assert api.get("/loans", headers=headers).status_code == 200
    accounts.reset_password(make_token("reset", lena), STRONG)
    refused = api.get("/loans", headers=headers)
    assert refused.status_code == 401
    assert "a password change" in refused.json["error"]["message"]


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
