"""Brute force and floods are throttled on the pages as on the API, in one policy
counted in Redis: per client address and action, per account whatever the client,
and per address for the mail the forms send."""

from __future__ import annotations

import pytest

from app.accounts import service as accounts
from app.errors import TooMany
from tests.support import PASSWORD
from tests.web.conftest import alert, field_error


def from_address(n: int) -> dict:
    # A botnet: every attempt from another client address.
    return {"environ_base": {"REMOTE_ADDR": f"198.51.100.{n}"}}


def test_thirty_wrong_passwords_on_the_login_page(client, make, redis):
    lena = make.user("Lena")
    answers = [
        client.post(
            "/login", data={"email": lena.email, "password": f"guess {n}"}, **from_address(n)
        )
        for n in range(30)
    ]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert {a.status_code for a in answers[5:]} == {429}
    message = alert(answers[5].get_data(as_text=True))
    assert "Too many failed attempts to log in with this address" in message
    assert 0 < int(answers[5].headers["Retry-After"]) <= 15 * 60
    # Even the right password is refused for a while: the guessing has to stop.
    right = client.post(
        "/login", data={"email": lena.email, "password": PASSWORD}, **from_address(99)
    )
    assert right.status_code == 429
    assert client.get("/account").status_code == 302
    # Counted in the app's Redis, so every web process shares it.
    assert any(b"mooch" in key for key in redis.scan_iter())
    # Another account is not affected.
    bram = make.user("Bram")
    assert (
        client.post("/login", data={"email": bram.email, "password": PASSWORD}).status_code == 302
    )


def test_thirty_wrong_passwords_on_the_api_share_the_count(api, client, make):
    lena = make.user("Lena")
    for n in range(3):
        client.post(
            "/login", data={"email": lena.email, "password": f"guess {n}"}, **from_address(n)
        )
    answers = [
        api.post(
            "/auth/token", {"email": lena.email, "password": f"guess {n}"}, **from_address(n + 50)
        )
        for n in range(27)
    ]
    assert [a.status_code for a in answers[:2]] == [401, 401]
    assert {a.status_code for a in answers[2:]} == {429}
    error = answers[2].json["error"]
    assert error["code"] == "rate_limited"
    assert "Too many failed attempts" in error["message"]
    assert int(answers[2].headers["Retry-After"]) > 0
    right = api.post("/auth/token", {"email": lena.email, "password": PASSWORD}, **from_address(99))
    assert right.status_code == 429


def test_unknown_addresses_are_counted_alike(make):
    # The refusal tells nothing about which addresses have accounts.
    for address in ("nobody@example.com", make.user("Lena").email):
        for _ in range(5):
            with pytest.raises(Exception) as failed:
                accounts.authenticate(address, "wrong guess here")
            assert failed.type.__name__ == "NotAuthenticated"
        with pytest.raises(TooMany):
            accounts.authenticate(address, "wrong guess here")


@pytest.fixture
def three_a_minute(settings):
    settings["RATELIMIT_AUTH"] = "3 per minute"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login", {"email": "x@example.com", "password": "whatever it is"}),
        ("/signup", {"email": "x@example.com", "name": "X"}),
        ("/signup/resend", {"email": "x@example.com"}),
        ("/forgot-password", {"email": "x@example.com"}),
    ],
)
def test_each_form_is_limited_per_client_address(three_a_minute, client, path, data):
    for n in range(3):
        # Different addresses typed, one client: the per-client count is what stops it.
        body = {**data, "email": f"x{n}@example.com"}
        assert client.post(path, data=body).status_code != 429
    refused = client.post(path, data={**data, "email": "x9@example.com"})
    assert refused.status_code == 429
    assert "Slow down" in refused.get_data(as_text=True)
    assert (
        client.post(path, data={**data, "email": "x8@example.com"}, **from_address(7)).status_code
        != 429
    )


def test_the_login_page_and_the_token_endpoint_share_the_client_count(
    three_a_minute, client, api, make
):
    lena = make.user("Lena")
    for n in range(2):
        client.post("/login", data={"email": f"x{n}@example.com", "password": "whatever it is"})
    assert (
        api.post("/auth/token", {"email": "x3@example.com", "password": "whatever"}).status_code
        == 401
    )
    assert api.post("/auth/token", {"email": lena.email, "password": PASSWORD}).status_code == 429


def test_at_most_three_reset_mails_an_hour_to_one_address(client, make, enqueued):
    lena = make.user("Lena")
    for n in range(3):
        response = client.post("/forgot-password", data={"email": lena.email}, **from_address(n))
        assert response.headers["Location"] == "/check-email?why=reset"
    refused = client.post("/forgot-password", data={"email": lena.email}, **from_address(9))
    assert refused.status_code == 429
    assert "already emailed this address several times" in field_error(
        refused.get_data(as_text=True), "email"
    )
    assert int(refused.headers["Retry-After"]) > 0
    assert enqueued.mail() == [("password_reset", lena.email)] * 3


def test_sign_up_mail_to_one_address_is_capped_too(api, make, enqueued):
    taken = make.user("Lena")
    for n in range(3):
        assert (
            api.post("/users", {"email": taken.email, "name": "X"}, **from_address(n)).status_code
            == 202
        )
    refused = api.post("/users/confirm/resend", {"email": taken.email}, **from_address(9))
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert enqueued.mail() == [("signup_attempt", taken.email)] * 3


def test_with_limits_off_nothing_is_counted(settings, make):
    settings["RATELIMIT_ENABLED"] = False
    from app import create_app

    unlimited = create_app(settings)
    with unlimited.app_context():
        lena = make.user("Lena")
        client = unlimited.test_client()
        for n in range(8):
            wrong = client.post("/login", data={"email": lena.email, "password": f"guess {n}"})
            assert wrong.status_code == 401
        right = client.post("/login", data={"email": lena.email, "password": PASSWORD})
        assert right.status_code == 302
