"""The loan page's progress line (app.web.progress) and the "How loans work" page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from types import SimpleNamespace

import pytest

from app.extensions import db
from app.lending.states import FINISHED, STATES
from app.lending.words import EVENTS, STATE_NAMES
from app.models import AuditEvent
from app.web.progress import AHEAD, main_road, progress

START = datetime(2024, 3, 1, 9, 0)


def loan_through(*moves: tuple[str, str | None, str]):
    """A loan-like object whose events are `moves` of (event, from, to), a day apart;
    its state is the last move's."""
    events = [
        SimpleNamespace(
            event=event, from_state=source, to_state=dest, created_at=START + timedelta(days=i)
        )
        for i, (event, source, dest) in enumerate(moves)
    ]
    return SimpleNamespace(state=events[-1].to_state, events=events)


def shown(steps) -> list[tuple[str, str]]:
    return [(step.state, step.status) for step in steps]


def test_the_happy_path_to_closed():
    loan = loan_through(
        ("create", None, "requested"),
        ("accept", "requested", "agreed"),
        ("hand_over", "agreed", "lent"),
        ("mark_returned", "lent", "returned"),
        ("confirm_return", "returned", "closed"),
    )
    steps = progress(loan)
    assert shown(steps) == [
        ("requested", "done"),
        ("agreed", "done"),
        ("lent", "done"),
        ("returned", "done"),
        ("closed", "current"),
    ]
    assert [s.name for s in steps] == ["Requested", "Agreed", "On loan", "Returned", "Closed"]
    assert [s.at for s in steps] == [START + timedelta(days=i) for i in range(5)]


def test_halfway_the_next_steps_follow_the_main_road():
    loan = loan_through(
        ("create", None, "requested"),
        ("accept", "requested", "agreed"),
        ("hand_over", "agreed", "lent"),
    )
    assert shown(progress(loan)) == [
        ("requested", "done"),
        ("agreed", "done"),
        ("lent", "current"),
        ("returned", "next"),
        ("closed", "next"),
    ]
    nexts = [s for s in progress(loan) if s.status == "next"]
    assert [s.name for s in nexts] == ["Returned", "Closed"] and not any(s.at for s in nexts)


def test_declined_ends_it():
    loan = loan_through(("create", None, "offered"), ("decline", "offered", "declined"))
    assert shown(progress(loan)) == [("offered", "done"), ("declined", "current")]


def test_the_long_way_round():
    loan = loan_through(
        ("create", None, "offered"),
        ("accept", "offered", "agreed"),
        ("hand_over", "agreed", "lent"),
        ("mark_overdue", "lent", "overdue"),
        ("mark_returned", "overdue", "returned"),
        ("dispute", "returned", "disputed"),
        ("resolve", "disputed", "closed"),
    )
    assert [s.state for s in progress(loan)] == [
        "offered",
        "agreed",
        "lent",
        "overdue",
        "returned",
        "disputed",
        "closed",
    ]
    assert progress(loan)[-1].status == "current"


def test_a_reminder_or_a_note_adds_no_step():
    loan = loan_through(
        ("create", None, "requested"),
        ("accept", "requested", "agreed"),
        ("hand_over", "agreed", "lent"),
        ("remind", "lent", "lent"),  # a step with no destination: to_state == from_state
    )
    steps = progress(loan)
    assert shown(steps) == [
        ("requested", "done"),
        ("agreed", "done"),
        ("lent", "current"),
        ("returned", "next"),
        ("closed", "next"),
    ]
    assert steps[2].at == START + timedelta(days=2)  # when it was lent, not reminded
    disputed = loan_through(
        ("create", None, "requested"),
        ("dispute", "returned", "disputed"),
        ("add_note", "disputed", "disputed"),
        ("add_note", "disputed", "disputed"),
    )
    assert shown(progress(disputed)) == [
        ("requested", "done"),
        ("disputed", "current"),
        ("closed", "next"),
    ]


def test_expired():
    loan = loan_through(("create", None, "requested"), ("expire", "requested", "expired"))
    assert shown(progress(loan)) == [("requested", "done"), ("expired", "current")]


def test_a_loan_with_no_history_shows_its_state_and_the_road_ahead():
    steps = progress(SimpleNamespace(state="requested", events=[]))
    assert shown(steps) == [
        ("requested", "current"),
        ("agreed", "next"),
        ("lent", "next"),
        ("returned", "next"),
    ]
    assert steps[0].at is None


@pytest.mark.parametrize("state", STATES)
def test_the_road_ahead_is_read_off_the_table(state):
    ahead = main_road(state)
    assert len(ahead) <= AHEAD
    if state in FINISHED:
        assert ahead == []
    else:  # the happy path: never a detour into a dead end other than Closed
        assert ahead and not set(ahead) & {"declined", "cancelled", "expired", "overdue"}
        assert "disputed" not in ahead
    assert state not in ahead and len(set(ahead)) == len(ahead)


def test_the_road_ahead_of_each_open_state():
    assert main_road("requested") == ["agreed", "lent", "returned"]
    assert main_road("agreed") == ["lent", "returned", "closed"]
    assert main_road("overdue") == ["returned", "closed"]
    assert main_road("disputed") == ["closed"]


# -- on the pages ----------------------------------------------------------------------


def add_events(loan, *moves):
    for i, (event, source, dest) in enumerate(moves):
        db.session.add(
            AuditEvent(
                loan_id=loan.id,
                event=event,
                from_state=source,
                to_state=dest,
                actor_id=loan.lender_id,
                created_at=START + timedelta(days=i),
            )
        )
    db.session.commit()
    db.session.expire_all()


def progress_line(html: str) -> str:
    return html.split('id="progress-title"')[1].split("</section>")[0]


def test_the_loan_page_shows_the_progress_line_not_the_whole_machine(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="lent")
    add_events(
        loan,
        ("create", None, "requested"),
        ("accept", "requested", "agreed"),
        ("hand_over", "agreed", "lent"),
        ("remind", "lent", "lent"),
    )
    html = client.log_in(loan.lender).page(f"/loans/{loan.id}")
    line = progress_line(html)
    assert "<svg" not in html  # the whole machine is on /how-loans-work
    assert '<ol class="progress"' in line
    items = re.findall(r'<li class="progress-step progress-(\w+)" data-state="(\w+)"', line)
    assert items == [
        ("done", "requested"),
        ("done", "agreed"),
        ("current", "lent"),
        ("next", "returned"),
        ("next", "closed"),
    ]
    current = re.findall(r"<li[^>]*aria-current=\"step\"[^>]*>(.*?)</li>", line, re.S)
    assert len(current) == 1 and "On loan" in current[0] and "now" in current[0]
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", line)).split())
    assert "Requested (done) 1 Mar" in text and "Returned (likely next)" in text
    assert re.search(r'<a href="/how-loans-work">How loans work</a>', line)
    for raw in ("hand_over", "mark_returned", ">lent<"):
        assert raw not in line


def test_a_finished_loan_has_no_next_steps(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="declined")
    add_events(loan, ("create", None, "offered"), ("decline", "offered", "declined"))
    line = progress_line(client.log_in(loan.borrower).page(f"/loans/{loan.id}"))
    assert "progress-next" not in line
    assert re.findall(r'data-state="(\w+)"', line) == ["offered", "declined"]


def test_how_loans_work_is_public_and_in_human_words(client):
    html = client.page("/how-loans-work")
    main = html.split('<main id="main"')[1]
    assert "<h1>How loans work</h1>" in main and "<svg" in main
    labels = set(re.findall(r'<text class="event"[^>]*>([^<]*)</text>', main))
    assert labels >= {
        unescape(e.name) for k, e in EVENTS.items() if k not in ("create", "readdress")
    }
    states = re.findall(r'<g class="state"[^>]*>.*?<text[^>]*>([^<]*)</text>', main, re.S)
    assert sorted(states) == sorted(STATE_NAMES.values())
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", main)).split())
    assert "Mark as returned (the borrower) → Returned" in text
    assert "Remind (Mooch, on its own): it stays On loan" in text
    assert "The borrower starts it: it is Requested" in text
    # The words say what each state means, from app.lending.words.MEANINGS.
    assert "Back with the lender. All done." in text
    for raw in ("mark_returned", "confirm_return", ">lent<", "hand_over ("):
        assert raw not in re.sub(r'data-[a-z]+="[^"]*"', "", main), raw
