"""Two people, two browsers: sign up through the pages, confirm from the caught mail,
and walk a loan to `closed`, each reloading to see the other's move and the mail's
delivery status on the loan page's timeline."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from devtools.mailcatcher import MailCatcher
from tests.browser.conftest import TIMEOUT_MS, LiveServer
from tests.processes import wait_until
from tests.support import links_in

pytestmark = pytest.mark.browser

PASSWORD = "kettle mosaic harbor lantern"
LOAN_URL = re.compile(r"/loans/(\d+)$")


class Person:
    def __init__(self, page: Page, name: str, email: str) -> None:
        self.page = page
        self.name = name
        self.email = email


PHONE = {"width": 390, "height": 844}


def shot(page: Page, screenshots, kind: str) -> None:
    """The page at desktop width, and again at a phone's (390 px)."""
    if screenshots is not None:
        page.screenshot(path=str(screenshots / f"{kind}.png"), full_page=True)
        desktop = page.viewport_size
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(screenshots / f"{kind}-phone.png"), full_page=True)
        page.set_viewport_size(desktop)


def mail_link(mail_server: MailCatcher, live: LiveServer, to: str, path: str) -> str:
    """The link to `path...` in the mail the worker delivered to `to`."""

    def found():
        for message in mail_server.messages:
            if to in message["To"]:
                for link in links_in(message):
                    if link.startswith(live.url + path):
                        return link
        return None

    return wait_until(found, f"a mail to {to} with a {path} link", details=live.workers.tails)


def sign_up(person: Person, live: LiveServer, mail_server: MailCatcher, screenshots=None) -> None:
    page = person.page
    page.goto("/signup")
    expect(page.get_by_role("heading", name="Sign up")).to_be_visible()
    page.get_by_label("Your name").fill(person.name)
    page.get_by_label("Email address").fill(person.email)
    shot(page, screenshots, "signup")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/check-email"))
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    shot(page, screenshots, "check-email")

    # The worker process delivers the confirmation; its link opens in this browser,
    # where the owner of the address chooses the password.
    page.goto(mail_link(mail_server, live, person.email, "/confirm/"))
    expect(page.get_by_role("heading", name="Welcome to Mooch")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value(person.name)
    page.get_by_label("Choose a password").fill("password1234")
    page.get_by_role("button", name="Confirm and log in").click()
    expect(page.locator("#password-error")).to_contain_text("common password")
    page.get_by_label("Choose a password").fill(PASSWORD)
    shot(page, screenshots, "confirm")
    page.get_by_role("button", name="Confirm and log in").click()
    expect(page).to_have_url(live.url + "/")
    expect(page.locator(".flashes")).to_contain_text(f"Welcome, {person.name}")
    expect(page.get_by_role("heading", name="My loans")).to_be_visible()


def open_loan(person: Person, loan_id: int) -> Page:
    """Reload the loan from the dashboard, the way a person would find it."""
    page = person.page
    page.goto("/")
    page.locator(f'a.loan-row[href="/loans/{loan_id}"]').click()
    expect(page).to_have_url(re.compile(rf"/loans/{loan_id}$"))
    return page


def moves(page: Page) -> list[str]:
    """The moves the loan page offers: its buttons, and the disclosures ("Cancel…")
    behind which a step that undoes or contests asks for confirmation."""
    return page.locator(
        ".event-forms > form button, .event-forms > details > summary"
    ).all_inner_texts()


def shows(page: Page, state: str, buttons: list[str]) -> None:
    """The loan page shows `state` (its human name) and exactly these moves, in order."""
    expect(page.locator(".facts .badge")).to_have_text(state)
    assert moves(page) == buttons
    if not buttons:
        expect(page.locator("#next")).to_have_count(0)


def press(page: Page, button: str, state: str, note: str | None = None) -> None:
    """Press a move; one behind a disclosure ("Dispute…") is opened and confirmed
    ("Yes, dispute"). `note`: typed into the move's note field first."""
    summary = page.locator(".event-forms > details > summary", has_text=f"{button}…")
    if summary.count():
        summary.click()
        form = page.locator("details[open] form.event-form")
        if note is not None:
            form.locator("textarea").fill(note)
        form.get_by_role("button", name=f"Yes, {button.lower()}").click()
    else:
        form = page.locator(".event-forms > form", has=page.get_by_role("button", name=button))
        if note is not None:
            form.locator("textarea").fill(note)
        page.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(".facts .badge")).to_have_text(state)
    expect(page.locator(".alert-error")).to_have_count(0)


def all_mail_sent(page: Page, count: int) -> list[str]:
    """Reload until the timeline lists `count` emails, every one of them sent."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        page.reload()
        statuses = page.locator(".timeline .delivery").all_inner_texts()
        if len(statuses) == count and set(statuses) == {"sent"}:
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"timeline mail statuses {statuses}, wanted {count} sent")
        page.wait_for_timeout(250)


def new_loan(person: Person, action: str, role: str, item: str, other: Person, screenshots=None):
    page = person.page
    page.goto("/")
    page.get_by_role("link", name=action).click()
    expect(page).to_have_url(re.compile(rf"/loans/new\?role={role}$"))
    expect(page.locator(f'input[name="role"][value="{role}"]')).to_be_checked()
    page.get_by_label("What").fill(item)
    page.get_by_label("Their email address").fill(other.email)
    shot(page, screenshots, "new-loan")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(LOAN_URL)
    # Until they answer, the other person is shown by the address typed.
    expect(page.locator(".flashes")).to_contain_text(f"on its way to {other.email}")
    return int(LOAN_URL.search(page.url).group(1))


def hand_over(lender: Person) -> str:
    due = (date.today() + timedelta(days=14)).isoformat()
    form = lender.page.locator(
        "form.event-form", has=lender.page.locator('input[value="hand_over"]')
    )
    form.get_by_label("Due back").fill(due)
    press(lender.page, "Hand over", "On loan")
    return due


def test_a_request_from_sign_up_to_closed(new_page, live_server, mail_server, screenshots) -> None:
    lena = Person(new_page(), "Lena", "lena@example.com")
    bram = Person(new_page(), "Bram", "bram@example.com")
    sign_up(lena, live_server, mail_server, screenshots)
    sign_up(bram, live_server, mail_server)
    shot(lena.page, screenshots, "dashboard")

    # Bram asks to borrow Lena's drill.
    loan = new_loan(bram, "Ask to borrow", "borrower", "cordless drill", lena, screenshots)
    shows(bram.page, "Requested", ["Cancel…"])

    # Lena sees it waiting on her, and accepts.
    page = lena.page
    page.goto("/")
    expect(page.locator("#act ~ .loan-list")).to_contain_text(
        "Bram asks to borrow your cordless drill"
    )
    open_loan(lena, loan)
    shows(page, "Requested", ["Accept", "Decline"])
    press(page, "Accept", "Agreed")
    shows(page, "Agreed", ["Hand over", "Cancel…"])

    open_loan(bram, loan)
    shows(bram.page, "Agreed", ["Cancel…"])

    # Lena hands it over with a due date; Bram sees it lent, and gives it back.
    due = hand_over(lena)
    shows(lena.page, "On loan", [])
    open_loan(bram, loan)
    shows(bram.page, "On loan", ["Mark as returned"])
    expect(bram.page.locator(".facts")).to_contain_text(date.fromisoformat(due).strftime("%B %Y"))
    press(bram.page, "Mark as returned", "Returned")
    shows(bram.page, "Returned", [])

    # Lena confirms; both see it closed, and every email of its life sent.
    open_loan(lena, loan)
    shows(lena.page, "Returned", ["Confirm return", "Dispute…"])
    press(lena.page, "Confirm return", "Closed")
    shows(lena.page, "Closed", [])
    open_loan(bram, loan)
    shows(bram.page, "Closed", [])
    # requested 1, accepted 1, started 2, returned 1, closed 2
    all_mail_sent(bram.page, 7)
    all_mail_sent(lena.page, 7)
    expect(lena.page.locator(".timeline > li")).to_have_count(5)
    shot(lena.page, screenshots, "loan")

    # Log out and in again through the pages.
    lena.page.get_by_role("button", name="Log out").click()
    expect(lena.page.locator(".flashes")).to_contain_text("You are logged out")
    lena.page.goto("/login")
    lena.page.get_by_label("Email address").fill(lena.email)
    lena.page.get_by_label("Password").fill(PASSWORD)
    shot(lena.page, screenshots, "login")
    lena.page.get_by_role("button", name="Log in").click()
    expect(lena.page.locator(".flashes")).to_contain_text("Hello, Lena.")
    expect(lena.page.locator("#done ~ .loan-list")).to_contain_text("cordless drill")

    lena.page.get_by_role("link", name="Account").click()
    expect(lena.page.get_by_role("heading", name="Your account")).to_be_visible()
    shot(lena.page, screenshots, "account")

    # Someone else's loan, or none: the same 404 page.
    response = lena.page.goto(f"/loans/{loan + 1000}")
    assert response is not None and response.status == 404
    expect(lena.page.get_by_role("heading", name="Nothing here")).to_be_visible()
    shot(lena.page, screenshots, "404")


def test_an_offer_through_a_dispute_to_closed(new_page, live_server, mail_server) -> None:
    lena = Person(new_page(), "Lena", "lena@example.com")
    bram = Person(new_page(), "Bram", "bram@example.com")
    sign_up(lena, live_server, mail_server)
    sign_up(bram, live_server, mail_server)

    # Lena offers her tent; Bram accepts.
    loan = new_loan(lena, "Offer to lend", "lender", "the blue tent", bram)
    shows(lena.page, "Offered", ["Cancel…"])
    open_loan(bram, loan)
    shows(bram.page, "Offered", ["Accept", "Decline"])
    press(bram.page, "Accept", "Agreed")

    open_loan(lena, loan)
    shows(lena.page, "Agreed", ["Hand over", "Cancel…"])
    hand_over(lena)

    open_loan(bram, loan)
    shows(bram.page, "On loan", ["Mark as returned"])
    press(bram.page, "Mark as returned", "Returned")

    # Lena says the return is not right, and why; Bram reads it, answers with a
    # note, and resolves it, saying how.
    open_loan(lena, loan)
    press(lena.page, "Dispute", "Disputed", note="The tent has a tear in the floor.")
    shows(lena.page, "Disputed", ["Resolve", "Add a note"])
    open_loan(bram, loan)
    expect(bram.page.locator(".timeline")).to_contain_text("The tent has a tear in the floor.")
    press(bram.page, "Add a note", "Disputed", note="It was there when I got it.")
    press(bram.page, "Resolve", "Closed", note="We split the cost of a patch.")
    shows(bram.page, "Closed", [])

    open_loan(lena, loan)
    shows(lena.page, "Closed", [])
    # offered 1, accepted 1, started 2, returned 1, disputed 2, note 1, resolved 2
    all_mail_sent(lena.page, 10)
    all_mail_sent(bram.page, 10)
    expect(lena.page.locator(".timeline")).to_contain_text("disputed the return")
    expect(lena.page.locator(".timeline")).to_contain_text("It was there when I got it.")
    expect(lena.page.locator(".timeline")).to_contain_text("resolved the dispute")
