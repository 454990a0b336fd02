"""Their language in a real browser (issue 12, part 5): a German user's dashboard and
loan pages at a phone's width and a laptop's, with German's long words, fit without
scrolling sideways (screenshots under test-artifacts/screenshots/, `de-*.png`); their
times are in their language and zone; and sign-up takes the browser's language and
time zone (static/zone.js)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.lending.service import today
from app.models import AuditEvent, User
from tests.browser.conftest import SIZES, fits, log_in
from tests.browser.test_layout import breathing_room

pytestmark = pytest.mark.browser


def test_a_german_users_pages_fit_at_every_width(make, live_server, new_page, screenshots):
    lena = make.user("Lena Müller-Lüdenscheidt")
    lena.locale, lena.time_zone = "de", "Europe/Berlin"
    bob = make.user("Bob")
    db.session.commit()
    day = today()
    loans = [
        make.loan(lena, bob, state="lent", item="Akku-Bohrschrauber", due_date=day + timedelta(1)),
        make.loan(lena, bob, state="overdue", item="Zelt", due_date=day - timedelta(days=4)),
        make.loan(bob, lena, state="requested", item="Stehleiter"),
        make.loan(lena, bob, state="returned", item="Campingkocher", due_date=day),
        make.loan(lena, bob, state="disputed", item="Fahrradanhänger", due_date=day),
    ]
    db.session.add(
        AuditEvent(
            loan_id=loans[4].id, event="dispute", from_state="returned", to_state="disputed",
            actor_id=lena.id, note="Der Reifen ist platt.",
        )
    )  # fmt: skip
    db.session.commit()

    page = new_page()
    log_in(page, lena.email)
    # Her account speaks German, whatever the browser asks for.
    expect(page.get_by_role("heading", name="Meine Ausleihen")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "de"

    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.goto("/")
        expect(page.locator(".loan-row")).to_have_count(len(loans))
        expect(page.get_by_role("heading", name=re.compile("Du bist dran"))).to_be_visible()
        fits(page, f"German dashboard {size}")
        breathing_room(page, f"German dashboard {size}")
        page.screenshot(path=str(screenshots / f"de-dashboard-{size}.png"), full_page=True)
        for n, loan in enumerate(loans):
            page.goto(f"/loans/{loan.id}")
            expect(page.get_by_role("heading", name="Chronik")).to_be_visible()
            fits(page, f"German loan {n} {size}")
            breathing_room(page, f"German loan {n} {size}")
            page.screenshot(path=str(screenshots / f"de-loan-{n}-{size}.png"), full_page=True)
        page.goto("/how-loans-work")
        expect(page.get_by_role("heading", name="So funktionieren Ausleihen")).to_be_visible()
        fits(page, f"German guide {size}")
        page.screenshot(path=str(screenshots / f"de-guide-{size}.png"), full_page=True)
        page.goto("/account")
        expect(page.get_by_role("heading", name="Sprache und Zeitzone")).to_be_visible()
        fits(page, f"German account {size}")
        page.screenshot(path=str(screenshots / f"de-account-{size}.png"), full_page=True)
        page.locator("section[aria-labelledby=language]").screenshot(
            path=str(screenshots / f"de-account-language-{size}.png")
        )

    # live.js writes each moment in her language and zone: "04.12.2026, 15:03".
    page.goto(f"/loans/{loans[4].id}")
    when = page.locator(".timeline time").first
    expect(when).to_have_attribute("data-local", re.compile(r"Z$"))
    assert re.fullmatch(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", when.inner_text().strip())


def test_sign_up_takes_the_browsers_language_and_time_zone(app, chromium, live_server, screenshots):
    context = chromium.new_context(
        base_url=live_server.url, locale="de-DE", timezone_id="Asia/Tokyo"
    )
    try:
        page = context.new_page()
        page.goto("/signup")
        expect(page.get_by_role("heading", name="Registrieren")).to_be_visible()
        # zone.js has filled the hidden field before anyone types.
        expect(page.locator("input[name=time_zone]")).to_have_value("Asia/Tokyo")
        page.get_by_label("Dein Name").fill("Nina")
        page.get_by_label("E-Mail-Adresse").fill("nina@example.com")
        page.get_by_role("button", name="Registrieren").click()
        expect(page.get_by_role("heading", name="Schau in dein Postfach")).to_be_visible()
        page.screenshot(path=str(screenshots / "de-check-email-phone.png"), full_page=True)
    finally:
        context.close()
    db.session.expire_all()
    nina = db.session.scalar(db.select(User).filter_by(email="nina@example.com"))
    assert (nina.locale, nina.time_zone) == ("de", "Asia/Tokyo")
