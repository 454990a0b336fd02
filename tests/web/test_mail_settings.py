"""Mail people want (issue 12, parts 1 and 2): each person chooses, per optional
notifier, whether to get it; the choice is applied when the row is made (recorded
`skipped`, and the loan page says why), never in the worker; every optional mail
carries RFC 8058 one-click unsubscribe, essential mail never does."""

from __future__ import annotations

import re

import pytest

from app import create_app
from app.extensions import db
from app.lending import service as lending
from app.models import MailPreference, Notification
from app.notifications import preferences
from app.notifications.notifiers import DIGEST, ESSENTIAL, NOTIFIERS, OPTIONAL
from tests.web.test_loans import fire, reload

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def test_every_notifier_is_declared_essential_or_optional():
    # The daily digest is neither: it carries the optional mail chosen for it.
    assert set(OPTIONAL) | ESSENTIAL | {DIGEST} == set(NOTIFIERS)
    assert not set(OPTIONAL) & ESSENTIAL and DIGEST not in set(OPTIONAL) | ESSENTIAL
    # What the issue names essential: proving an address, guarding an account, and
    # anything that needs an answer to move a loan on.
    assert {
        "signup_confirmation", "password_reset", "disconnect_confirmation", "farewell",
        "loan_requested", "loan_offered", "invitation", "signup_attempt", "password_changed",
        "address_confirmation",
    } == ESSENTIAL  # fmt: skip
    assert "welcome" in OPTIONAL and "loan_accepted" in OPTIONAL


def test_the_account_page_lists_the_optional_mail_in_plain_words(client, make):
    html = client.log_in(make.user("Lena")).page("/account")
    section = html.split('id="mail"')[1].split("</section>")[0]
    for name, about in OPTIONAL.items():
        assert about in section.replace("&#39;", "'")
        assert f'name="choice-{name}" value="immediately" checked' in section
    for name in ESSENTIAL:
        assert f"choice-{name}" not in section


def test_turning_a_mail_off_records_it_skipped_with_the_reason(client, make, delivered):
    lena, bob = make.user("Lena"), make.user("Bob")
    client.log_in(bob)
    response = client.post("/account/mail", data={"choice-loan_accepted": "never"})
    assert response.status_code == 302 and response.headers["Location"] == "/account#mail"
    assert "Your email settings are saved." in client.page("/account")
    assert preferences.choices_for(bob)["loan_accepted"] == "never"

    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    delivered.run()
    lending.fire_event(lena, loan.id, "accept")
    [row] = [n for n in reload(loan).notifications if n.notifier == "loan_accepted"]
    assert (row.status, row.last_error) == ("skipped", preferences.TURNED_OFF)
    assert delivered.run() == []  # nothing was queued: the worker drops nothing

    # Each side reads why on the loan page.
    mine = client.page(f"/loans/{loan.id}")
    assert "not emailed: you turned these off" in mine
    theirs = client.log_in(lena).page(f"/loans/{loan.id}")
    assert "not emailed: Bob turned these off" in theirs


def test_essential_mail_cannot_be_turned_off(client, make, enqueued):
    lena = make.user("Lena")
    client.log_in(lena)
    response = client.post("/account/mail", data={"choice-loan_requested": "never"})
    assert response.status_code == 302  # not a field of the form: ignored
    assert db.session.scalar(db.select(MailPreference)) is None
    with pytest.raises(Exception, match="not an email you can turn off"):
        preferences.choose(lena, "password_reset", "never")
    lending.create_loan(make.user("Bob"), "borrower", lena.email, "tent")
    assert enqueued.mail() == [("loan_requested", lena.email)]


def test_a_bad_choice_is_refused_and_loses_nothing(client, make):
    bob = make.user("Bob")
    client.log_in(bob)
    response = client.post(
        "/account/mail",
        data={"choice-loan_closed": "never", "choice-loan_started": "sometimes"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Choose one of" in html
    # What was typed stays on the form; nothing was saved.
    assert 'name="choice-loan_closed" value="never" checked' in html
    assert preferences.choices_for(bob)["loan_closed"] == "immediately"


def _mail_to(delivered, address):
    return [m for m in delivered.run() if m["To"].addresses[0].addr_spec == address]


def test_optional_mail_carries_one_click_unsubscribe_and_essential_mail_does_not(
    app, make, delivered
):
    lena, bob = make.user("Lena"), make.user("Bob")
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    [requested] = _mail_to(delivered, lena.email)
    assert requested["List-Unsubscribe"] is None and requested["List-Unsubscribe-Post"] is None
    assert "/unsubscribe/" not in requested.get_body(("plain",)).get_content()

    lending.fire_event(lena, loan.id, "accept")
    [accepted] = _mail_to(delivered, bob.email)
    assert accepted["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [link] = re.findall(r"<(https?://[^>]+)>", accepted["List-Unsubscribe"])
    assert link.startswith(app.config["BASE_URL"] + "/unsubscribe/")
    text = accepted.get_body(("plain",)).get_content()
    assert link in text and app.config["BASE_URL"] + "/account#mail" in text
    html = accepted.get_body(("html",)).get_content()
    assert link in html


def test_mailto_unsubscribe_when_an_address_is_set(app, make, delivered):
    app.config["MAIL_UNSUBSCRIBE_ADDRESS"] = "unsubscribe@mooch.test"
    lena, bob = make.user("Lena"), make.user("Bob")
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    delivered.run()
    lending.fire_event(lena, loan.id, "accept")
    [accepted] = _mail_to(delivered, bob.email)
    header = accepted["List-Unsubscribe"]
    assert header.startswith("<https://") or header.startswith("<http://")
    assert "<mailto:unsubscribe@mooch.test?subject=unsubscribe-" in header


def _unsubscribe_path(user, notifier="loan_accepted"):
    return preferences.unsubscribe_path(user.id, notifier)


def test_one_click_post_needs_no_login_and_no_csrf_and_is_idempotent(settings, make):
    settings["WTF_CSRF_ENABLED"] = True
    protected = create_app(settings)
    bob = make.user("Bob")
    path = _unsubscribe_path(bob)
    with protected.app_context():
        client = protected.test_client()
        for _ in range(2):
            response = client.post(path, data={"List-Unsubscribe": "One-Click"})
            assert response.status_code == 200
            assert "We will no longer email you" in response.get_data(as_text=True)
    assert preferences.choices_for(bob)["loan_accepted"] == "never"
    assert db.session.scalar(db.select(db.func.count()).select_from(MailPreference)) == 1


def test_the_get_page_asks_first_and_changes_nothing(client, make):
    bob = make.user("Bob")
    html = client.page(_unsubscribe_path(bob, "loan_due_soon"))
    assert "Stop these emails?" in html and "something you borrowed is due back soon" in html
    assert 'method="post"' in html and "/account#mail" in html
    assert preferences.choices_for(bob)["loan_due_soon"] == "immediately"


@pytest.mark.parametrize(
    "token",
    ["nonsense", "x" * 600, "eyJ1IjoxLCJuIjoibG9hbl9hY2NlcHRlZCJ9.forged"],
)
def test_a_forged_or_broken_link_changes_nothing(client, make, token):
    bob = make.user("Bob")
    for method in (client.get, client.post):
        response = method(f"/unsubscribe/{token}")
        assert response.status_code == 404
        assert "This link does not work" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(MailPreference)) is None
    assert preferences.choices_for(bob)["loan_accepted"] == "immediately"


def test_a_token_for_essential_mail_is_refused(client, make):
    bob = make.user("Bob")
    forged = preferences._serializer().dumps({"u": bob.id, "n": "password_reset"})
    assert client.post(f"/unsubscribe/{forged}").status_code == 404
    assert db.session.scalar(db.select(MailPreference)) is None


def test_a_turned_off_mail_can_be_turned_on_again(client, make, enqueued):
    lena, bob = make.user("Lena"), make.user("Bob")
    client.post(_unsubscribe_path(bob))
    client.log_in(bob)
    client.post("/account/mail", data={"choice-loan_accepted": "immediately"})
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    statuses = {n.notifier: n.status for n in db.session.scalars(db.select(Notification))}
    assert statuses["loan_accepted"] == "pending"


def test_web_fire_respects_the_choice_too(client, make, enqueued):
    lena, bob = make.user("Lena"), make.user("Bob")
    preferences.choose(bob, "loan_started", "never")
    db.session.commit()
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    client.log_in(lena)
    fire(client, loan, "accept")
    fire(client, loan, "hand_over", due_date="2099-01-01")
    rows = {
        (n.notifier, n.recipient_email): n.status
        for n in db.session.scalars(db.select(Notification))
    }
    assert rows[("loan_started", bob.email)] == "skipped"
    assert rows[("loan_started", lena.email)] == "pending"


@pytest.mark.parametrize(
    ("choice", "suppressed", "status"),
    [
        (None, False, "pending"),
        (preferences.DAILY, False, "digest"),
        (preferences.NEVER, False, "skipped"),
        (None, True, "suppressed"),
        (preferences.DAILY, True, "suppressed"),
    ],
)
def test_a_row_reads_its_readers_choice_and_suppression_in_one_statement(
    app, make, choice, suppressed, status
):
    """A row is made in the request that changed something: the reader's choice and
    their address's suppression are one SELECT (a second only to load a suppression
    that applies), not one each."""
    from sqlalchemy import event

    from app.models import MailSuppression, utcnow
    from app.notifications import outbox

    bob = make.user("Bob")
    if choice:
        db.session.add(MailPreference(user_id=bob.id, notifier="loan_accepted", choice=choice))
    if suppressed:
        db.session.add(
            MailSuppression(
                address=bob.email, reason="550 gone", failures=3, suppressed_at=utcnow()
            )
        )
    db.session.commit()
    bob = db.session.get(type(bob), bob.id)  # loaded: reading him is not counted
    selects = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        row = outbox.record("loan_accepted", bob)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert row.status == status
    assert len(selects) == (2 if suppressed else 1), selects
    db.session.rollback()
