"""A person whose address Mooch stopped emailing lifts it by confirming the address
again (issue 12, part 4): the account page says why and since when, its button mails
a link that reaches the suppressed address, and the link's button lets mail through
again, the count of refusals started afresh."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.lending import service as lending
from app.models import AuditEvent, MailSuppression, Notification, utcnow
from app.notifications import outbox, suppression
from tests.support import action_link, notifications, text_of
from tests.web.conftest import alert, unescape

REFUSED = "550 5.1.1 No such user"


def section(html: str) -> str:
    """The account page's section about the person's own address, as text."""
    found = re.search(r'<section class="card problem" id="address".*?</section>', html, re.S)
    assert found, "no section about the address"
    return unescape(re.sub(r"<[^>]+>", " ", found.group(0)))


def bounce_twice(person, mail_server, delivered) -> None:
    """Two mails to `person` refused for good by their server: suppressed."""
    for _ in range(2):
        mail_server.fail_next(1, REFUSED)
        outbox.record("welcome", person)
        db.session.commit()
        assert delivered.run() == []
    assert suppression.suppressed(person.email) is not None


def flashes(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html.split('class="flashes"', 1)[-1][:600]))


def test_an_address_that_gets_mail_has_no_such_section(client, make):
    html = client.log_in(make.user("Lena")).page("/account")
    assert 'id="address"' not in html
    response = client.post("/account/address")
    assert response.status_code == 400
    assert "Mooch already emails your address" in alert(response.get_data(as_text=True))


def test_the_account_page_says_why_and_since_when(client, make, mail_server, delivered):
    lena = make.user("Lena")
    bounce_twice(lena, mail_server, delivered)
    since = suppression.suppressed(lena.email).suppressed_at
    text = section(client.log_in(lena).page("/account"))
    assert "Mooch has stopped emailing you" in text
    assert f"Our mail to {lena.email} bounced: its mail server refused it for good." in text
    assert "Mooch has sent it nothing since " + since.strftime("%-d %b %Y, %H:%M") + " UTC" in text
    assert f"The server said: {REFUSED}" in text
    assert "Email me a link to confirm my address" in text


def test_a_complaint_is_told_as_one(client, make):
    lena = make.user("Lena")
    suppression.report(lena.email, "Postmark: Spam complaint", complaint=True)
    text = section(client.log_in(lena).page("/account"))
    assert f"Our mail to {lena.email} was marked as spam, so Mooch has sent it nothing" in text
    assert "bounced" not in text and "The server said" not in text


def test_confirming_the_address_lifts_it_end_to_end(
    client, browser, make, mail_server, delivered, caplog
):
    lena, bram = make.user("Lena"), make.user("Bram")
    bounce_twice(lena, mail_server, delivered)
    client.log_in(lena)

    response = client.post("/account/address")
    assert (response.status_code, response.headers["Location"]) == (302, "/account#address")
    assert f"We emailed a link to {lena.email}" in flashes(client.page("/account"))
    # The one mail that reaches a suppressed address, sent for real.
    [message] = delivered.run()
    assert lena.email in message["To"]
    assert message["Subject"] == "Confirm that Mooch may email you again"
    assert "List-Unsubscribe" not in message  # essential mail
    assert "bounced or was marked as spam" in text_of(message)
    [row] = [n for n in notifications() if n.notifier == "address_confirmation"]
    assert row.status == "sent"
    link = action_link(message)
    assert link.startswith("https://mooch.test/account/address/")
    path = link.removeprefix("https://mooch.test")

    # Opening the link changes nothing (mail scanners open links); its button does,
    # without a login: reading the mailbox is the proof.
    stranger = browser()
    html = stranger.page(path)
    assert "Get our mail again?" in html and lena.email in html
    assert suppression.suppressed(lena.email) is not None
    with caplog.at_level(logging.INFO, logger="app.accounts"):
        response = stranger.post(path)
    assert (response.status_code, response.headers["Location"]) == (302, "/login")
    assert f"Thank you: Mooch emails {lena.email} again." in flashes(stranger.page("/login"))
    assert suppression.suppressed(lena.email) is None
    assert db.session.get(MailSuppression, lena.email) is None  # the count starts afresh
    assert "suppression lifted by its owner" in caplog.text
    assert lena.email not in caplog.text  # the log names the account, not the address
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.user_id == lena.id)).all()
    assert [a.event for a in audit] == ["request_address_confirmation", "confirm_address"]
    assert 'id="address"' not in client.page("/account")

    # Mail flows again: Bram's offer reaches her.
    lending.create_loan(bram, "lender", lena.email, "tent")
    [offer] = delivered.run()
    assert lena.email in offer["To"]

    # A new refusal counts from one again: one is not enough to stop her mail.
    mail_server.fail_next(1, REFUSED)
    outbox.record("welcome", lena)
    db.session.commit()
    delivered.run()
    db.session.expire_all()
    entry = db.session.get(MailSuppression, lena.email)
    assert (entry.failures, entry.suppressed_at) == (1, None)

    # The link again: nothing left to lift.
    response = stranger.post(path)
    assert response.status_code == 302
    assert f"Mooch already emails {lena.email}." in flashes(stranger.page("/login"))


def test_following_the_link_logged_in_goes_back_to_the_account(client, make, delivered):
    lena = make.user("Lena")
    suppression.report(lena.email, "Amazon SES: permanent bounce (General)")
    client.log_in(lena).post("/account/address")
    [message] = delivered.run()
    path = action_link(message).removeprefix("https://mooch.test")
    response = client.post(path)
    assert (response.status_code, response.headers["Location"]) == (302, "/account#address")
    assert suppression.suppressed(lena.email) is None


def test_a_link_sent_before_the_address_failed_again_lifts_nothing(
    client, browser, make, delivered
):
    lena = make.user("Lena")
    suppression.report(lena.email, "Postmark: Hard bounce")
    client.log_in(lena).post("/account/address")
    [message] = delivered.run()
    path = action_link(message).removeprefix("https://mooch.test")
    # An admin lifted it, and mail to it failed for good again after the link went.
    suppression.lift(lena.email)
    suppression.report(lena.email, "Postmark: Hard bounce")
    entry = db.session.get(MailSuppression, lena.email)
    entry.suppressed_at = utcnow() + timedelta(minutes=1)
    db.session.commit()
    stranger = browser()
    for response in (stranger.get(path), stranger.post(path)):
        assert response.status_code == 400
        assert "failed again after this link was sent" in alert(response.get_data(as_text=True))
    assert suppression.suppressed(lena.email) is not None


def test_a_link_that_is_not_ours_or_not_for_this_does_nothing(client, make):
    from app.accounts.tokens import make_token

    lena = make.user("Lena")
    suppression.report(lena.email, "Postmark: Hard bounce")
    for token in ("not-a-token", make_token("reset", lena), make_token("confirm", lena)):
        response = client.post(f"/account/address/{token}")
        assert response.status_code == 400
    closed = make.user("Cleo", state="closed")
    suppression.report(closed.email, "Postmark: Hard bounce")
    response = client.get(f"/account/address/{make_token('reconfirm', closed)}")
    assert response.status_code == 400
    assert "This link is not valid." in alert(response.get_data(as_text=True))
    assert suppression.suppressed(lena.email) is not None


def test_asking_for_the_link_is_limited_per_address(app, client, make, enqueued):
    app.config["RATELIMIT_MAIL_PER_ADDRESS"] = "2 per hour"
    lena = make.user("Lena")
    suppression.report(lena.email, "Postmark: Hard bounce")
    client.log_in(lena)
    for _ in range(2):
        assert client.post("/account/address").status_code == 302
    response = client.post("/account/address")
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    html = response.get_data(as_text=True)
    assert "We have already emailed this address several times" in section(html)
    sent = [n for n in enqueued.notifications() if n.notifier == "address_confirmation"]
    assert [n.status for n in sent] == ["pending", "pending"]


def test_the_request_is_recorded_pending_in_both_test_modes(client, make, enqueued):
    lena = make.user("Lena")
    suppression.report(lena.email, "Postmark: Spam complaint", complaint=True)
    client.log_in(lena).post("/account/address")
    [row] = db.session.scalars(select(Notification)).all()
    assert (row.notifier, row.status, row.last_error) == ("address_confirmation", "pending", None)
    assert enqueued.job_ids() == [f"notification-{row.id}"]
    # Any other mail to her is still suppressed, as a complaint.
    outbox.record("welcome", lena)
    db.session.commit()
    welcome = db.session.scalar(select(Notification).where(Notification.notifier == "welcome"))
    assert welcome.status == "suppressed"
    assert welcome.last_error.startswith(suppression.COMPLAINED)


def test_the_loan_page_sends_the_person_to_fix_their_own_address(client, make):
    lena, bram = make.user("Lena"), make.user("Bram")
    suppression.report(bram.email, "Postmark: Hard bounce")
    loan = make.loan(lena, bram, state="requested")
    lending.fire_event(lena, loan.id, "accept")
    html = client.log_in(bram).page(f"/loans/{loan.id}")
    assert "not emailed: your address bounced (" in unescape(html)
    assert 'href="/account#address">get our mail again</a>' in html
