"""Fixtures for the page tests: browsers (Flask test clients with their own cookies)
and a way to be logged in as someone without typing a password every time."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import g

from app.models import User
from app.testing import ClosingClient
from tests.support import log_in_client


class Browser(ClosingClient):
    """A test client that forgets the logged-in user between requests.

    The `app` fixture keeps one app context pushed for the whole test and every
    request reuses it, so Flask-Login's per-request cache (g._login_user) would
    otherwise carry one browser's user into another browser's request."""

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        try:
            return super().open(*args, **kwargs)
        finally:
            g.pop("_login_user", None)

    def log_in(self, user: User) -> Browser:
        return log_in_client(self, user)

    def page(self, path: str, status: int = 200) -> str:
        response = self.get(path)
        assert response.status_code == status, (path, response.status_code)
        return response.get_data(as_text=True)


@pytest.fixture
def browser(app) -> Callable[[], Browser]:
    """A new browser per call: two people, two cookie jars."""
    app.test_client_class = Browser
    return app.test_client


@pytest.fixture
def client(browser) -> Browser:
    return browser()


def field_error(html: str, field: str, field_id: str | None = None) -> str:
    """The error shown under a form field, after checking the field is marked invalid.
    `field_id`: the field's id where it differs from its name (a page of several forms)."""
    field_id = field_id or field
    tag = re.search(rf'<(?:input|textarea)[^>]*\bid="{field_id}"[^>]*>', html)
    assert tag, f"no field {field_id!r}"
    assert f'name="{field}"' in tag.group(0), tag.group(0)
    assert 'aria-invalid="true"' in tag.group(0), tag.group(0)
    assert f'{field_id}-error"' in tag.group(0), tag.group(0)
    error = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert error, f"no error text for {field!r}"
    return unescape(error.group(1))


def alert(html: str) -> str:
    found = re.search(r'<div class="alert alert-error" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert found, "no error message on the page"
    return unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def unescape(text: str) -> str:
    import html

    return " ".join(html.unescape(text).split())
