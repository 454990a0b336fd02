"""The loan page's progress line in a real browser, on a phone (390 px) and a laptop
(1280 px): at most 150 px tall, no sideways scrolling, the current step marked; and
the "How loans work" page it links to, at the same widths."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import AuditEvent
from tests.browser.conftest import SIZES, fits
from tests.support import PASSWORD

pytestmark = pytest.mark.browser

START = datetime(2024, 3, 1, 9, 0)

# Loans, each by the moves that brought it where it is: (event, from, to).
LOANS = {
    "lent": [
        ("create", None, "requested"),
        ("accept", "requested", "agreed"),
        ("hand_over", "agreed", "lent"),
        ("remind", "lent", "lent"),
    ],
    "overdue": [
        ("create", None, "requested"),
        ("accept", "requested", "agreed"),
        ("hand_over", "agreed", "lent"),
        ("mark_overdue", "lent", "overdue"),
    ],
    "long-way-closed": [
        ("create", None, "offered"),
        ("accept", "offered", "agreed"),
        ("hand_over", "agreed", "lent"),
        ("mark_overdue", "lent", "overdue"),
        ("mark_returned", "overdue", "returned"),
        ("dispute", "returned", "disputed"),
        ("resolve", "disputed", "closed"),
    ],
    "declined": [("create", None, "offered"), ("decline", "offered", "declined")],
}


def test_the_progress_line_is_compact_on_a_phone_and_a_laptop(
    make, live_server, new_page, screenshots
):
    lena, bob = make.user("Lena"), make.user("Bob")
    loans = {}
    for name, moves in LOANS.items():
        loan = make.loan(lena, bob, state=moves[-1][2], item=f"camping stove ({name})")
        for i, (event, source, dest) in enumerate(moves):
            db.session.add(
                AuditEvent(
                    loan_id=loan.id,
                    event=event,
                    from_state=source,
                    to_state=dest,
                    actor_id=lena.id,
                    created_at=START + timedelta(days=3 * i),
                )
            )
        db.session.commit()
        loans[name] = (loan.id, len({dest for _, _, dest in moves}))

    page = new_page()
    page.goto("/login")
    page.get_by_label("Email address").fill(lena.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Log in")).to_have_count(0)

    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        for name, (loan_id, visited) in loans.items():
            page.goto(f"/loans/{loan_id}")
            line = page.locator(".progress-line")
            expect(line).to_be_visible()
            steps = line.locator("ol.progress > li")
            assert steps.count() >= visited
            current = line.locator('[aria-current="step"]')
            expect(current).to_have_count(1)
            expect(current).to_contain_text("now")
            box = line.bounding_box()
            assert box["height"] <= 150, (name, size, box)
            fits(page)
            line.screenshot(path=str(screenshots / f"progress-{name}-{size}.png"))
            page.screenshot(
                path=str(screenshots / f"progress-{name}-{size}-page.png"), full_page=True
            )

        page.get_by_role("link", name="How loans work").click()
        expect(page.get_by_role("heading", name="How loans work", level=1)).to_be_visible()
        expect(page.locator("svg.state-diagram")).to_be_visible()
        fits(page)
        page.screenshot(path=str(screenshots / f"how-loans-work-{size}.png"), full_page=True)


def test_how_loans_work_needs_no_login(live_server, new_page):
    page = new_page()
    page.set_viewport_size(SIZES["phone"])
    page.goto("/how-loans-work")
    expect(page.get_by_role("heading", name="How loans work", level=1)).to_be_visible()
    expect(page.locator("svg.state-diagram text", has_text="On loan")).to_have_count(1)
    fits(page)
