"""Every page renders; login is required where it should be; errors are our pages."""

from __future__ import annotations

import pytest

from app import create_app
from app.extensions import db
from app.models import Loan

PUBLIC = ["/", "/signup", "/signup?email=x%40example.com", "/login", "/forgot-password"]
PRIVATE = ["/account", "/loans/new", "/loans/new?role=lender", "/loans/1"]


@pytest.mark.parametrize("path", [*PUBLIC, "/check-email", "/check-email?why=reset"])
def test_public_pages_render(client, path):
    html = client.page(path)
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html and "<nav" in html and "<footer" in html
    assert "/static/web/mooch.css" in html


@pytest.mark.parametrize("why", ["signup", "reset", "close", "anything"])
def test_the_check_your_email_page_says_why(client, why):
    assert "Check your email" in client.page(f"/check-email?why={why}")


@pytest.mark.parametrize("path", PRIVATE)
def test_private_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "path", ["/account/name", "/account/close", "/account/close/cancel", "/loans/1/events"]
)
def test_private_actions_need_a_login(client, path):
    response = client.post(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logged_in_pages_render(client, make):
    lena = make.user("Lena")
    loan = make.loan(lena, make.user("Bob"))
    client.log_in(lena)
    assert "My loans" in client.page("/")
    assert "Your account" in client.page("/account")
    assert "Borrow or lend something" in client.page("/loans/new")
    assert "cordless drill" in client.page(f"/loans/{loan.id}")


def test_the_stylesheet_is_served(client):
    response = client.get("/static/web/mooch.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert b":focus-visible" in response.data


def test_login_page_when_logged_in_goes_to_the_dashboard(client, make):
    client.log_in(make.user())
    assert client.get("/login").headers["Location"] == "/"
    assert client.get("/signup").headers["Location"] == "/"


# -- errors -------------------------------------------------------------------------


def test_an_unknown_page_is_our_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Nothing here" in response.get_data(as_text=True)
    assert '<main id="main"' in response.get_data(as_text=True)


def test_a_wrong_method_is_our_405(client):
    response = client.delete("/login")
    assert response.status_code == 405
    assert "Not like that" in response.get_data(as_text=True)
    assert "GET" in response.headers["Allow"]


def test_a_body_too_large_is_our_413(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 100
    response = client.post("/login", data={"email": "x" * 500, "password": "y"})
    assert response.status_code == 413
    assert "larger than we accept" in response.get_data(as_text=True)


def test_the_api_still_answers_json(client):
    response = client.get("/api/v1/no/such")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_crash_is_our_500_page_and_the_api_stays_json(settings, caplog):
    settings["TESTING"] = False
    crashing = create_app(settings)

    @crashing.get("/crash")
    def crash():
        raise RuntimeError("secret internals")

    @crashing.get("/api/v1/crash")
    def api_crash():
        raise RuntimeError("secret internals")

    with crashing.app_context():
        page = crashing.test_client().get("/crash")
        api = crashing.test_client().get("/api/v1/crash")
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "Something went wrong" in page.get_data(as_text=True)
    assert b"secret internals" not in page.data and b"Traceback" not in page.data
    assert api.status_code == 500 and api.json["error"]["code"] == "internal_error"
    assert "secret internals" in caplog.text


def test_a_loan_that_is_not_yours_is_our_404(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"))
    client.log_in(make.user("Eve"))
    for response in (
        client.get(f"/loans/{loan.id}"),
        client.post(f"/loans/{loan.id}/events", data={"event": "accept", "version": "1"}),
        client.get("/loans/999999"),
    ):
        assert response.status_code == 404
        assert "Nothing here" in response.get_data(as_text=True)
        assert "cordless drill" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Loan, loan.id).state == "requested"


def test_a_huge_loan_id_is_a_404_not_a_crash(client, make):
    client.log_in(make.user())
    assert client.get("/loans/99999999999999999999").status_code == 404
