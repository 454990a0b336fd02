"""Pages that stay current (app.web.live): the stamps the loan page and the dashboard
poll, and the attributes on <main> that tell static/live.js where to ask."""

from __future__ import annotations

import html
import re

import pytest

from app.extensions import db
from app.models import Loan, Notification
from tests.support import notifications


def stamp(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.is_json
    return response.get_json()["stamp"]


def loan_stamp(client, loan: Loan) -> str:
    return stamp(client, f"/loans/{loan.id}/stamp")


def main_attributes(page: str) -> dict[str, str]:
    tag = re.search(r"<main\b[^>]*>", page).group(0)
    found = re.findall(r'data-live-([a-z-]+)="([^"]*)"', tag)
    return {name: html.unescape(value) for name, value in found}


def fire(client, loan: Loan, event: str, **extra):
    db.session.expire_all()
    version = db.session.get(Loan, loan.id).version
    response = client.post(
        f"/loans/{loan.id}/events", data={"event": event, "version": str(version), **extra}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture
def lena_and_bob(browser, make):
    """Lena lends, Bob asked to borrow: each logged in on a browser of their own."""
    lena, bob = make.user("Lena"), make.user("Bob")
    loan = make.loan(lena, bob, state="requested")
    return browser().log_in(lena), browser().log_in(bob), loan


def test_the_loan_stamp_changes_when_the_other_party_acts(lena_and_bob, enqueued):
    lena, bob, loan = lena_and_bob
    before = loan_stamp(bob, loan)
    assert loan_stamp(bob, loan) == before  # asking again changes nothing

    fire(lena, loan, "accept")
    after = loan_stamp(bob, loan)
    assert after != before
    assert loan_stamp(bob, loan) == after
    assert enqueued.mail()  # the accept's mail is pending: part of the new stamp


def test_the_loan_stamp_changes_with_a_mails_status(lena_and_bob, enqueued):
    lena, _bob, loan = lena_and_bob
    fire(lena, loan, "accept")
    [row, *_] = notifications()
    assert row.status == "pending"
    stamps = [loan_stamp(lena, loan)]

    for status, error in (("sent", None), ("failed", "550 no such mailbox"), ("failed", "421")):
        row = db.session.get(Notification, row.id)
        row.status, row.last_error = status, error
        db.session.commit()
        stamps.append(loan_stamp(lena, loan))
        assert loan_stamp(lena, loan) == stamps[-1]

    # Each change shows: sent, failed, and failed again for another reason.
    assert len(set(stamps)) == 4


def test_the_loan_stamp_is_the_one_on_the_page(lena_and_bob):
    lena, bob, loan = lena_and_bob
    page = main_attributes(lena.page(f"/loans/{loan.id}"))
    assert page == {
        "stamp-url": f"/loans/{loan.id}/stamp",
        "stamp": loan_stamp(lena, loan),
        "page": f"/loans/{loan.id}",
    }
    fire(bob, loan, "cancel")
    assert main_attributes(lena.page(f"/loans/{loan.id}"))["stamp"] == loan_stamp(lena, loan)
    assert loan_stamp(lena, loan) != page["stamp"]


def test_a_refusal_after_a_post_names_the_loan_page(lena_and_bob):
    lena, _bob, loan = lena_and_bob
    # A stale version: refused, and the page is shown at the form's address.
    response = lena.post(f"/loans/{loan.id}/events", data={"event": "accept", "version": "99"})
    assert response.status_code == 409
    attributes = main_attributes(response.get_data(as_text=True))
    assert attributes["page"] == f"/loans/{loan.id}"
    assert attributes["stamp"] == loan_stamp(lena, loan)


def test_someone_elses_loan_is_not_found(lena_and_bob, browser, make):
    _lena, _bob, loan = lena_and_bob
    stranger = browser().log_in(make.user("Sam"))
    for path in (f"/loans/{loan.id}/stamp", f"/loans/{loan.id + 1000}/stamp"):
        response = stranger.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
        assert response.headers["Cache-Control"] == "no-store"


def test_logged_out_is_401(lena_and_bob, browser):
    _lena, _bob, loan = lena_and_bob
    anonymous = browser()
    for path in (f"/loans/{loan.id}/stamp", "/dashboard/stamp"):
        response = anonymous.get(path)
        # JSON, not a redirect to the login page, which a poller would fetch and parse.
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["Cache-Control"] == "no-store"
    assert "data-live" not in anonymous.page("/")  # the welcome page does not poll


def test_the_dashboard_stamp_follows_the_viewers_loans(browser, make):
    lena, bob, sam = make.user("Lena"), make.user("Bob"), make.user("Sam")
    lena_browser = browser().log_in(lena)
    bob_browser = browser().log_in(bob)
    page = main_attributes(lena_browser.page("/"))
    assert page["stamp-url"] == "/dashboard/stamp" and page["page"] == "/"
    first = stamp(lena_browser, "/dashboard/stamp")
    assert page["stamp"] == first
    assert stamp(lena_browser, "/dashboard/stamp") == first

    # A loan between others changes nothing for Lena.
    make.loan(bob, sam, state="requested")
    assert stamp(lena_browser, "/dashboard/stamp") == first

    # Bob asks Lena for something: a new loan of hers.
    response = bob_browser.post(
        "/loans/new",
        data={"role": "borrower", "item": "tent", "counterparty_email": lena.email},
    )
    assert response.status_code == 302
    second = stamp(lena_browser, "/dashboard/stamp")
    assert second != first

    # Bob calls it off: the same number of loans, one of them changed (now finished).
    loan = db.session.scalar(db.select(Loan).where(Loan.item == "tent"))
    fire(bob_browser, loan, "cancel")
    third = stamp(lena_browser, "/dashboard/stamp")
    assert third not in (first, second)
    assert main_attributes(lena_browser.page("/"))["stamp"] == third


def test_the_dashboard_stamp_sees_a_step_that_keeps_the_count(browser, make):
    lena, bob = make.user("Lena"), make.user("Bob")
    loan = make.loan(lena, bob, state="requested")
    lena_browser, bob_browser = browser().log_in(lena), browser().log_in(bob)
    before = stamp(bob_browser, "/dashboard/stamp")
    fire(lena_browser, loan, "accept")  # still open: only its version tells
    assert stamp(bob_browser, "/dashboard/stamp") != before


def test_polling_is_not_throttled(settings, lena_and_bob):
    lena, _bob, loan = lena_and_bob
    for _ in range(30):
        assert lena.get(f"/loans/{loan.id}/stamp").status_code == 200
        assert lena.get("/dashboard/stamp").status_code == 200


def test_every_page_loads_the_script_from_this_site(client):
    page = client.page("/login")
    assert '<script src="/static/web/live.js" defer></script>' in page
    assert "data-live" not in page  # only the loan page and the dashboard poll
    response = client.get("/static/web/live.js")
    assert response.status_code == 200
    assert "data-live-stamp-url" in response.get_data(as_text=True)
    response.close()
