"""Loans through the JSON API: whole lives from both creation roles with the mail
each step sends, every event of the loan table (docs/architecture.md), and the clock's events as
the parties see them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from app.lending import service as lending
from app.lending import words
from app.models import utcnow
from tests.support import action_link


def days(n: int) -> str:
    return (utcnow().date() + timedelta(days=n)).isoformat()


def body_of(message) -> str:
    """The text part of a delivered mail."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content()


def fire(api, loan_id, event, who, **extra):
    response = api.post(f"/loans/{loan_id}/events", {"event": event, **extra}, as_=who)
    assert response.status_code == 200, response.json
    return response.json


def sent_to(messages) -> dict[str, str]:
    return {m["To"].addresses[0].addr_spec: m["Subject"] for m in messages}


def test_borrower_asks_and_the_loan_closes(api, make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")

    created = api.post(
        "/loans",
        {
            "role": "borrower",
            "counterparty_email": lena.email.upper(),
            "item": "cordless drill",
            "message": "For the shelves",
        },
        as_=bram,
    )
    assert created.status_code == 201
    loan = created.json
    assert created.headers["Location"] == f"/api/v1/loans/{loan['id']}"
    assert (loan["state"], loan["role"], loan["item"]) == (
        "requested",
        "borrower",
        "cordless drill",
    )
    # Until Lena answers, Bram sees her by the address he typed, not her account's name.
    assert loan["lender"] == {"id": lena.id, "name": lena.email, "email": lena.email}
    assert loan["borrower"] == {"id": bram.id, "name": "Bram", "email": bram.email}
    assert loan["message"] == "For the shelves" and loan["due_date"] is None
    assert loan["allowed_events"] == ["cancel"]
    assert [(e["event"], e["from_state"], e["to_state"]) for e in loan["events"]] == [
        ("create", None, "requested")
    ]
    assert loan["events"][0]["actor"]["id"] == bram.id
    assert loan["notifications"] == [
        {
            "notifier": "loan_requested",
            "recipient": lena.email,
            "status": "pending",
            "sent_at": None,
            "problem": None,
        }
    ]

    [asked] = delivered.run()
    assert asked["Subject"] == "Bram asks to borrow your cordless drill"
    assert action_link(asked) == f"https://mooch.test/loans/{loan['id']}"
    seen = api.get(f"/loans/{loan['id']}", as_=lena).json
    assert seen["role"] == "lender"
    assert seen["allowed_events"] == ["accept", "decline"]
    [note] = seen["notifications"]
    assert note["status"] == "sent"
    assert datetime.fromisoformat(note["sent_at"]).year == utcnow().year

    loan = fire(api, loan["id"], "accept", lena)
    assert loan["state"] == "agreed" and loan["allowed_events"] == ["cancel", "hand_over"]
    assert api.get(f"/loans/{loan['id']}", as_=bram).json["lender"]["name"] == "Lena"
    assert sent_to(delivered.run()) == {bram.email: "Lena agreed to lend you the cordless drill"}

    loan = fire(api, loan["id"], "hand_over", lena, due_date=days(7))
    assert (loan["state"], loan["due_date"]) == ("lent", days(7))
    started = delivered.run()
    assert set(sent_to(started)) == {lena.email, bram.email}
    assert all(
        any(p.get_content_type() == "text/calendar" for p in m.iter_attachments()) for m in started
    )

    loan = fire(api, loan["id"], "mark_returned", bram)
    assert loan["state"] == "returned" and loan["allowed_events"] == []
    assert sent_to(delivered.run()) == {
        lena.email: "Bram gave the cordless drill back — please confirm"
    }

    loan = fire(api, loan["id"], "confirm_return", lena)
    assert loan["state"] == "closed" and loan["allowed_events"] == []
    closed = delivered.run()
    assert sent_to(closed) == {
        lena.email: "You confirmed the cordless drill is back — all done",
        bram.email: "Lena confirmed the cordless drill is back — all done",
    }

    final = api.get(f"/loans/{loan['id']}", as_=bram).json
    assert [e["event"] for e in final["events"]] == [
        "create",
        "accept",
        "hand_over",
        "mark_returned",
        "confirm_return",
    ]
    assert [(n["notifier"], n["status"]) for n in final["notifications"]] == [
        ("loan_requested", "sent"),
        ("loan_accepted", "sent"),
        ("loan_started", "sent"),
        ("loan_started", "sent"),
        ("loan_returned", "sent"),
        ("loan_closed", "sent"),
        ("loan_closed", "sent"),
    ]
    listed = api.get("/loans", as_=lena).json["loans"]
    assert [(each["id"], each["state"]) for each in listed] == [(loan["id"], "closed")]
    assert "events" not in listed[0]


def test_lender_offers_it_goes_overdue_is_disputed_and_resolved(api, make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")
    loan = api.post(
        "/loans",
        {
            "role": "lender",
            "counterparty_email": bram.email,
            "item": "tent",
            "due_date": days(3),
            "message": None,
        },
        as_=lena,
    ).json
    assert (loan["state"], loan["role"], loan["due_date"]) == ("offered", "lender", days(3))
    assert loan["allowed_events"] == ["cancel"]
    assert sent_to(delivered.run()) == {bram.email: "Lena offers to lend you the tent"}

    assert api.get(f"/loans/{loan['id']}", as_=bram).json["allowed_events"] == [
        "accept",
        "decline",
    ]
    fire(api, loan["id"], "accept", bram)
    assert sent_to(delivered.run()) == {lena.email: "Bram agreed to borrow your tent"}
    # The due date given with the offer is the one handed over with.
    loan = fire(api, loan["id"], "hand_over", lena)
    assert (loan["state"], loan["due_date"]) == ("lent", days(3))
    delivered.run()

    lending.run_clock(now=utcnow() + timedelta(days=5))
    overdue = api.get(f"/loans/{loan['id']}", as_=bram).json
    assert overdue["state"] == "overdue" and overdue["allowed_events"] == ["mark_returned"]
    assert overdue["events"][-1] == {
        "event": "mark_overdue",
        "from_state": "lent",
        "to_state": "overdue",
        "actor": None,
        "at": overdue["events"][-1]["at"],
        "note": None,
    }
    assert set(sent_to(delivered.run())) == {lena.email, bram.email}

    fire(api, loan["id"], "mark_returned", bram)
    delivered.run()
    refused = api.post(f"/loans/{loan['id']}/events", {"event": "dispute"}, as_=lena)
    assert refused.status_code == 400 and refused.json["error"]["field"] == "note"
    loan = fire(api, loan["id"], "dispute", lena, note="One pole is bent.")
    assert loan["state"] == "disputed"
    assert loan["allowed_events"] == ["add_note", "resolve"]
    disputed = delivered.run()
    assert set(sent_to(disputed)) == {lena.email, bram.email}
    assert all("One pole is bent." in body_of(m) for m in disputed)

    loan = fire(api, loan["id"], "add_note", bram, note="It was bent when I got it.")
    assert loan["state"] == "disputed"
    [note] = delivered.run()
    assert set(sent_to([note])) == {lena.email}
    assert "It was bent when I got it." in body_of(note)

    loan = fire(api, loan["id"], "resolve", bram, note="I will pay for a new pole.")
    assert loan["state"] == "closed"
    resolved = delivered.run()
    assert all("I will pay for a new pole." in body_of(m) for m in resolved)
    assert [(e["event"], e["note"]) for e in loan["events"]] == [
        ("create", None),
        ("accept", None),
        ("hand_over", None),
        ("mark_overdue", None),
        ("mark_returned", None),
        ("dispute", "One pole is bent."),
        ("add_note", "It was bent when I got it."),
        ("resolve", "I will pay for a new pole."),
    ]


def test_a_counterparty_without_an_account_is_invited(api, make, delivered):
    lena = make.user("Lena")
    loan = api.post(
        "/loans",
        {"role": "lender", "counterparty_email": "new@example.com", "item": "ladder"},
        as_=lena,
    ).json
    assert loan["borrower"]["email"] == "new@example.com"
    # The invitation shows as the offer it carries: whether the address has an account
    # is not Lena's to learn from the loan.
    assert loan["notifications"] == [
        {
            "notifier": "loan_offered",
            "recipient": "new@example.com",
            "status": "pending",
            "sent_at": None,
            "problem": None,
        }
    ]
    [invitation] = delivered.run()
    assert invitation["Subject"] == "Lena invited you to Mooch about the ladder"


# The party events of the loan table in docs/architecture.md, copied by hand: the API is checked
# against the design, not against the code's own table.
# event, from, to, who fires, {recipient role: notifier}


def both(notifier: str) -> dict[str, str]:
    return {"lender": notifier, "borrower": notifier}


TABLE = [
    ("accept", "requested", "agreed", "lender", {"borrower": "loan_accepted"}),
    ("accept", "offered", "agreed", "borrower", {"lender": "loan_accepted"}),
    ("decline", "requested", "declined", "lender", {"borrower": "loan_declined"}),
    ("decline", "offered", "declined", "borrower", {"lender": "loan_declined"}),
    ("cancel", "requested", "cancelled", "borrower", {"lender": "loan_cancelled"}),
    ("cancel", "offered", "cancelled", "lender", {"borrower": "loan_cancelled"}),
    ("cancel", "agreed", "cancelled", "lender", {"borrower": "loan_cancelled"}),
    ("cancel", "agreed", "cancelled", "borrower", {"lender": "loan_cancelled"}),
    ("hand_over", "agreed", "lent", "lender", both("loan_started")),
    ("mark_returned", "lent", "returned", "borrower", {"lender": "loan_returned"}),
    ("mark_returned", "overdue", "returned", "borrower", {"lender": "loan_returned"}),
    ("confirm_return", "returned", "closed", "lender", both("loan_closed")),
    ("dispute", "returned", "disputed", "lender", both("loan_disputed")),
    ("add_note", "disputed", "disputed", "lender", {"borrower": "loan_note"}),
    ("add_note", "disputed", "disputed", "borrower", {"lender": "loan_note"}),
    ("resolve", "disputed", "closed", "lender", both("loan_resolved")),
    ("resolve", "disputed", "closed", "borrower", both("loan_resolved")),
]  # fmt: skip
OTHER = {"lender": "borrower", "borrower": "lender"}


@pytest.mark.parametrize(
    ("event", "source", "dest", "actor", "notify"),
    TABLE,
    ids=[f"{row[0]}-from-{row[1]}-by-{row[3]}" for row in TABLE],
)
def test_every_party_event(event, source, dest, actor, notify, api, make, enqueued):
    people = {"lender": make.user("Lena"), "borrower": make.user("Bram")}
    row = make.loan(people["lender"], people["borrower"], state=source)
    extra = {"due_date": days(2)} if event == "hand_over" else {}
    if event in lending.NOTE_REQUIRED:
        extra["note"] = "A word about it."

    # Unless either may fire it, the other party is refused; whoever may sees it offered.
    if (event, source, OTHER[actor]) not in {(r[0], r[1], r[3]) for r in TABLE}:
        refused = api.post(
            f"/loans/{row.id}/events", {"event": event, **extra}, as_=people[OTHER[actor]]
        )
        assert refused.status_code == 403, refused.json
        assert refused.json["error"]["code"] == "forbidden"
        assert f"“{words.EVENTS[event].name}”" in refused.json["error"]["message"]
    before = api.get(f"/loans/{row.id}", as_=people[actor]).json
    assert event in before["allowed_events"]

    loan = fire(api, row.id, event, people[actor], version=before["version"], **extra)
    assert loan["state"] == dest
    assert loan["version"] > before["version"]
    [audit] = loan["events"]
    assert (audit["event"], audit["from_state"], audit["to_state"]) == (event, source, dest)
    assert audit["actor"]["id"] == people[actor].id
    expected = sorted((notifier, people[role].email) for role, notifier in notify.items())
    assert sorted((n["notifier"], n["recipient"]) for n in loan["notifications"]) == expected
    assert sorted(enqueued.mail()) == expected


@pytest.mark.parametrize(
    ("event", "source", "dest", "now", "notify"),
    [
        ("expire", "requested", "expired", 8, both("loan_expired")),
        ("expire", "offered", "expired", 8, both("loan_expired")),
        ("remind", "lent", "lent", 0, {"borrower": "loan_due_soon"}),
        ("mark_overdue", "lent", "overdue", 2,
         {"borrower": "loan_overdue", "lender": "loan_overdue_lender"}),
    ],
)  # fmt: skip
def test_the_clock_events_as_the_parties_see_them(
    event, source, dest, now, notify, api, make, enqueued
):
    people = {"lender": make.user("Lena"), "borrower": make.user("Bram")}
    due = utcnow().date() + timedelta(days=1)
    row = make.loan(people["lender"], people["borrower"], state=source, due_date=due)
    lending.run_clock(now=utcnow() + timedelta(days=now))

    for role, person in people.items():
        loan = api.get(f"/loans/{row.id}", as_=person).json
        assert loan["state"] == dest
        [audit] = loan["events"]
        assert (audit["event"], audit["to_state"], audit["actor"]) == (event, dest, None)
        assert sorted((n["notifier"], n["recipient"]) for n in loan["notifications"]) == sorted(
            (notifier, people[r].email) for r, notifier in notify.items()
        ), role


@pytest.mark.parametrize("event", ["expire", "remind", "mark_overdue", "create", "teleport"])
def test_a_party_cannot_send_the_clocks_events_or_unknown_ones(event, api, make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    row = make.loan(lena, bram, state="lent", due_date=utcnow().date())
    response = api.post(f"/loans/{row.id}/events", {"event": event}, as_=lena)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "event"
    assert "accept" in response.json["error"]["message"]
    assert enqueued.mail() == []


def test_the_list_holds_my_loans_newest_first_and_no_one_elses(api, make):
    lena, bram, sam = make.user("Lena"), make.user("Bram"), make.user("Sam")
    first = make.loan(lena, bram, item="drill")
    second = make.loan(bram, lena, state="lent", item="tent", due_date=utcnow().date())
    make.loan(bram, sam, item="kayak")

    loans = api.get("/loans", as_=lena).json["loans"]
    assert [(each["id"], each["role"]) for each in loans] == [
        (second.id, "borrower"),
        (first.id, "lender"),
    ]
    assert loans[0]["allowed_events"] == ["mark_returned"]
    assert api.get("/loans", as_=make.user("Nobody")).json["loans"] == []


def test_an_event_reads_the_loan_with_its_parties_and_again_after_it_in_one_query(
    api, make, enqueued
):
    """The loan is read with both parties in one query, before the event (to check it
    and to mail the other party) and after its commit (for the answer): no query for
    a party on its own."""
    lena, bram = make.user("Lena"), make.user("Bram")
    loan_id = make.loan(lena, bram, state="requested").id
    headers = {"Authorization": f"Bearer {api.token(lena)}"}
    db.session.commit()
    db.session.expunge_all()  # as a request's own session starts
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        response = api.post(f"/loans/{loan_id}/events", {"event": "accept"}, headers=headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert response.status_code == 200, response.json
    assert response.json["borrower"]["name"] == "Bram"
    loan_reads = [s for s in statements if s.startswith("SELECT loans.id")]
    assert len(loan_reads) == 2, statements
    assert all(s.count("JOIN users AS") == 2 for s in loan_reads), loan_reads
    # The only read of users alone is the bearer's, by its token.
    users_alone = [s for s in statements if s.startswith("SELECT users.id") and "loans" not in s]
    assert len(users_alone) == 1, statements
    assert len(statements) <= 9, statements
