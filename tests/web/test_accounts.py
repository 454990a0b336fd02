"""Signing up, confirming, logging in and out, passwords, and the account page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import render_template_string

from app import create_app
from app.extensions import db
from app.models import User
from tests.support import PASSWORD, action_link
from tests.web.conftest import alert, field_error


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def user_named(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.email == email))


SIGNUP = {"name": "Nina", "email": "nina@example.com"}
STRONG = "kettle mosaic harbor"


# -- the whole account flow, by mail -------------------------------------------------


def test_sign_up_confirm_by_mail_choose_a_password_and_land_on_the_dashboard(client, delivered):
    response = client.post("/signup", data=SIGNUP)
    assert response.status_code == 302
    assert response.headers["Location"] == "/check-email?why=signup"
    assert "Check your email" in client.page(response.headers["Location"])
    assert user_named("nina@example.com").state == "pending"
    assert user_named("nina@example.com").password_hash is None
    assert client.get("/").get_data(as_text=True).count("Sign up") >= 1  # not logged in

    delivered.run()
    link = path_of(action_link(delivered.one("nina@example.com")))
    assert link.startswith("/confirm/")

    # Opening the link changes nothing: a mail scanner may open it too.
    page = client.page(link)
    assert "Choose a password" in page and "nina@example.com" in page
    assert user_named("nina@example.com").state == "pending"

    response = client.post(link, data={"name": "Nina", "password": "short"})
    assert response.status_code == 400
    assert "at least 12" in field_error(response.get_data(as_text=True), "password")

    response = client.post(link, data={"name": "Nina R.", "password": STRONG})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    dashboard = client.page("/")
    assert "My loans" in dashboard and "your address is confirmed" in dashboard
    nina = user_named("nina@example.com")
    assert (nina.state, nina.name) == ("active", "Nina R.")

    delivered.run()
    assert delivered.to("nina@example.com")[-1]["Subject"] == "Welcome to Mooch, Nina R."
    # A second click does no harm and logs nobody in.
    again = client.get(link)
    assert again.status_code == 400
    assert "already been used" in alert(again.get_data(as_text=True))


def test_the_signup_form_is_prefilled_from_an_invitation_link(client):
    html = client.page("/signup?email=bob%40example.com")
    assert 'value="bob@example.com"' in html


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "The name cannot be empty."),
        ({"email": ""}, "email", "An email address is required."),
        ({"email": "not-an-address"}, "email", "is not a valid email address"),
    ],
)
def test_sign_up_errors_mark_the_field(client, enqueued, change, field, message):
    response = client.post("/signup", data={**SIGNUP, **change})
    assert response.status_code == 400
    assert message in field_error(response.get_data(as_text=True), field)
    assert enqueued.notifications() == []


def test_a_taken_address_gets_the_same_answer_and_its_owner_a_note(client, make, delivered):
    lena = make.user("Lena")
    response = client.post("/signup", data={**SIGNUP, "email": lena.email})
    assert response.status_code == 302
    assert response.headers["Location"] == "/check-email?why=signup"
    [note] = delivered.run()
    assert note["Subject"] == "Someone tried to sign up to Mooch with your address"
    assert action_link(note) == "https://mooch.test/login"
    assert user_named(lena.email).name == "Lena"


def test_send_the_link_again(client, make, delivered):
    pending = make.user("Pia", state="pending")
    page = client.page("/signup/resend")
    assert "Send the sign-up link again" in page
    response = client.post("/signup/resend", data={"email": pending.email})
    assert response.headers["Location"] == "/check-email?why=resend"
    [mail] = delivered.run()
    assert path_of(action_link(mail)).startswith("/confirm/")
    # Any other address: the same answer, and no mail.
    response = client.post("/signup/resend", data={"email": "nobody@example.com"})
    assert response.headers["Location"] == "/check-email?why=resend"
    assert delivered.run() == []


@pytest.mark.parametrize("token", ["nonsense", "x" * 300])
def test_a_bad_confirm_link_says_so(client, token):
    response = client.get(f"/confirm/{token}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This link is not valid." in alert(page)
    assert "/signup/resend" in page


# -- logging in and out --------------------------------------------------------------


def test_log_in_and_out(client, make):
    lena = make.user("Lena")
    response = client.post("/login", data={"email": lena.email.upper(), "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Hello, Lena." in client.page("/")
    response = client.post("/logout")
    assert response.status_code == 302
    assert "You are logged out." in client.page("/")
    assert client.get("/account").status_code == 302


def test_log_in_returns_to_the_page_asked_for(client, make):
    lena = make.user("Lena")
    response = client.post(
        "/login?next=/loans/new", data={"email": lena.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/loans/new"


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test/", "/\\evil.test"])
def test_log_in_never_sends_you_to_another_site(client, make, target):
    lena = make.user("Lena")
    response = client.post(
        "/login", query_string={"next": target}, data={"email": lena.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("state", ["invited", "pending", "closed"])
def test_accounts_that_cannot_log_in_get_the_wrong_password_answer(client, make, state):
    user = make.user("Lena", state=state)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401
    assert alert(response.get_data(as_text=True)) == "Wrong email or password."
    assert client.get("/account").status_code == 302


def test_a_wrong_password_is_a_wrong_login(client, make):
    lena = make.user("Lena")
    response = client.post("/login", data={"email": lena.email, "password": "not it at all"})
    assert response.status_code == 401
    assert alert(response.get_data(as_text=True)) == "Wrong email or password."


def test_an_unknown_address_is_just_a_wrong_login(client):
    response = client.post("/login", data={"email": "who@example.com", "password": PASSWORD})
    assert response.status_code == 401
    assert "Wrong email or password." in alert(response.get_data(as_text=True))


# -- forgetting and resetting a password ---------------------------------------------


def test_reset_a_forgotten_password_by_mail(client, make, delivered):
    lena = make.user("Lena")
    response = client.post("/forgot-password", data={"email": lena.email})
    assert response.headers["Location"] == "/check-email?why=reset"
    delivered.run()
    link = path_of(action_link(delivered.one(lena.email)))
    assert link.startswith("/reset-password/")
    assert "Choose a new password" in client.page(link)

    response = client.post(link, data={"password": "short"})
    assert response.status_code == 400
    assert "at least 12" in field_error(response.get_data(as_text=True), "password")

    response = client.post(link, data={"password": "a brand new one"})
    assert response.headers["Location"] == "/login"
    assert "Your password is changed" in client.page("/login")
    response = client.post("/login", data={"email": lena.email, "password": "a brand new one"})
    assert response.status_code == 302

    used = client.post(link, data={"password": "yet another one"})
    assert used.status_code == 400
    assert "already been used" in alert(used.get_data(as_text=True))


def test_forgot_password_does_not_say_whether_an_address_exists(client, enqueued):
    response = client.post("/forgot-password", data={"email": "nobody@example.com"})
    assert response.headers["Location"] == "/check-email?why=reset"
    assert enqueued.notifications() == []


def test_forgot_password_marks_a_bad_address(client):
    response = client.post("/forgot-password", data={"email": "nope"})
    assert response.status_code == 400
    assert "not a valid email address" in field_error(response.get_data(as_text=True), "email")


def test_a_bad_reset_link_says_so(client):
    for response in (client.get("/reset-password/bad"), client.post("/reset-password/bad")):
        assert response.status_code == 400
        assert "This link is not valid." in alert(response.get_data(as_text=True))


# -- the account page ----------------------------------------------------------------


def test_change_my_name(client, make):
    lena = make.user("Lena")
    client.log_in(lena)
    response = client.post("/account/name", data={"name": "  Lena   Smith "})
    assert response.headers["Location"] == "/account"
    assert "Your name is saved." in client.page("/account")
    assert user_named(lena.email).name == "Lena Smith"


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "The name cannot be empty."), ("x" * 121, "longer than 120 characters")],
)
def test_a_bad_name_is_marked(client, make, name, message):
    lena = make.user("Lena")
    client.log_in(lena)
    response = client.post("/account/name", data={"name": name})
    assert response.status_code == 400
    assert message in field_error(response.get_data(as_text=True), "name")
    assert user_named(lena.email).name == "Lena"


def test_delete_my_account_with_the_emailed_link(client, make, delivered):
    lena = make.user("Lena")
    bob = make.user("Bob")
    open_loan = make.loan(lena, bob, state="offered")
    client.log_in(lena)
    assert "Delete my account" in client.page("/account")

    response = client.post("/account/close")
    assert response.headers["Location"] == "/check-email?why=close"
    assert user_named(lena.email).state == "closing"
    assert "Keep my account" in client.page("/account")

    delivered.run()
    link = path_of(action_link(delivered.one(lena.email)))
    assert link.startswith("/account/close/")
    page = client.page(link)  # opening the link changes nothing yet
    assert "Close your account for good?" in page
    assert user_named(lena.email).state == "closing"

    response = client.post(link)
    assert response.headers["Location"] == "/"
    assert "Your account is closed." in client.page("/")
    assert user_named(lena.email).state == "closed"
    db.session.refresh(open_loan)
    assert open_loan.state == "cancelled"
    assert client.get("/account").status_code == 302  # logged out

    assert client.get(link).status_code == 400


def test_keep_my_account_after_asking_to_delete_it(client, make):
    lena = make.user("Lena")
    client.log_in(lena)
    client.post("/account/close")
    response = client.post("/account/close/cancel")
    assert response.headers["Location"] == "/account"
    assert "Your account stays open." in client.page("/account")
    assert user_named(lena.email).state == "active"


def test_keep_my_account_when_not_closing_says_why(client, make):
    client.log_in(make.user("Lena"))
    client.post("/account/close/cancel")
    assert "Abort disconnect is not possible now: this account is active." in client.page(
        "/account"
    )


def test_an_account_with_a_loan_under_way_cannot_be_deleted(client, make, enqueued):
    lena = make.user("Lena")
    make.loan(lena, make.user("Bob"), state="lent")
    client.log_in(lena)
    response = client.post("/account/close")
    assert response.status_code == 403
    assert "settle them" in alert(response.get_data(as_text=True))
    assert user_named(lena.email).state == "active"
    assert enqueued.notifications() == []


def test_a_bad_close_link_says_so(client):
    response = client.get("/account/close/nonsense")
    assert response.status_code == 400
    assert "This link is not valid." in alert(response.get_data(as_text=True))


# -- CSRF ----------------------------------------------------------------------------


def test_forms_need_a_csrf_token_when_it_is_enabled(settings, make):
    settings["WTF_CSRF_ENABLED"] = True
    protected = create_app(settings)
    lena = make.user("Lena")
    try:
        with protected.app_context():
            client = protected.test_client()
            refused = client.post("/login", data={"email": lena.email, "password": PASSWORD})
            assert refused.status_code == 400
            assert "This form has expired" in refused.get_data(as_text=True)
            assert client.get("/account").status_code == 302

            page = client.get("/login").get_data(as_text=True)
            token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
            accepted = client.post(
                "/login", data={"email": lena.email, "password": PASSWORD, "csrf_token": token}
            )
            assert accepted.status_code == 302
            assert client.get("/account").status_code == 200

            loan_page = client.post("/loans/new", data={"item": "drill"})
            assert loan_page.status_code == 400
            assert "This form has expired" in loan_page.get_data(as_text=True)

            # The worker renders mail with no request: the pages' context must not
            # try to build a form (and a CSRF token) there.
            assert render_template_string("{{ 6 * 7 }}") == "42"
    finally:
        with protected.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
