"""The email settings and the unsubscribe page in a real browser, on a phone and a
laptop: choices saved from the account page (a daily digest among them); the one-click
page asks, then confirms."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.notifications import preferences
from tests.browser.conftest import SIZES, fits, log_in

pytestmark = pytest.mark.browser


def test_email_settings_and_unsubscribe(make, live_server, new_page, screenshots):
    bob = make.user("Bob")
    page = new_page()
    # The link from a mail, opened without being logged in.
    page.goto(preferences.unsubscribe_path(bob.id, "loan_due_soon"))
    expect(page.get_by_role("heading", name="Stop these emails?")).to_be_visible()
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        fits(page)
        page.screenshot(path=str(screenshots / f"unsubscribe-{size}.png"), full_page=True)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="Unsubscribed")).to_be_visible()

    log_in(page, bob.email)
    page.goto("/account#mail")
    due_soon = page.get_by_role("group", name="Something you borrowed is due back soon")
    expect(due_soon.get_by_label("Don’t email me")).to_be_checked()
    page.get_by_role("group", name="A loan is closed").get_by_label("Don’t email me").check()
    # The third choice: in the daily digest, whose hour and zone the section says.
    expect(page.locator("#digest-hint")).to_contain_text("08:00 your time (UTC)")
    starts = page.get_by_role("group", name="A loan starts (with its due date for your calendar)")
    starts.get_by_label("In a daily digest").check()
    page.get_by_role("button", name="Save my email settings").click()
    expect(page.locator(".flashes")).to_contain_text("Your email settings are saved.")
    expect(
        page.get_by_role("group", name="A loan is closed").get_by_label("Don’t email me")
    ).to_be_checked()
    expect(starts.get_by_label("In a daily digest")).to_be_checked()
    expect(starts.get_by_label("Email me", exact=True)).not_to_be_checked()
    assert preferences.choices_for(bob)["loan_started"] == preferences.DAILY
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        fits(page)
        page.locator("#mail").locator("xpath=..").screenshot(
            path=str(screenshots / f"mail-settings-{size}.png")
        )
