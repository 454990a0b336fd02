"""Layout never breaks (issue 11): what people type wraps inside its box on a phone
(390 px) and a laptop (1280 px): a 200-letter word, a long name, emoji, right-to-left
text. No page scrolls sideways, and each page's heading has room under the header."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.lending.service import today
from app.models import AuditEvent
from tests.browser.conftest import SIZES, fits, log_in

pytestmark = pytest.mark.browser

LONG_WORD = "Supercalifragilistic" * 10  # 200 letters, no space
LONG_NAME = "Maximiliana Alexandrovna Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh"
EMOJI = "🏕️ Tent 👩‍👩‍👧‍👦 for the whole family 🎉🎉🎉"
RTL = "خيمة التخييم الكبيرة للعائلة"
NOTE = "Wörds " + "x" * 180 + " and ‏" + RTL


def breathing_room(page, what: str) -> None:
    gap = page.evaluate(
        """() => document.querySelector('main h1').getBoundingClientRect().top
                 - document.querySelector('.site-header').getBoundingClientRect().bottom"""
    )
    assert gap >= 24, (what, gap)


def test_long_names_emoji_and_right_to_left_text_wrap(make, live_server, new_page, screenshots):
    lena = make.user(LONG_NAME)
    bob = make.user("بوب الجار")  # right-to-left
    day = today()
    loans = [
        make.loan(lena, bob, state="lent", item=LONG_WORD, due_date=day + timedelta(days=1)),
        make.loan(bob, lena, state="requested", item=EMOJI),
        make.loan(lena, bob, state="disputed", item=RTL, due_date=day - timedelta(days=3)),
    ]
    db.session.add(
        AuditEvent(
            loan_id=loans[2].id, event="dispute", from_state="returned", to_state="disputed",
            actor_id=lena.id, note=NOTE,
        )
    )  # fmt: skip
    db.session.commit()

    page = new_page()
    log_in(page, lena.email)
    expect(page.get_by_role("heading", name="My loans")).to_be_visible()

    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.goto("/")
        expect(page.locator(".loan-row")).to_have_count(3)
        fits(page, f"dashboard {size}")
        breathing_room(page, f"dashboard {size}")
        page.screenshot(path=str(screenshots / f"layout-dashboard-{size}.png"), full_page=True)
        for n, loan in enumerate(loans):
            page.goto(f"/loans/{loan.id}")
            expect(page.locator("main h1")).to_be_visible()
            fits(page, f"loan {n} {size}")
            breathing_room(page, f"loan {n} {size}")
            page.screenshot(path=str(screenshots / f"layout-loan-{n}-{size}.png"), full_page=True)
        page.goto("/account")
        fits(page, f"account {size}")
