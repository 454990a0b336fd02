"""The trust pages in a real browser: a request whose mail bounced says so and goes to
another address; a password change logs out the other browser; "log out everywhere"."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_loans import PASSWORD, Person, mail_link, new_loan, shot, sign_up

pytestmark = pytest.mark.browser


def test_a_bounced_offer_says_so_and_goes_to_another_address(
    new_page, live_server, mail_server, screenshots
):
    lena = Person(new_page(), "Lena", "lena@example.com")
    sign_up(lena, live_server, mail_server)
    mail_server.fail_always("550 5.1.1 <kim@exmaple.com>: No such mailbox")
    typo = Person(None, "Kim", "kim@exmaple.com")
    loan = new_loan(lena, "Offer to lend", "lender", "ladder", typo)
    page = lena.page
    problem = page.locator(".card.problem")
    for _ in range(80):
        page.reload()
        if problem.count():
            break
        page.wait_for_timeout(250)
    mail_server.reset_faults()
    expect(problem).to_contain_text("kim@exmaple.com was not told")
    expect(problem).to_contain_text("says this address does not exist")
    shot(page, screenshots, "loan-undelivered")

    problem.get_by_label("Another address for them").fill("kim@example.com")
    problem.get_by_role("button", name="Send it there").click()
    expect(page).to_have_url(re.compile(rf"/loans/{loan}$"))
    expect(page.locator(".flashes")).to_contain_text("Sent to kim@example.com instead.")
    expect(page.locator(".card.problem")).to_have_count(0)
    assert "/signup" in mail_link(mail_server, live_server, "kim@example.com", "/signup")


def test_a_password_change_logs_out_the_other_browser(
    new_page, live_server, mail_server, screenshots
):
    lena = Person(new_page(), "Lena", "lena@example.com")
    sign_up(lena, live_server, mail_server)
    elsewhere = new_page()
    elsewhere.goto("/login")
    elsewhere.get_by_label("Email address").fill(lena.email)
    elsewhere.get_by_label("Password").fill(PASSWORD)
    elsewhere.get_by_role("button", name="Log in").click()
    expect(elsewhere.locator(".flashes")).to_contain_text("Hello, Lena.")

    page = lena.page
    page.goto("/account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("another lantern for the harbor")
    shot(page, screenshots, "account-security")
    page.get_by_role("button", name="Change my password").click()
    expect(page.locator(".flashes")).to_contain_text("Every other browser")

    elsewhere.goto("/account")
    expect(elsewhere).to_have_url(re.compile(r"/login\?next="))

    page.get_by_role("button", name="Log out everywhere").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flashes")).to_contain_text("logged out everywhere")
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next="))
