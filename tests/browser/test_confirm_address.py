"""An address Mooch stopped emailing, confirmed again in a real browser on a phone and
a laptop: the account page says why and since when; its button has the real worker
mail a link to the suppressed address; the link's button lets mail through again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.notifications import suppression
from tests.browser.conftest import SIZES, fits, log_in
from tests.browser.test_loans import mail_link

pytestmark = pytest.mark.browser

REFUSED = (
    "SMTPRecipientsRefused: {'%s': (550, b'5.1.1 <%s>: Recipient address rejected: User unknown')}"
)


def test_confirming_a_suppressed_address_again(
    make, live_server, new_page, mail_server, screenshots
):
    lena = make.user("Lena", email="lena.lindqvist-hallberg@mail.example.com")
    for _ in range(2):  # two refusals for good at send time: suppressed
        suppression.record_bounce(lena.email, REFUSED % (lena.email, lena.email))

    page = new_page()
    log_in(page, lena.email)
    page.goto("/account#address")
    section = page.locator("#address")
    expect(section.get_by_role("heading", name="Mooch has stopped emailing you")).to_be_visible()
    expect(section).to_contain_text("bounced: its mail server refused it for good")
    expect(section).to_contain_text("Recipient address rejected: User unknown")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        fits(page)
        section.screenshot(path=str(screenshots / f"account-address-{size}.png"))

    section.get_by_role("button", name="Email me a link to confirm my address").click()
    expect(page.locator(".flashes")).to_contain_text(f"We emailed a link to {lena.email}")

    # The worker process delivers the link to the suppressed address; it opens in
    # another browser, not logged in.
    link = mail_link(mail_server, live_server, lena.email, "/account/address/")
    other = new_page()
    other.goto(link)
    expect(other.get_by_role("heading", name="Get our mail again?")).to_be_visible()
    for size, viewport in SIZES.items():
        other.set_viewport_size(viewport)
        fits(other)
        other.screenshot(path=str(screenshots / f"confirm-address-{size}.png"), full_page=True)
    other.get_by_role("button", name="Yes, email me again").click()
    expect(other.locator(".flashes")).to_contain_text(
        f"Thank you: Mooch emails {lena.email} again."
    )

    page.reload()
    expect(page.locator("#address")).to_have_count(0)
