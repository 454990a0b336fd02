"""Browser tests: the system Chromium (Debian's /usr/bin/chromium), driven by
playwright, against the real app served on a real port, with a real worker process
delivering the mail to the test's SMTP server.

Marked `browser` and deselected from `make test`; run them with
`.venv/bin/python -m pytest -m browser`. Skipped when /usr/bin/chromium is absent
(`apt-get install chromium`; never `playwright install`, which downloads a browser).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.processes import ROOT, Workers

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every wait on the browser is bounded by this (milliseconds).
TIMEOUT_MS = 20_000
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def chromium():
    """One Chromium for the session; each test opens its own contexts (cookie jars)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM}: "
            "apt-get install -y chromium (never `playwright install`)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    sync_api.expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium, live_server):
    """A new browser context (its own cookies) with one page; all closed at the end."""
    contexts = []

    def open_page():
        context = chromium.new_context(
            base_url=live_server.url, viewport={"width": 1200, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


@dataclass
class LiveServer:
    url: str
    workers: Workers


@pytest.fixture
def live_server(settings, redis, tmp_path) -> Iterator[LiveServer]:
    """The app on 127.0.0.1:<free port> in a thread, and one `python worker.py`.

    Same database, Redis and SMTP server as the test; CSRF on, as for any browser;
    BASE_URL is this server, so the links in the caught mail open here."""
    from app import create_app
    from app.extensions import db
    from app.notifications.mailer import close_mailers

    settings["WTF_CSRF_ENABLED"] = True
    settings["BASE_URL"] = "http://127.0.0.1"  # replaced by the real port below
    application = create_app(settings)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    application.config["BASE_URL"] = url
    settings["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    workers = Workers(settings, tmp_path)
    try:
        workers.start()
        yield LiveServer(url, workers)
    finally:
        workers.stop_all()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with application.app_context():
            db.session.remove()
            close_mailers(application)
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# The widths every page is looked at: a phone and a laptop.
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


def fits(page, what: str = "") -> None:
    """No sideways scrolling, and every box inside the window."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, (what, width, inner)
    # Every box of typed text stays inside the window.
    overflow = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map(e => e.tagName + '.' + e.className).slice(0, 5)"""
    )
    assert overflow == [], (what, overflow)


def log_in(page, email: str, password: str | None = None) -> None:
    """Log in through the form (the factory's users have tests.support.PASSWORD)."""
    from tests.support import PASSWORD

    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password or PASSWORD)
    page.get_by_role("button", name="Log in").click()
