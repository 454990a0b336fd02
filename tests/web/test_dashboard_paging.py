"""The dashboard with many loans: the open groups first, each bounded and saying how
many it leaves out; the finished loans twenty at a time, newest first, with links to
older and newer pages that neither repeat nor skip a loan."""

from __future__ import annotations

import html
import re

import pytest

from app.cursors import make_cursor
from app.extensions import db
from app.lending import service as lending
from app.lending.states import PARTIES, STATES
from app.models import Loan, User
from app.web import labels


def add(lena: User, other: User, states: list[str]) -> list[int]:
    """Loans of Lena's in these states, alternating sides; their ids, newest first."""
    loans = []
    for n, state in enumerate(states):
        lender, borrower = (lena, other) if n % 2 else (other, lena)
        loans.append(Loan(item=f"thing {n}", lender=lender, borrower=borrower, state=state))
    db.session.add_all(loans)
    db.session.commit()
    return sorted((loan.id for loan in loans), reverse=True)


def section(page: str, name: str) -> str:
    start = page.index(f'id="{name}"')
    end = page.find("</section>", start)
    return page[start:end]


def listed(page: str, name: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/loans/(\d+)"', section(page, name))]


def link(page: str, text: str) -> str | None:
    found = re.search(rf'<a [^>]*href="([^"]+)"[^>]*>{text}</a>', section(page, "done"))
    return html.unescape(found.group(1)).split("#")[0] if found else None


def finished_pages(client, start: str = "/") -> list[str]:
    """Every page from `start`, following "Older finished loans" to the end."""
    pages, path = [], start
    while path:
        pages.append(client.page(path))
        path = link(pages[-1], "Older finished loans")
    return pages


@pytest.fixture
def lena(make) -> User:
    return make.user("Lena")


@pytest.fixture
def bram(make) -> User:
    return make.user("Bram")


def test_finished_loans_come_twenty_at_a_time_after_the_open_ones(client, lena, bram):
    finished = add(lena, bram, [labels.FINISHED[n % 4] for n in range(45)])
    open_ = add(lena, bram, ["requested", "lent", "agreed"])
    client.log_in(lena)

    pages = finished_pages(client)

    assert [len(listed(page, "done")) for page in pages] == [20, 20, 5]
    assert [i for page in pages for i in listed(page, "done")] == finished
    for page in pages:
        assert sorted(listed(page, "act") + listed(page, "wait"), reverse=True) == open_
    first, middle, last = pages
    assert link(first, "Newer finished loans") is None
    assert link(middle, "Newer finished loans") and link(last, "Newer finished loans")
    assert link(last, "Older finished loans") is None
    assert 'href="/?cursor=' in section(first, "done") and "#done" in section(first, "done")


def test_newer_goes_back_a_page_at_a_time_to_the_newest(client, lena, bram):
    finished = add(lena, bram, ["closed"] * 65)
    client.log_in(lena)
    pages = finished_pages(client)
    assert [listed(page, "done") for page in pages] == [
        finished[0:20],
        finished[20:40],
        finished[40:60],
        finished[60:65],
    ]

    back = client.page(link(pages[3], "Newer finished loans"))
    assert listed(back, "done") == finished[40:60]
    back = client.page(link(back, "Newer finished loans"))
    assert listed(back, "done") == finished[20:40]
    newest = client.page(link(back, "Newer finished loans"))
    assert listed(newest, "done") == finished[0:20]
    assert link(newest, "Newer finished loans") is None
    assert link(newest, "Older finished loans") == link(pages[0], "Older finished loans")


def test_newer_with_less_than_a_page_above_shows_the_newest_page_whole(client, lena, bram):
    finished = add(lena, bram, ["declined"] * 30)
    client.log_in(lena)
    # A page starting 5 below the newest: only 5 lie above it.
    page = client.page("/?cursor=" + make_cursor("finished", "before", finished[4]))
    assert listed(page, "done") == finished[5:25]

    newer = client.page(link(page, "Newer finished loans"))
    assert listed(newer, "done") == finished[:20]
    assert link(newer, "Newer finished loans") is None


def test_a_loan_finishing_mid_walk_neither_repeats_nor_skips_an_older_one(client, lena, bram):
    finished = add(lena, bram, ["closed"] * 50)
    under_way = add(lena, bram, ["returned"])
    client.log_in(lena)

    first = client.page("/")
    loan = db.session.get(Loan, under_way[0])
    loan.state = "closed"
    db.session.commit()
    rest = finished_pages(client, link(first, "Older finished loans"))

    seen = listed(first, "done") + [i for page in rest for i in listed(page, "done")]
    assert seen == finished
    assert listed(client.page("/"), "done")[0] == under_way[0]


def test_another_users_loans_never_appear(client, make, lena, bram):
    sam = make.user("Sam")
    add(bram, sam, ["closed"] * 30 + ["requested", "lent"])
    mine = add(lena, bram, ["closed"] * 25)
    add(sam, bram, ["closed"] * 5)
    client.log_in(lena)

    pages = finished_pages(client)
    assert [i for page in pages for i in listed(page, "done")] == mine
    assert listed(pages[0], "act") == [] and listed(pages[0], "wait") == []
    # Lena's link in Sam's browser is only a position among Sam's own loans.
    older = link(pages[0], "Older finished loans")
    sams = listed(client.log_in(sam).page(older), "done")
    assert sams and all(db.session.get(Loan, i).role_of(sam) for i in sams)


def test_over_100_open_loans_show_the_newest_50_of_each_group_and_count_the_rest(
    client, lena, bram
):
    # Lena lends the odd ones (a request: hers to answer) and borrows the even ones
    # (given back: Bram is to confirm it).
    ids = add(lena, bram, ["requested" if n % 2 else "returned" for n in range(206)])
    add(lena, bram, ["closed"] * 3)
    client.log_in(lena)

    page = client.page("/")
    lent = [i for i in ids if db.session.get(Loan, i).lender_id == lena.id]
    assert listed(page, "act") == lent[:50]
    assert listed(page, "wait") == [i for i in ids if i not in lent][:50]
    for name in ("act", "wait"):
        assert '<span class="count">103</span>' in section(page, name)
        assert "The newest 50 are shown here; 53 older ones are not." in section(page, name)
    assert len(listed(page, "done")) == 3


def test_a_group_takes_the_room_the_other_leaves(client, lena, bram):
    # Odd ones requested of Lena: hers to answer; even ones she borrows: after the
    # first 21 still with her (hers to give back), the first ones given back (waiting
    # on Bram to confirm).
    add(
        lena, bram, ["requested" if n % 2 else "lent" if n > 20 else "returned" for n in range(130)]
    )
    client.log_in(lena)

    page = client.page("/")
    assert (len(listed(page, "act")), len(listed(page, "wait"))) == (89, 11)
    assert '<span class="count">119</span>' in section(page, "act")
    assert "The newest 89 are shown here; 30 older ones are not." in section(page, "act")
    assert "are shown here" not in section(page, "wait")


def test_up_to_100_open_loans_are_all_shown(client, lena, bram):
    add(lena, bram, ["requested" if n % 2 == 1 or n > 40 else "returned" for n in range(100)])
    client.log_in(lena)
    page = client.page("/")
    assert len(listed(page, "act")) + len(listed(page, "wait")) == 100
    assert "are shown here" not in page


def test_a_group_within_its_bound_says_nothing_more(client, lena, bram):
    add(lena, bram, ["returned", "requested"])
    client.log_in(lena)
    page = client.page("/")
    assert "are shown here" not in page
    assert '<span class="count">1</span>' in section(page, "act")
    assert '<span class="count">1</span>' in section(page, "wait")


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "PDE.bad-signature",
        lambda: make_cursor("loans", "before", 5),  # the API's list, not this one
        lambda: make_cursor("finished", "before", 5)[:-2],
    ],
)
def test_a_bad_cursor_is_a_400_page(cursor, client, lena, bram):
    add(lena, bram, ["closed"] * 3)
    client.log_in(lena)
    value = cursor() if callable(cursor) else cursor
    page = client.page(f"/?cursor={value}", status=400)
    assert "That link to a page of finished loans is not valid any more." in page


def test_a_cursor_past_the_oldest_loan_is_an_empty_page_with_a_way_back(client, lena, bram):
    finished = add(lena, bram, ["expired"] * 3)
    client.log_in(lena)
    page = client.page("/?cursor=" + make_cursor("finished", "before", finished[-1]))
    assert listed(page, "done") == [] and "No older finished loans." in page
    assert link(page, "Newer finished loans") == "/"


def test_every_state_is_in_exactly_one_group_for_either_side():
    assert set(lending.FINISHED) == set(labels.FINISHED)
    for role in PARTIES:
        groups = [set(lending.ACTIONABLE[role]), set(lending.WAITING[role]), set(labels.FINISHED)]
        assert sorted(s for group in groups for s in group) == sorted(STATES), role
