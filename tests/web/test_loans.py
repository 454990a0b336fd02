"""The dashboard, the new-loan form, the loan page, and every refusal on it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.lending import words
from app.lending.service import today
from app.models import Loan
from tests.web.conftest import alert, field_error


def buttons(html: str) -> list[str]:
    """The events the loan page offers, in order."""
    return re.findall(r'<input name="event" type="hidden" value="([a-z_]+)"', html)


def words_of(html: str) -> str:
    """The page without the <bdi> tags that isolate the names people typed."""
    return html.replace("<bdi>", "").replace("</bdi>", "")


def reload(loan: Loan) -> Loan:
    db.session.expire_all()
    return db.session.get(Loan, loan.id)


def fire(client, loan: Loan, event: str, **extra):
    data = {"event": event, "version": str(reload(loan).version), **extra}
    return client.post(f"/loans/{loan.id}/events", data=data)


# -- asking and offering -------------------------------------------------------------


def test_ask_to_borrow(client, make, enqueued):
    bob, lena = make.user("Bob"), make.user("Lena")
    client.log_in(bob)
    due = (today() + timedelta(days=10)).isoformat()
    response = client.post(
        "/loans/new",
        data={
            "role": "borrower",
            "item": "tent",
            "counterparty_email": lena.email,
            "due_date": due,
            "message": "For the weekend",
        },
    )
    loan = db.session.scalar(db.select(Loan))
    assert response.headers["Location"] == f"/loans/{loan.id}"
    assert (loan.state, loan.borrower_id, loan.lender_id) == ("requested", bob.id, lena.id)
    assert loan.due_date.isoformat() == due and loan.message == "For the weekend"
    html = words_of(client.page(f"/loans/{loan.id}"))
    # Until Lena answers, Bob sees the address he typed, not her account's name.
    assert f"Your request is on its way to {lena.email}." in html
    assert f"You asked {lena.email} to lend you the tent" in html
    assert "Lena" not in html.split("<main")[1]
    assert enqueued.mail() == [("loan_requested", lena.email)]


def test_offer_to_lend_to_someone_without_an_account(client, make, enqueued):
    lena = make.user("Lena")
    client.log_in(lena)
    response = client.post(
        "/loans/new",
        data={"role": "lender", "item": "ladder", "counterparty_email": "new@example.com"},
    )
    assert response.status_code == 302
    loan = db.session.scalar(db.select(Loan))
    assert loan.state == "offered" and loan.due_date is None
    assert enqueued.mail() == [("invitation", "new@example.com")]


def test_the_form_starts_with_the_role_asked_for(client, make):
    client.log_in(make.user())
    html = client.page("/loans/new?role=lender")
    assert re.search(r'<input checked[^>]*value="lender"|value="lender"[^>]*checked', html)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"item": ""}, "item", "The item name cannot be empty."),
        ({"item": "x" * 201}, "item", "longer than 200 characters"),
        ({"counterparty_email": ""}, "counterparty_email", "An email address is required."),
        ({"counterparty_email": "bob@"}, "counterparty_email", "is not a valid email address"),
        ({"counterparty_email": "SELF"}, "counterparty_email", "You cannot lend to or borrow"),
        ({"due_date": "next week"}, "due_date", "is not a date"),
        ({"due_date": "2000-01-01"}, "due_date", "The due date is in the past."),
        ({"message": "x" * 2001}, "message", "longer than 2000 characters"),
    ],
)
def test_new_loan_errors_mark_the_field(client, make, enqueued, change, field, message):
    lena = make.user("Lena")
    client.log_in(lena)
    data = {"role": "borrower", "item": "tent", "counterparty_email": "bob@example.com"}
    data.update(change)
    if data["counterparty_email"] == "SELF":
        data["counterparty_email"] = lena.email
    response = client.post("/loans/new", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in field_error(html, field)
    assert 'value="tent"' in html or field == "item"  # what was typed is kept
    assert db.session.scalar(db.select(Loan)) is None
    assert enqueued.notifications() == []


def test_a_bad_role_is_marked(client, make):
    client.log_in(make.user())
    response = client.post(
        "/loans/new", data={"role": "thief", "item": "x", "counterparty_email": "b@example.com"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert '<fieldset class="field has-error" aria-invalid="true"' in html
    assert 'The role must be "borrower" or "lender".' in html.replace("&#34;", '"')


def test_the_answer_is_the_same_for_an_account_an_invitation_or_a_closed_account(
    client, make, enqueued
):
    client.log_in(make.user("Lena"))
    known, invited = make.user("Kim"), make.user("Ivo", state="invited")
    gone = make.user("Gone", state="closed")
    pages = []
    for other in (known, invited, gone):
        response = client.post(
            "/loans/new", data={"role": "borrower", "item": "x", "counterparty_email": other.email}
        )
        assert response.status_code == 302
        page = client.page(response.headers["Location"])
        # The same page but for the address and the loan's number.
        main = page.split("<main")[1].replace(other.email, "ADDRESS")
        main = re.sub(r"<time [^>]*>.*?</time>", "TIME", main)
        main = re.sub(r'data-live-stamp="[^"]*"', "STAMP", main)  # differs per loan
        pages.append(re.sub(r"/loans/\d+", "/loans/N", main))
    assert pages[0] == pages[1] == pages[2]
    assert [kind for kind, _ in enqueued.mail()] == ["loan_requested", "invitation", "invitation"]


# -- the dashboard -------------------------------------------------------------------


def test_the_dashboard_groups_loans_by_what_needs_me(client, make):
    lena, bob = make.user("Lena"), make.user("Bob")
    make.loan(lena, bob, state="requested", item="drill")  # lena may accept
    make.loan(bob, lena, state="lent", item="tent")  # lena may give it back
    make.loan(lena, bob, state="lent", item="ladder")  # waits on bob
    make.loan(lena, bob, state="closed", item="saw")
    make.loan(bob, make.user("Eve"), state="requested", item="secret")  # not hers
    client.log_in(lena)
    html = words_of(client.page("/"))
    act, wait, done = (
        html.split('id="act"')[1].split('id="wait"')[0],
        html.split('id="wait"')[1].split('id="done"')[0],
        html.split('id="done"')[1],
    )
    assert "Bob asks to borrow your drill" in act and "You have Bob’s tent" in act
    assert "Your move: Accept or Decline" in act and "Your move: Mark as returned" in act
    assert "Bob has your ladder" in wait and "Waiting on Bob" in wait and "drill" not in wait
    assert "Your saw is back with you — all done" in done
    assert "secret" not in html
    assert not re.search(r"\b(mark_returned|hand_over|confirm_return)\b", html)


def test_a_request_waits_on_the_lender_though_the_borrower_could_cancel(client, make):
    lena, bob = make.user("Lena"), make.user("Bob")
    make.loan(lena, bob, state="requested", item="drill")
    html = words_of(client.log_in(bob).page("/"))
    wait = html.split('id="wait"')[1].split('id="done"')[0]
    assert f"You asked {lena.email} to lend you the drill" in wait
    assert f"Waiting on {lena.email}" in wait
    assert 'class="count">0<' in html.split('id="act"')[1].split("</h2>")[0]


def test_overdue_and_due_soon_loans_stand_out_with_relative_dates(client, make):
    lena, bob = make.user("Lena"), make.user("Bob")
    day = today()
    make.loan(lena, bob, state="lent", item="tent", due_date=day + timedelta(days=9))
    make.loan(lena, bob, state="lent", item="drill", due_date=day + timedelta(days=1))
    make.loan(lena, bob, state="overdue", item="ladder", due_date=day - timedelta(days=3))
    html = client.log_in(bob).page("/")
    act = html.split('id="act"')[1].split('id="wait"')[0]
    rows = re.findall(r"<li( class=\"[^\"]*\")?>\s*<a class=\"loan-row\"[^>]*>(.*?)</a>", act, re.S)
    titles = [(cls, re.sub(r"<[^>]+>|\s+", " ", body).strip()) for cls, body in rows]
    # Overdue first, then due soon, each flagged; the due dates relative to today.
    assert [cls for cls, _ in titles] == [' class="is-overdue"', ' class="is-due-soon"', ""]
    assert "ladder is 3 days overdue" in words_of(rows[0][1])
    assert "due tomorrow" in titles[1][1] and "due in 9 days" in titles[2][1]


def test_a_new_user_sees_one_friendly_empty_state(client, make):
    client.log_in(make.user())
    html = client.page("/")
    assert "Nothing lent or borrowed yet" in html and "Ask to borrow" in html
    assert 'id="act"' not in html and 'id="wait"' not in html and 'id="done"' not in html


def test_with_only_finished_loans_the_groups_say_so(client, make):
    lena = make.user("Lena")
    make.loan(lena, make.user("Bob"), state="closed", item="saw")
    html = client.log_in(lena).page("/")
    assert "Nothing waits on you." in html and "Nothing lent or borrowed yet" not in html


# -- the loan page -------------------------------------------------------------------

ALLOWED = [
    ("requested", "lender", ["accept", "decline"]),
    ("requested", "borrower", ["cancel"]),
    ("offered", "borrower", ["accept", "decline"]),
    ("offered", "lender", ["cancel"]),
    ("agreed", "lender", ["hand_over", "cancel"]),
    ("agreed", "borrower", ["cancel"]),
    ("lent", "borrower", ["mark_returned"]),
    ("lent", "lender", []),
    ("overdue", "borrower", ["mark_returned"]),
    ("returned", "lender", ["confirm_return", "dispute"]),
    ("disputed", "borrower", ["resolve", "add_note"]),
    ("closed", "lender", []),
]


@pytest.mark.parametrize(("state", "role", "events"), ALLOWED)
def test_the_loan_page_offers_exactly_my_moves(client, make, state, role, events):
    lena, bob = make.user("Lena"), make.user("Bob")
    loan = make.loan(lena, bob, state=state)
    client.log_in(lena if role == "lender" else bob)
    html = client.page(f"/loans/{loan.id}")
    assert buttons(html) == events
    assert html.count(f'name="version" type="hidden" value="{loan.version}"') == len(events)
    assert ('name="due_date"' in html) == ("hand_over" in events)
    assert f'badge-{state}">{words.STATE_NAMES[state]}<' in html
    # The counterparty shows by name once they have answered; until then, to the one
    # who asked or offered, by the address.
    initiator, counterparty = (bob, lena) if state == "requested" else (lena, bob)
    viewer = lena if role == "lender" else bob
    hidden = state in ("requested", "offered") and viewer == initiator
    assert (counterparty.name in html) != hidden and counterparty.email in html
    if events:
        assert 'id="next">Your move<' in html
    else:  # nothing to press: no empty action card, but whom the loan waits on
        assert 'id="next"' not in html
        waits = "Waiting on Bob: Mark as returned." if state == "lent" else None
        assert (waits in html) if waits else "Waiting on" not in html


def test_the_timeline_shows_each_event_and_its_mail_with_delivery_status(browser, make, delivered):
    lena, bob = make.user("Lena"), make.user("Bob")
    as_bob, as_lena = browser().log_in(bob), browser().log_in(lena)
    as_bob.post(
        "/loans/new", data={"role": "borrower", "item": "tent", "counterparty_email": lena.email}
    )
    loan = db.session.scalar(db.select(Loan))
    html = as_lena.page(f"/loans/{loan.id}")
    timeline = html.split('id="history"')[1]
    assert "<strong>Bob</strong> asked to borrow it" in timeline
    assert "Loan requested</span> to Lena" in timeline
    assert "delivery-pending" in timeline and ">queued<" in timeline

    delivered.run()
    timeline = as_lena.page(f"/loans/{loan.id}").split('id="history"')[1]
    assert "delivery-sent" in timeline and ">sent<" in timeline

    fire(as_lena, loan, "accept")
    timeline = as_lena.page(f"/loans/{loan.id}").split('id="history"')[1]
    first, second = timeline.split("<strong>Lena</strong> accepted")
    assert "asked to borrow it" in first  # oldest first
    assert "(Requested → Agreed)" in second and "Loan accepted</span> to Bob" in second


def test_the_timeline_names_the_system_for_the_loan_clock(client, make):
    from app.lending.service import fire_system_event

    loan = make.loan(make.user("Lena"), make.user("Bob"), state="offered")
    fire_system_event(loan.id, "expire")
    timeline = client.log_in(loan.borrower).page(f"/loans/{loan.id}").split('id="history"')[1]
    assert "<strong>Mooch</strong> expired: nobody answered in time" in timeline
    assert timeline.count("Loan expired</span>") == 2


def test_a_failed_mail_shows_as_failed(client, make):
    from app.models import AuditEvent, Notification

    lena, bob = make.user("Lena"), make.user("Bob")
    loan = make.loan(lena, bob, state="requested")
    event = AuditEvent(loan=loan, event="create", to_state="requested", actor=bob)
    db.session.add(event)
    db.session.flush()
    db.session.add(
        Notification(
            notifier="loan_requested",
            recipient=lena,
            recipient_email=lena.email,
            loan=loan,
            audit_event_id=event.id,
            status="failed",
        )
    )
    db.session.commit()
    html = client.log_in(lena).page(f"/loans/{loan.id}")
    assert "delivery-failed" in html and ">failed<" in html


def test_the_loan_page_shows_its_progress_with_the_current_state(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="lent")
    html = client.log_in(loan.lender).page(f"/loans/{loan.id}")
    # The loan's own path, not the whole machine (that is on /how-loans-work).
    line = html.split('id="progress-title"')[1].split("</section>")[0]
    assert 'aria-current="step"' in line and 'data-state="lent"' in line
    assert "<svg" not in html and 'href="/how-loans-work"' in line


# -- refusals ------------------------------------------------------------------------


def test_the_other_partys_move_is_refused_with_a_message(client, make, enqueued):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="requested")
    client.log_in(loan.borrower)
    response = fire(client, loan, "accept")
    assert response.status_code == 403
    assert "Only the lender can “Accept” this loan." in alert(response.get_data(as_text=True))
    assert buttons(response.get_data(as_text=True)) == ["cancel"]
    assert reload(loan).state == "requested" and enqueued.notifications() == []


def test_a_move_not_allowed_in_this_state_is_refused_with_a_message(client, make, enqueued):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="closed")
    client.log_in(loan.lender)
    response = fire(client, loan, "accept")
    assert response.status_code == 409
    assert "“Accept” is not possible now: this loan is “Closed”." in alert(
        response.get_data(as_text=True)
    )
    assert reload(loan).state == "closed" and enqueued.notifications() == []


@pytest.mark.parametrize("version", ["0", "", "abc", "-1"])
def test_a_stale_page_is_refused_reload_and_try_again(client, make, enqueued, version):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="requested")
    client.log_in(loan.lender)
    response = client.post(f"/loans/{loan.id}/events", data={"event": "accept", "version": version})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Reload and try again." in alert(html)
    assert 'data-kind="conflict"' in html
    assert reload(loan).state == "requested" and enqueued.notifications() == []


def test_someone_else_changed_the_loan_first(browser, make, enqueued):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="agreed")
    as_lena, as_bob = browser().log_in(loan.lender), browser().log_in(loan.borrower)
    seen = reload(loan).version  # both pages show this version
    assert (
        as_bob.post(
            f"/loans/{loan.id}/events", data={"event": "cancel", "version": str(seen)}
        ).status_code
        == 302
    )
    response = as_lena.post(
        f"/loans/{loan.id}/events",
        data={"event": "hand_over", "version": str(seen), "due_date": today().isoformat()},
    )
    assert response.status_code == 409
    assert "changed since you loaded it" in alert(response.get_data(as_text=True))
    assert reload(loan).state == "cancelled"
    assert [n for n, _ in enqueued.mail()] == ["loan_cancelled"]


@pytest.mark.parametrize(
    ("due", "message"),
    [
        ("", "A due date is required"),
        ("soon", "is not a date"),
        ("2000-01-01", "The due date is in the past."),
    ],
)
def test_hand_over_needs_a_good_due_date(client, make, enqueued, due, message):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="agreed")
    client.log_in(loan.lender)
    response = fire(client, loan, "hand_over", due_date=due)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in field_error(html, "due_date", "due_date-hand_over")
    assert reload(loan).state == "agreed" and enqueued.notifications() == []


def test_an_unknown_event_is_refused_with_a_message(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="requested")
    client.log_in(loan.lender)
    response = fire(client, loan, "steal")
    assert response.status_code == 400
    assert "Unknown event 'steal'." in alert(response.get_data(as_text=True))


def test_an_inactive_account_cannot_act(client, make, enqueued):
    # A session can outlive an account's activity (a stale cookie): the session no
    # longer loads a user, so the page asks to log in, and nothing happens.
    loan = make.loan(make.user("Lena"), make.user("Bob", state="invited"), state="offered")
    client.log_in(loan.borrower)
    response = fire(client, loan, "accept")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert reload(loan).state == "offered" and enqueued.notifications() == []


# -- a loan from request to closed, through the pages ----------------------------------


def test_a_loan_walked_from_request_to_closed(browser, make, delivered):
    lena, bob = make.user("Lena"), make.user("Bob")
    as_lena, as_bob = browser().log_in(lena), browser().log_in(bob)

    as_bob.post(
        "/loans/new",
        data={"role": "borrower", "item": "cordless drill", "counterparty_email": lena.email},
    )
    loan = db.session.scalar(db.select(Loan))
    path = f"/loans/{loan.id}"
    due = (today() + timedelta(days=7)).isoformat()
    steps = [
        (as_lena, "accept", {}, "agreed"),
        (as_lena, "hand_over", {"due_date": due}, "lent"),
        (as_bob, "mark_returned", {}, "returned"),
        (as_lena, "confirm_return", {}, "closed"),
    ]
    for who, event, extra, state in steps:
        assert event in buttons(who.page(path))
        response = fire(who, loan, event, **extra)
        assert response.status_code == 302 and response.headers["Location"] == path
        assert words.EVENTS[event].flash.split(":")[0] in who.page(path)
        assert reload(loan).state == state
    assert reload(loan).due_date.isoformat() == due

    delivered.run()
    html = as_bob.page(path)
    assert buttons(html) == [] and 'badge-closed">Closed<' in html
    timeline = html.split('id="history"')[1]
    for done in ("asked to borrow it", "accepted", "handed it over", "marked it as returned"):
        assert done in timeline
    assert "confirmed the return" in timeline
    assert "delivery-pending" not in timeline and timeline.count(">sent<") == 7
    assert (
        "You gave the cordless drill back to Lena — all done"
        in words_of(as_bob.page("/")).split('id="done"')[1]
    )
