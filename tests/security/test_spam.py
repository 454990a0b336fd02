"""Mooch is no spam relay: mail to people without an account is capped per inviter
and per address, and starting loans has a rate of its own. Over a limit: a clear 429
(API) or form message, and nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.lending import service as lending
from app.models import AuditEvent, Loan, Notification, User
from tests.web.conftest import alert


def counts() -> tuple[int, int, int, int]:
    db.session.expire_all()
    return tuple(
        db.session.scalar(db.select(db.func.count()).select_from(table))
        for table in (Loan, User, Notification, AuditEvent)
    )


def offer(api, lena, address: str, item: str = "ladder"):
    return api.post(
        "/loans", {"role": "lender", "counterparty_email": address, "item": item}, as_=lena
    )


def test_sixty_invitations_in_a_day_stop_at_twenty(api, make, enqueued):
    lena = make.user("Lena")
    answers = [offer(api, lena, f"stranger{n}@example.com") for n in range(60)]
    assert [a.status_code for a in answers[:20]] == [201] * 20
    assert {a.status_code for a in answers[20:]} == {429}
    error = answers[20].json["error"]
    assert error["code"] == "rate_limited"
    assert "20 new people today" in error["message"]
    assert 0 < int(answers[20].headers["Retry-After"]) <= 24 * 3600
    mail = enqueued.mail()
    assert len(mail) == 20 and {kind for kind, _ in mail} == {"invitation"}
    assert len(db.session.scalars(db.select(Loan)).all()) == 20


def test_over_the_limit_nothing_is_written(api, make):
    api.app.config["INVITES_PER_DAY"] = 1
    lena = make.user("Lena")
    assert offer(api, lena, "first@example.com").status_code == 201
    before = counts()
    assert offer(api, lena, "second@example.com").status_code == 429
    assert counts() == before


def test_people_you_already_lend_to_are_not_new(api, make):
    api.app.config["INVITES_PER_DAY"] = 2
    lena, old_friend = make.user("Lena"), make.user("Otto")
    lent_last_month = make.loan(lena, old_friend, state="closed")
    lent_last_month.created_at -= timedelta(days=30)
    db.session.commit()
    asked_me = make.user("Ines")
    make.loan(lena, asked_me, state="requested")  # Ines asked Lena first
    assert offer(api, lena, "a@example.com").status_code == 201
    assert offer(api, lena, "b@example.com").status_code == 201
    assert offer(api, lena, "c@example.com").status_code == 429
    for known in (old_friend, asked_me):
        assert offer(api, lena, known.email, "tent").status_code == 201
    # Naming someone again the same day does not count twice.
    assert offer(api, lena, "a@example.com", "saw").status_code == 201


def test_accounts_count_as_new_addresses_too_so_the_cap_tells_nothing(api, make):
    api.app.config["INVITES_PER_DAY"] = 1
    lena = make.user("Lena")
    assert offer(api, lena, "stranger@example.com").status_code == 201
    # At the cap, an address with an account is refused exactly like one without.
    has_account = offer(api, lena, make.user("Kim").email)
    no_account = offer(api, lena, "nobody@example.com")
    assert has_account.status_code == no_account.status_code == 429
    assert has_account.json == no_account.json


def test_an_address_gets_one_invitation_a_day_however_many_loans_name_it(
    api, make, enqueued, delivered
):
    lena, bram = make.user("Lena"), make.user("Bram")
    for user, item in ((lena, "ladder"), (lena, "saw"), (bram, "tent"), (bram, "kayak")):
        assert offer(api, user, "newcomer@example.com", item).status_code == 201
    [invitation] = delivered.run()
    assert invitation["Subject"] == "Lena invited you to Mooch about the ladder"
    rows = enqueued.notifications()
    assert [(r.notifier, r.status) for r in rows] == [("invitation", "sent")] + [
        ("invitation", "skipped")
    ] * 3
    assert {r.last_error for r in rows[1:]} == {"invited earlier today"}
    # The next day, a new loan invites again.
    for row in rows:
        row.created_at -= timedelta(days=1, minutes=1)
    db.session.commit()
    assert offer(api, bram, "newcomer@example.com", "bike").status_code == 201
    assert [m["Subject"] for m in delivered.run()] == ["Bram invited you to Mooch about the bike"]


def test_loans_per_hour(api, make):
    api.app.config["LOANS_PER_HOUR"] = 3
    lena, bram = make.user("Lena"), make.user("Bram")
    for n in range(3):
        assert offer(api, lena, bram.email, f"thing {n}").status_code == 201
    before = counts()
    refused = offer(api, lena, bram.email, "one more")
    assert refused.status_code == 429
    assert "3 loans in the last hour" in refused.json["error"]["message"]
    assert counts() == before
    # Someone else's rate is their own.
    assert offer(api, bram, lena.email, "tent").status_code == 201


@pytest.fixture
def one_invite(settings):
    settings["INVITES_PER_DAY"] = 1


def test_the_form_says_so_and_keeps_what_was_typed(one_invite, client, make):
    lena = make.user("Lena")
    lending.create_loan(lena, "lender", "first@example.com", "ladder")
    client.log_in(lena)
    before = counts()
    response = client.post(
        "/loans/new",
        data={"role": "lender", "item": "tent", "counterparty_email": "second@example.com"},
    )
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "new people today" in alert(html)
    assert 'value="tent"' in html and 'value="second@example.com"' in html
    assert counts() == before
