"""`next=` after logging in: a path on this site, or the dashboard; never another host.

Every payload goes through the real /login twice: as a GET by someone already logged
in, and as the POST of a successful login. Browsers forgive a lot (a tab or a newline
inside a URL is dropped, a backslash is a slash, `/%09/` or `%2F%2F` may be decoded
by a proxy on the way), so anything that is not plainly a local path is refused.
"""

from __future__ import annotations

import pytest

from tests.support import PASSWORD

HOST = "evil.test"

# As the app receives them (after the query string is decoded once).
HOSTILE = [
    # another site, spelled out
    f"https://{HOST}/",
    f"http://{HOST}",
    f"HTTPS://{HOST}",
    f"http:{HOST}",
    f"https:/{HOST}",
    f"ftp://{HOST}/",
    f"{HOST}",
    f"@{HOST}",
    # scheme-relative, and backslashes that browsers read as slashes
    f"//{HOST}/",
    f"///{HOST}",
    f"////{HOST}",
    f"/\\{HOST}",
    f"/\\/{HOST}",
    f"\\\\{HOST}",
    f"\\/{HOST}",
    f"/loans\\..\\..\\{HOST}",
    # whitespace and control characters that browsers strip from a URL
    f"/\t/{HOST}",
    f"/\n/{HOST}",
    f"/\r/{HOST}",
    f"\t//{HOST}",
    f" //{HOST}",
    f"/ /{HOST}",
    f"/\x00/{HOST}",
    f"/\x0b/{HOST}",
    f"/\x1b/{HOST}",
    f"/\x7f/{HOST}",
    "/loans/new\r\nSet-Cookie: stolen=1",
    f"/\r\nLocation: https://{HOST}",
    # percent-encoded once (as they would sit in the raw URL of a link)
    f"/%09/{HOST}",
    f"/%0a/{HOST}",
    f"/%0D%0A/{HOST}",
    f"%2F%2F{HOST}",
    f"/%2F%2F{HOST}",
    f"/%2f{HOST}",
    f"%5C%5C{HOST}",
    f"/%5C{HOST}",
    f"/%5c/{HOST}",
    f"/%00/{HOST}",
    # encoded twice, and three times
    f"%252F%252F{HOST}",
    f"/%252F%252F{HOST}",
    f"/%255C{HOST}",
    f"/%2509/{HOST}",
    f"/%25252F{HOST}",
    # scripts and data
    "javascript:alert(document.domain)",
    "JavaScript:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    # non-ASCII: look-alike slashes, and anything else
    f"/\u2215\u2215{HOST}",
    f"/\uff0f{HOST}",
    f"/\u3002{HOST}",
    "/loans/caf\u00e9",
    "/loans/caf%C3%A9",
    f"/%E2%88%95%E2%88%95{HOST}",
    "/\ufffd",
    # absurd sizes, and nothing at all
    "/" + "a" * 5000,
    "/loans?" + "x=1&" * 3000,
    "",
    " ",
]

GOOD = [
    "/loans/new",
    "/loans/3?x=1",
    "/account",
    "/loans/3?x=1&y=%2F%2Fnot-a-host",  # an encoded slash inside a query is data
    "/",
]


def short(value: str) -> str:
    return ascii(value)[:60]


def log_in_with_next(client, user, target: str):
    return client.post(
        "/login",
        query_string={"next": target},
        data={"email": user.email, "password": PASSWORD},
    )


@pytest.mark.parametrize("target", HOSTILE, ids=short)
def test_a_hostile_next_after_logging_in_goes_to_the_dashboard(client, make, target):
    lena = make.user("Lena")
    response = log_in_with_next(client, lena, target)
    assert response.status_code == 302, short(target)
    assert response.headers["Location"] == "/", short(target)


@pytest.mark.parametrize("target", HOSTILE, ids=short)
def test_a_hostile_next_when_already_logged_in_goes_to_the_dashboard(client, make, target):
    client.log_in(make.user("Lena"))
    response = client.get("/login", query_string={"next": target})
    assert response.status_code == 302, short(target)
    assert response.headers["Location"] == "/", short(target)


# As a link would carry them: the raw query string, decoded by the app itself.
RAW_QUERIES = [
    f"next=%2F%2F{HOST}",
    f"next=/%09/{HOST}",
    f"next=%2F%09%2F{HOST}",
    f"next=%5C%5C{HOST}",
    f"next=/%5C{HOST}",
    f"next=/%252F%252F{HOST}",
    f"next=%0d%0aLocation:%20https://{HOST}",
    "next=%FF%FE",
    "next=/%C0%AF%C0%AF" + HOST,
    "next=/%E2%88%95%E2%88%95" + HOST,
    "next=%",
    "next=%%32%66%%32%66" + HOST,
    "next=javascript%3Aalert(1)&next=/loans/new",  # the first one counts
]


@pytest.mark.parametrize("query", RAW_QUERIES, ids=short)
def test_a_hostile_raw_query_goes_to_the_dashboard(client, make, query):
    lena = make.user("Lena")
    response = client.post(f"/login?{query}", data={"email": lena.email, "password": PASSWORD})
    assert response.status_code == 302, short(query)
    assert response.headers["Location"] == "/", short(query)
    response = client.get(f"/login?{query}")
    assert response.status_code == 302, short(query)
    assert response.headers["Location"] == "/", short(query)


@pytest.mark.parametrize("target", GOOD)
def test_a_local_path_is_where_you_go(client, make, target):
    lena = make.user("Lena")
    response = log_in_with_next(client, lena, target)
    assert response.status_code == 302
    assert response.headers["Location"] == target
    # Logged in now: the same link sends you straight there.
    response = client.get("/login", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize("path", ["/loans/new", "/account"])
def test_login_required_brings_you_back_after_logging_in(client, make, path):
    lena = make.user("Lena")
    response = client.get(path)
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert login_url.startswith("/login?next=")
    response = client.post(login_url, data={"email": lena.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == path


def test_a_query_string_survives_login_required(client, make):
    lena = make.user("Lena")
    response = client.get("/loans/new?role=lender")
    login_url = response.headers["Location"]
    response = client.post(login_url, data={"email": lena.email, "password": PASSWORD})
    assert response.headers["Location"] == "/loans/new?role=lender"


def test_a_failed_login_with_a_hostile_next_just_shows_the_form(client, make):
    lena = make.user("Lena")
    response = client.post(
        "/login",
        query_string={"next": f"//{HOST}/"},
        data={"email": lena.email, "password": "not the password"},
    )
    assert response.status_code == 401
    assert HOST not in response.get_data(as_text=True)
