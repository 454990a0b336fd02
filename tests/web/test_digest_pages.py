"""The daily digest on the pages (issue 12, parts 1 and 3): the account page's third
choice, saved and applied when the row is made (in both mail modes); the loan page
and the admin page saying where a held mail stands ("in Bram’s daily digest", then
"emailed in Bram’s daily digest of Thu 15 Jan"); the digest's unsubscribe page."""

from __future__ import annotations

import html as html_lib
import re
from datetime import date, datetime, time

from app.extensions import db
from app.lending import service as lending
from app.models import Notification
from app.notifications import digest, outbox, preferences
from app.notifications.notifiers import DIGEST, OPTIONAL
from tests.web.test_loans import reload

DAY = date(2026, 1, 14)
MORNING = datetime.combine(DAY, time(8))  # Bram's time zone is UTC


def text(page: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def held_for(user) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            db.select(Notification)
            .where(Notification.recipient_id == user.id, Notification.status == outbox.HELD)
            .order_by(Notification.id)
        )
    )


def backdate(user) -> None:
    for row in held_for(user):
        row.created_at = datetime.combine(DAY, time(6))
    db.session.commit()


def test_the_account_page_offers_a_daily_digest_for_every_optional_mail(client, make):
    html = client.log_in(make.user("Bram")).page("/account")
    section = html.split('id="mail"')[1].split("</section>")[0]
    for name in OPTIONAL:
        assert f'name="choice-{name}" value="digest"' in section
    assert section.count("In a daily digest") == len(OPTIONAL)
    assert "one email each morning, at 08:00 your time (UTC)" in text(section)


def test_choosing_the_digest_holds_the_mail_with_no_job(client, make, enqueued):
    lena, bram = make.user("Lena"), make.user("Bram")
    client.log_in(bram)
    response = client.post(
        "/account/mail", data={"choice-loan_accepted": "digest", "choice-loan_closed": "never"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/account#mail"
    page = client.page("/account")
    assert 'name="choice-loan_accepted" value="digest" checked' in page
    assert preferences.choices_for(bram)["loan_accepted"] == "digest"

    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    [row] = [n for n in reload(loan).notifications if n.notifier == "loan_accepted"]
    assert (row.status, row.last_error, row.digest_id) == ("digest", None, None)
    assert f"notification-{row.id}" not in enqueued.job_ids()


def test_choosing_the_digest_sends_nothing_at_once(client, make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")
    client.log_in(bram).post("/account/mail", data={"choice-loan_accepted": "digest"})
    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    assert [m["To"].addresses[0].addr_spec for m in delivered.run()] == [lena.email]
    lending.fire_event(lena, loan.id, "accept")
    assert delivered.run() == []  # the worker had nothing to drop: no job was made


def test_the_loan_page_says_where_a_held_mail_stands(browser, make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")
    preferences.choose(bram, "loan_accepted", preferences.DAILY)
    db.session.commit()
    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    delivered.run()
    hers, his = browser().log_in(lena), browser().log_in(bram)

    def timeline(who) -> str:
        return text(who.page(f"/loans/{loan.id}").split('id="history"')[1])

    assert "Loan accepted to Bram daily digest in Bram’s daily digest" in timeline(hers)
    assert "Loan accepted to Bram daily digest in your daily digest" in timeline(his)

    backdate(bram)
    assert digest.build_digests(MORNING) == 1
    assert "in Bram’s daily digest of Wed 14 Jan, on its way" in timeline(hers)
    assert len(delivered.run()) == 1
    assert "emailed in Bram’s daily digest of Wed 14 Jan" in timeline(hers)
    assert "emailed in your daily digest of Wed 14 Jan" in timeline(his)


def test_the_initiator_cannot_tell_an_account_by_its_digest(browser, make, enqueued):
    """Until the counterparty answers, the one who asked must not learn that the
    address has an account: a mail held for its digest reads as queued."""
    lena, bram = make.user("Lena"), make.user("Bram")
    preferences.choose(lena, "loan_cancelled", preferences.DAILY)
    db.session.commit()
    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    lending.fire_event(bram, loan.id, "cancel")
    [row] = [n for n in reload(loan).notifications if n.notifier == "loan_cancelled"]
    assert row.status == "digest"
    page = text(browser().log_in(bram).page(f"/loans/{loan.id}"))
    assert f"Loan cancelled to {lena.email} queued" in page
    assert "digest" not in page


def test_the_admin_page_filters_and_explains_held_mail(browser, make, delivered):
    ada = make.user("Ada")
    ada.is_admin = True
    lena, bram = make.user("Lena"), make.user("Bram")
    preferences.choose(bram, "loan_accepted", preferences.DAILY)
    db.session.commit()
    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    delivered.run()
    [row] = held_for(bram)
    admin = browser().log_in(ada)

    page = admin.page("/admin/notifications?status=digest")
    assert '<option value="digest" selected>Digest</option>' in page
    assert re.findall(r'<tr id="notification-(\d+)"', page) == [str(row.id)]
    why = text(page.split(f'id="notification-{row.id}"')[1].split("</tr>")[0])
    assert "held for Bram’s daily digest" in why

    backdate(bram)
    assert digest.build_digests(MORNING) == 1
    delivered.run()
    [built] = db.session.scalars(db.select(Notification).where(Notification.notifier == DIGEST))
    page = admin.page("/admin/notifications?status=digest")
    why = text(page.split(f'id="notification-{row.id}"')[1].split("</tr>")[0])
    assert f"Emailed in Bram’s daily digest of 2026-01-14 (notification {built.id}) at " in why
    page = admin.page(f"/admin/notifications?status=sent&notifier={DIGEST}")
    why = text(page.split(f'id="notification-{built.id}"')[1].split("</tr>")[0])
    assert "The daily digest of 2026-01-14. Sent at " in why


def test_the_digest_unsubscribe_page_asks_first(client, make):
    bram = make.user("Bram")
    for name in ("loan_accepted", "loan_closed"):
        preferences.choose(bram, name, preferences.DAILY)
    db.session.commit()
    path = preferences.unsubscribe_path(bram.id, DIGEST)
    page = text(client.page(path))
    assert "Stop these emails?" in page and "Stop my daily digest" in page
    assert OPTIONAL["loan_accepted"].lower() in page and OPTIONAL["loan_closed"].lower() in page
    assert preferences.choices_for(bram)["loan_accepted"] == "digest"  # a GET changes nothing
    for _ in range(2):  # idempotent, and no login or CSRF token needed
        response = client.post(path)
        assert response.status_code == 200
        assert "We will no longer send you a daily digest" in response.get_data(as_text=True)
    choices = preferences.choices_for(bram)
    assert (choices["loan_accepted"], choices["loan_closed"]) == ("never", "never")
    assert choices["loan_started"] == "immediately"


def test_the_initiator_cannot_tell_an_account_by_mail_it_turned_off(browser, make, enqueued):
    """The same for a mail its reader turned off (only an account can): to the one who
    asked, before the answer, it reads as sent, as it would to an address with no
    account; the reader's own page says what happened."""
    lena, bram = make.user("Lena"), make.user("Bram")
    preferences.choose(lena, "loan_cancelled", preferences.NEVER)
    db.session.commit()
    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    lending.fire_event(bram, loan.id, "cancel")
    [row] = [n for n in reload(loan).notifications if n.notifier == "loan_cancelled"]
    assert (row.status, row.last_error) == ("skipped", preferences.TURNED_OFF)
    page = text(browser().log_in(bram).page(f"/loans/{loan.id}"))
    assert f"Loan cancelled to {lena.email} sent" in page
    assert "turned" not in page and "skipped" not in page.lower()
    assert "not emailed: you turned these off" in text(
        browser().log_in(lena).page(f"/loans/{loan.id}")
    )
