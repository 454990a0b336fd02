"""One vocabulary (issue 11): every state and event has one human name
(app.lending.words), and no surface a person reads shows a raw one (`mark_returned`,
`hand_over`): not the buttons, the dashboard, the badges, the progress line, the
timeline, the flash messages, nor the mail."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import pytest

from app.lending import words
from app.lending.service import run_clock, today
from app.lending.states import LOAN, STATES
from app.models import utcnow
from tests.web.test_loans import fire

RAW = sorted({e for e in LOAN.events if "_" in e} | {"mark_overdue"})
RAW_PATTERN = re.compile(r"\b(" + "|".join(RAW) + r")\b")


def visible(page: str) -> str:
    """The text a person reads: no tags, attributes, scripts or styles."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def test_every_state_and_event_has_its_words():
    assert set(words.STATE_NAMES) == set(STATES) == set(words.MEANINGS)
    assert LOAN.events <= set(words.EVENTS)
    names = [words.EVENTS[e].name for e in LOAN.events]
    assert len(names) == len(set(names))  # one name each, none shared
    for event in LOAN.events:
        assert "_" not in words.EVENTS[event].name + words.EVENTS[event].done


@pytest.mark.parametrize(
    ("due_in", "said"),
    [(0, "due today"), (1, "due tomorrow"), (3, "due in 3 days"), (-1, "1 day overdue"),
     (-4, "4 days overdue")],
)  # fmt: skip
def test_due_dates_are_said_relative_to_today(due_in, said):
    day = today()
    assert words.due_phrase(day + timedelta(days=due_in), day) == said


def test_no_page_or_mail_shows_a_raw_event_name(browser, make, delivered):
    lena, bob = make.user("Lena"), make.user("Bob")
    as_lena, as_bob = browser().log_in(lena), browser().log_in(bob)
    as_bob.post(
        "/loans/new",
        data={"role": "borrower", "item": "tent", "counterparty_email": lena.email},
    )
    from app.extensions import db
    from app.models import Loan

    loan = db.session.scalar(db.select(Loan))
    path = f"/loans/{loan.id}"
    seen: list[str] = []

    def look() -> None:
        for who in (as_lena, as_bob):
            seen.extend([who.page(path), who.page("/")])
        for message in delivered.run():
            seen.append(message["Subject"])
            seen.extend(
                part.get_content()
                for part in message.walk()
                if part.get_content_maintype() == "text"
            )

    look()
    due = (today() + timedelta(days=2)).isoformat()
    for who, event, extra in [
        (as_lena, "accept", {}),
        (as_lena, "hand_over", {"due_date": due}),
        (None, "clock", {}),
        (as_bob, "mark_returned", {}),
        (as_lena, "dispute", {"note": "A pole is bent."}),
        (as_bob, "add_note", {"note": "It was like that."}),
        (as_bob, "resolve", {"note": "Settled."}),
    ]:
        if who is None:
            run_clock(now=utcnow() + timedelta(days=4))  # overdue
        else:
            assert fire(who, loan, event, **extra).status_code == 302
            seen.append(who.page(path))  # with its flash message
        look()
    text = "\n".join(visible(page) for page in seen)
    assert "Settled." in text and "Overdue" in text
    assert RAW_PATTERN.findall(text) == []
