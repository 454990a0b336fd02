"""Pages that stay current (app/web/live.py, static/live.js), in a real browser: the
lender watches the loan page while the borrower acts in another browser, and the
page follows without a reload; while the lender is typing, it only offers to. Times
are shown in the browser's own time zone."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from app.extensions import db
from app.lending import service as lending
from tests.browser.conftest import TIMEOUT_MS, log_in

pytestmark = pytest.mark.browser

ZONE = "America/New_York"
# The page asks every 5 s: the change shows within one interval and a fetch or two.
WITHIN_MS = 8_000


@pytest.fixture
def open_browser(chromium, live_server):
    """A browser context (cookies of its own) in a time zone, with one page."""
    contexts = []

    def open_page(zone: str) -> Page:
        context = chromium.new_context(
            base_url=live_server.url,
            viewport={"width": 1280, "height": 900},
            timezone_id=zone,
            locale="en-US",
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.problems = []  # console errors, refused by the policy or otherwise
        page.on("console", lambda message: problem(page, message))
        page.on("pageerror", lambda exc: page.problems.append(str(exc)))
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def problem(page: Page, message) -> None:
    # The browser asks for /favicon.ico by itself; the app has none.
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        page.problems.append(f"{message.text} at {message.location}")


def logged_in(page: Page, email: str) -> None:
    log_in(page, email)
    expect(page).to_have_url(re.compile(r"/$"))


def screenshots_of(page: Page, screenshots, name: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def named(state: str) -> re.Pattern:
    """A state's badge, however the labels spell it ("agreed", "Agreed")."""
    return re.compile(rf"^\s*{state}\s*$", re.IGNORECASE)


def no_reload_since_marked(page: Page) -> bool:
    return page.evaluate("window.__marker === 1")


def test_the_loan_page_follows_the_other_party(app, make, open_browser, screenshots) -> None:
    lena_user, bram_user = make.user("Lena"), make.user("Bram")
    loan = lending.create_loan(lena_user, "lender", bram_user.email, "the blue tent")

    lena, bram = open_browser(ZONE), open_browser("UTC")
    logged_in(lena, lena_user.email)
    logged_in(bram, bram_user.email)
    lena.goto(f"/loans/{loan.id}")
    bram.goto(f"/loans/{loan.id}")
    state = lena.locator(".facts .badge")
    expect(state).to_have_text(named("offered"))

    # The timeline's time, in New York rather than UTC; the UTC text is the title.
    when = lena.locator(".timeline time").first
    expect(when).to_have_attribute("title", re.compile(r" UTC$"))
    moment = datetime.fromisoformat(when.get_attribute("datetime").replace("Z", "+00:00"))
    local = moment.astimezone(ZoneInfo(ZONE))
    text = when.inner_text()
    assert text != when.get_attribute("title")
    assert f"{local:%-I:%M}" in text and f"{local.year}" in text, (text, local)
    assert "UTC" not in text
    assert moment.tzinfo == UTC

    # Bram accepts in his browser; Lena's page shows it, with no reload.
    lena.evaluate("window.__marker = 1")
    bram.get_by_role("button", name="Accept", exact=True).click()
    expect(bram.locator(".facts .badge")).to_have_text(named("agreed"))
    started = time.monotonic()
    expect(state).to_have_text(named("agreed"), timeout=WITHIN_MS)
    assert time.monotonic() - started < WITHIN_MS / 1000
    assert no_reload_since_marked(lena)
    expect(lena.locator(".timeline > li")).to_have_count(2)
    # The new entry's time is local too, as is every other.
    for each in lena.locator(".timeline time").all():
        assert each.get_attribute("title").endswith(" UTC")
        assert "UTC" not in each.inner_text()
    expect(lena.get_by_role("button", name=re.compile(r"^Hand (it )?over$"))).to_be_visible()
    screenshots_of(lena, screenshots, "live-loan")

    # Lena starts typing a due date; Bram calls it off meanwhile. Her page keeps what
    # she typed and offers the latest instead of swapping it away.
    lena.evaluate("window.__marker = 1")
    due = lena.get_by_label("Due back")
    due.fill("2031-05-06")
    db.session.expire_all()  # this process's copy of the loan is still "offered"
    lending.fire_event(bram_user, loan.id, "cancel")
    banner = lena.locator(".live-status .live-banner")
    expect(banner).to_contain_text("This page has changed", timeout=WITHIN_MS)
    expect(lena.locator(".live-status")).to_have_attribute("aria-live", "polite")
    expect(state).to_have_text(named("agreed"))
    expect(due).to_have_value("2031-05-06")
    screenshots_of(lena, screenshots, "live-loan-changed")
    banner.get_by_role("button", name="Show the latest").click()
    expect(state).to_have_text(named("cancelled"))
    expect(banner).to_have_count(0)
    assert no_reload_since_marked(lena)

    assert lena.problems == [] and bram.problems == []


def test_the_dashboard_follows_new_loans(app, make, open_browser) -> None:
    lena_user, bram_user = make.user("Lena"), make.user("Bram")
    bram = open_browser("UTC")
    logged_in(bram, bram_user.email)
    bram.evaluate("window.__marker = 1")
    expect(bram.locator("a.loan-row")).to_have_count(0)

    lending.create_loan(lena_user, "lender", bram_user.email, "the red kayak")
    expect(bram.locator("a.loan-row")).to_contain_text("the red kayak", timeout=WITHIN_MS)
    assert no_reload_since_marked(bram)
    # The flash from logging in stays until he leaves the page.
    expect(bram.locator(".flashes")).to_contain_text("Hello, Bram")
    assert bram.problems == []
