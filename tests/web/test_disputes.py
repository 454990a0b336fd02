"""A dispute is a conversation: a reason to dispute, notes while disputed, an outcome
to resolve; each seen by the other person on the loan page and in their mail. Any
other step may carry a note too."""

from __future__ import annotations

import re

from app.extensions import db
from app.models import Loan
from tests.web.conftest import alert, field_error
from tests.web.test_loans import buttons, fire, reload


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def timeline(html: str) -> str:
    return html.split('id="history"')[1]


def test_a_dispute_needs_a_reason_and_loses_nothing_without_one(client, make, enqueued):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="returned")
    client.log_in(loan.lender)
    response = fire(client, loan, "dispute", note="   ")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Say what is wrong with the return" in field_error(html, "note", "note-dispute")
    # The dispute form stays open with its error; nothing happened.
    assert re.search(r'<details class="confirm" open>', html)
    assert reload(loan).state == "returned" and enqueued.notifications() == []


def test_the_conversation_reaches_the_other_person(browser, make, delivered):
    lena, bob = make.user("Lena"), make.user("Bob")
    loan = make.loan(lena, bob, state="returned", item="tent")
    as_lena, as_bob = browser().log_in(lena), browser().log_in(bob)
    path = f"/loans/{loan.id}"

    response = fire(as_lena, loan, "dispute", note="One pole is <b>bent</b>.")
    assert response.status_code == 302
    assert "Disputed: Bob has been told what is wrong." in as_lena.page(path)
    mail = {
        m["To"].addresses[0].display_name or m["To"].addresses[0].addr_spec: m
        for m in delivered.run()
    }
    assert len(mail) == 2 and all("One pole is <b>bent</b>." in body(m) for m in mail.values())

    html = as_bob.page(path)
    assert "One pole is &lt;b&gt;bent&lt;/b&gt;." in timeline(html)  # escaped, as typed
    assert buttons(html) == ["resolve", "add_note"]
    assert fire(as_bob, loan, "add_note").status_code == 400  # a note needs words
    assert fire(as_bob, loan, "add_note", note="It was bent when I got it.").status_code == 302
    [note] = delivered.run()
    assert note["To"].addresses[0].addr_spec == lena.email
    assert "It was bent when I got it." in body(note)
    assert reload(loan).state == "disputed"

    assert fire(as_lena, loan, "resolve").status_code == 400  # the outcome is required
    fire(as_lena, loan, "resolve", note="Bob pays half a new pole.")
    assert reload(loan).state == "closed"
    assert all("Bob pays half a new pole." in body(m) for m in delivered.run())
    history = timeline(as_bob.page(path))
    for said in ("It was bent when I got it.", "Bob pays half a new pole."):
        assert said in history


def test_any_step_may_carry_a_note(client, make, delivered):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="requested", item="drill")
    client.log_in(loan.lender)
    fire(client, loan, "decline", note="I need it myself that weekend.")
    assert reload(loan).state == "declined"
    [declined] = delivered.run()
    assert "I need it myself that weekend." in body(declined)
    html = client.page(f"/loans/{loan.id}")
    assert "I need it myself that weekend." in timeline(html)


def test_cancel_and_dispute_ask_for_confirmation_and_come_after_the_forward_move(client, make):
    lena, bob = make.user("Lena"), make.user("Bob")
    agreed = make.loan(lena, bob, state="agreed")
    returned = make.loan(lena, bob, state="returned")
    client.log_in(lena)
    for loan, forward, undo in (
        (agreed, "Hand over", "Cancel"),
        (returned, "Confirm return", "Dispute"),
    ):
        html = client.page(f"/loans/{loan.id}")
        card = html.split('id="next"')[1].split("</section>")[0]
        # The forward move is the first, primary button; the other sits behind a
        # disclosure whose button says "Yes, …".
        assert card.index(f">{forward}</button>") < card.index(f"{undo}…</summary>")
        assert re.search(rf'<button type="submit" class="button">{forward}</button>', card)
        assert f"Yes, {undo.lower()}</button>" in card


def test_a_finished_loan_has_no_action_card(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="closed")
    html = client.log_in(loan.lender).page(f"/loans/{loan.id}")
    assert 'id="next"' not in html and "Waiting on" not in html


def test_the_due_date_says_it_is_required(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="agreed")
    html = client.log_in(loan.lender).page(f"/loans/{loan.id}")
    assert re.search(r'<label for="due_date-hand_over">Due back \(required\)</label>', html)
    assert re.search(r'<input[^>]*id="due_date-hand_over"[^>]*required', html)


def test_a_stale_note_form_keeps_what_was_typed(client, make):
    loan = make.loan(make.user("Lena"), make.user("Bob"), state="disputed")
    client.log_in(loan.lender)
    stale = str(reload(loan).version - 1)
    response = client.post(
        f"/loans/{loan.id}/events",
        data={"event": "add_note", "version": stale, "note": "Let us meet on Sunday."},
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed" in alert(html).lower()
    # The note is still there, in a form carrying the loan's version now: one more
    # press sends it.
    assert re.search(
        r'<textarea[^>]*id="note-add_note"[^>]*>\s*Let us meet on Sunday.</textarea>', html
    )
    assert f'name="version" type="hidden" value="{reload(loan).version}"' in html
    assert db.session.get(Loan, loan.id).state == "disputed"
