"""What every answer tells the browser (app.security): a Content-Security-Policy with no
inline script or style and no framing, nosniff, a Referrer-Policy, HSTS and Secure
cookies when the site is https, and no-store on anything personal. And whom the app
believes about the client's address: TRUSTED_PROXIES, tested with the real rate limit
on POST /api/v1/auth/token."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from email.message import EmailMessage

import pytest

from app import create_app
from app.extensions import db
from tests.support import PASSWORD

REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin-when-cross-origin"}


def policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name.lower()] = values
    return directives


def assert_protected(response) -> dict[str, list[str]]:
    """The headers every answer carries; returns the CSP's directives."""
    csp = response.headers.get("Content-Security-Policy", "")
    assert csp, (response.request.path, dict(response.headers))
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    directives = policy(response)
    scripts = directives.get("script-src", directives["default-src"])
    assert set(scripts) <= {"'self'", "'none'"}, csp
    assert directives["frame-ancestors"] == ["'none'"], csp
    assert directives["object-src"] == ["'none'"], csp
    assert directives["base-uri"] == ["'none'"], csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in REFERRER_POLICIES
    return directives


def session_cookie(response) -> str:
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def flags(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


def log_in(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.status
    return response


# -- the pages ------------------------------------------------------------------------


def test_public_pages_carry_the_headers(client):
    for path in ("/", "/login", "/signup"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/html"
        assert_protected(response)


def test_an_error_page_carries_them_too(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert_protected(response)
    assert_protected(client.delete("/login"))  # 405


def test_pages_of_someone_logged_in_carry_them_and_are_never_stored(client, make):
    lena = make.user("Lena")
    redirect = log_in(client, lena)
    assert redirect.headers["Cache-Control"] == "no-store"
    for path in ("/", "/account", "/loans/new", "/no-such-page"):
        response = client.get(path)
        assert_protected(response)
        assert response.headers["Cache-Control"] == "no-store", path
    # The stylesheet is everybody's: the browser may keep it.
    css = client.get("/static/web/mooch.css")
    assert css.status_code == 200
    assert "no-store" not in css.headers.get("Cache-Control", "")


def test_the_state_diagram_is_drawn_under_the_policy(client):
    # The whole machine is on the public "How loans work" page (the loan page shows a
    # progress line of plain HTML).
    response = client.get("/how-loans-work")
    assert response.status_code == 200
    directives = assert_protected(response)
    page = response.get_data(as_text=True)
    # No inline script or <style> (a script file of our own is fine: script-src 'self').
    assert "<svg" in page and "<style" not in page
    assert not re.search(r"<script(?![^>]*\ssrc=)", page)
    # Each inline style= attribute is allowed by its exact hash, and nothing else is.
    styles = [html.unescape(s) for s in re.findall(r'\sstyle="([^"]*)"', page)]
    assert styles, "the diagram sets its own max-width"
    allowed = directives["style-src-attr"]
    assert allowed[0] == "'unsafe-hashes'"
    for style in styles:
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed, style
    assert directives["style-src"] == ["'self'"]


def test_the_admin_pages_carry_them(browser, make):
    root = make.user("Root")
    root.is_admin = True
    db.session.commit()
    client = browser().log_in(root)
    for path in ("/admin/", "/admin/notifications"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_protected(response)
        assert response.headers["Cache-Control"] == "no-store"
        assert "<style" not in response.get_data(as_text=True)


# -- the API ------------------------------------------------------------------------


def test_every_api_answer_is_no_store(client, make):
    lena = make.user("Lena")
    token = client.post("/api/v1/auth/token", json={"email": lena.email, "password": PASSWORD})
    assert token.status_code in (200, 201)
    answers = [
        token,
        client.post("/api/v1/auth/token", json={"email": lena.email, "password": "wrong!"}),
        client.get("/api/v1/loans", headers={"Authorization": f"Bearer {token.json['token']}"}),
        client.get("/api/v1/loans"),  # 401
        client.get("/api/v1/no-such-thing"),  # 404
    ]
    for response in answers:
        assert response.mimetype == "application/json", response.request.path
        assert response.headers["Cache-Control"] == "no-store", response.request.path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" in response.headers


# -- https, cookies, HSTS -------------------------------------------------------------


def test_with_an_https_base_url_cookies_are_secure_and_hsts_is_sent(settings, client, make):
    assert settings["BASE_URL"].startswith("https://")
    response = log_in(client, make.user("Lena"))
    assert flags(session_cookie(response)) >= {"secure", "httponly", "samesite=lax"}
    hsts = client.get("/").headers["Strict-Transport-Security"]
    assert re.fullmatch(r"max-age=(\d+); includeSubDomains", hsts)
    assert int(hsts.split("=")[1].split(";")[0]) >= 180 * 24 * 3600
    assert "Strict-Transport-Security" in client.get("/api/v1/loans").headers


def test_tls_ends_at_the_proxy_so_plain_http_is_never_redirected(settings, client):
    assert settings["BASE_URL"].startswith("https://")
    response = client.get("/login", base_url="http://mooch.test")
    assert response.status_code == 200


@pytest.fixture
def plain_http(settings):
    settings["BASE_URL"] = "http://127.0.0.1:5000"


def test_with_an_http_base_url_there_is_neither(plain_http, client, make):
    response = log_in(client, make.user("Lena"))
    cookie = flags(session_cookie(response))
    assert "secure" not in cookie
    assert cookie >= {"httponly", "samesite=lax"}
    assert "Strict-Transport-Security" not in client.get("/").headers
    assert_protected(client.get("/"))


# -- /dev/mail, in development ------------------------------------------------------


@pytest.fixture
def development(settings, tmp_path):
    settings["MOOCH_ENV"] = "development"
    settings["MAIL_CATCHER_DIR"] = str(tmp_path / "mail")
    (tmp_path / "mail").mkdir()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hi"
    message.set_content("hello")
    message.add_alternative('<p style="color:red">hello</p>', subtype="html")
    (tmp_path / "mail" / "20260101T000000-1.eml").write_bytes(message.as_bytes())
    return "20260101T000000-1.eml"


def test_the_dev_mail_pages_work_under_the_policy(development, client):
    for path in ("/dev/mail", f"/dev/mail/{development}"):
        response = client.get(path)
        assert response.status_code == 200, path
        directives = assert_protected(response)
        page = response.get_data(as_text=True)
        assert "<style" not in page and " style=" not in page, path
        # Its stylesheet is a file of this site, which style-src 'self' allows.
        (href,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        assert href.startswith("/")
        css = client.get(href)
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert "iframe" in css.get_data(as_text=True)
    # The message page frames the mail's HTML, from this site.
    frames = directives.get("frame-src", directives["default-src"])
    assert frames == ["'self'"]


def test_the_mail_frame_keeps_its_own_stricter_policy(development, client):
    from app.dev.views import HTML_CSP

    response = client.get(f"/dev/mail/{development}/html")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == HTML_CSP
    assert "frame-ancestors 'self'" in HTML_CSP and "sandbox" in HTML_CSP
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- TRUSTED_PROXIES: whose address is counted -----------------------------------------

TOKEN = "/api/v1/auth/token"


def attempt(client, n: int, forwarded_for: str):
    # A new unknown address each time: only the per-client-address limit is in play.
    body = {"email": f"nobody{n}@example.com", "password": "not the password"}
    return client.post(TOKEN, json=body, headers={"X-Forwarded-For": forwarded_for})


@pytest.fixture
def no_proxy(settings):
    settings["RATELIMIT_AUTH"] = "10 per minute"  # the default, whatever the environment
    settings["TRUSTED_PROXIES"] = 0  # likewise


@pytest.fixture
def one_proxy(settings):
    settings["RATELIMIT_AUTH"] = "10 per minute"
    settings["TRUSTED_PROXIES"] = 1


def test_by_default_a_forged_forwarded_for_does_not_escape_the_limit(no_proxy, app):
    client = app.test_client()
    for n in range(10):
        assert attempt(client, n, f"203.0.113.{n + 1}").status_code == 401
    assert attempt(client, 10, "203.0.113.99").status_code == 429


def test_behind_one_proxy_each_client_is_counted_apart(one_proxy, app):
    client = app.test_client()  # every request comes from the proxy, 127.0.0.1
    for n in range(10):
        assert attempt(client, n, "198.51.100.1").status_code == 401
    assert attempt(client, 10, "198.51.100.1").status_code == 429
    # A client's own X-Forwarded-For comes first; the proxy appends the address it
    # saw, and only that one is believed.
    assert attempt(client, 11, "203.0.113.5, 198.51.100.1").status_code == 429
    assert attempt(client, 12, "198.51.100.2").status_code == 401
    assert attempt(client, 13, "198.51.100.1, 198.51.100.2").status_code == 401


def test_a_negative_number_of_proxies_is_refused(settings):
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        create_app({**settings, "TRUSTED_PROXIES": -1})
