"""Mail that failed is visible to the people it concerns: the loan page says, in plain
words, that the other person was not told and why, and offers to try again or, for a
request or offer nobody has answered, to send it to another address."""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.lending import service as lending
from app.models import Loan, Notification
from app.notifications.failures import explain
from tests.web.conftest import alert, field_error


def statuses() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    rows = db.session.scalars(db.select(Notification).order_by(Notification.id))
    return [(n.notifier, n.recipient_email, n.status) for n in rows]


@pytest.fixture
def bounced(make, mail_server, delivered):
    """Lena offered her ladder to a mistyped address; its server refused the mail."""
    lena = make.user("Lena")
    loan = lending.create_loan(lena, "lender", "kim@exmaple.com", "ladder")
    mail_server.fail_always("550 5.1.1 <kim@exmaple.com>: No such mailbox")
    delivered.run()
    mail_server.reset_faults()
    assert statuses()[-1][2] == "failed"
    return lena, loan


def test_the_loan_page_says_who_was_not_told_and_why(client, bounced):
    lena, loan = bounced
    client.log_in(lena)
    html = client.page(f"/loans/{loan.id}")
    problem = html.split('class="card problem"')[1].split("</section>")[0]
    text = " ".join(re.sub(r"<[^>]+>", " ", problem).split())
    assert "kim@exmaple.com was not told" in text
    assert "kim@exmaple.com’s mail server says this address does not exist" in text
    assert "550 5.1.1 &lt;kim@exmaple.com&gt;: No such mailbox" in problem
    assert "Try again" in text and "Send it there" in text


def test_try_again(client, bounced, delivered):
    lena, loan = bounced
    client.log_in(lena)
    [failed] = [n for n in loan.notifications if n.status == "failed"]
    response = client.post(f"/loans/{loan.id}/mail/{failed.id}/retry")
    assert response.headers["Location"] == f"/loans/{loan.id}"
    assert [m["To"] for m in delivered.run()] == ["kim@exmaple.com"]
    assert 'class="card problem"' not in client.page(f"/loans/{loan.id}")


def test_send_it_to_another_address(client, bounced, delivered):
    lena, loan = bounced
    client.log_in(lena)
    version = db.session.get(Loan, loan.id).version
    typo = client.post(
        f"/loans/{loan.id}/counterparty",
        data={"counterparty_email": "kim@exmaple.com", "version": version},
    )
    assert typo.status_code == 400
    assert "already" in field_error(typo.get_data(as_text=True), "counterparty_email")

    response = client.post(
        f"/loans/{loan.id}/counterparty",
        data={"counterparty_email": "kim@example.com", "version": version},
    )
    assert response.headers["Location"] == f"/loans/{loan.id}"
    page = client.page(f"/loans/{loan.id}")
    assert "Sent to kim@example.com instead." in page
    assert "sent it to another address" in page
    [invitation] = delivered.run()
    assert invitation["To"] == "kim@example.com"
    assert invitation["Subject"] == "Lena invited you to Mooch about the ladder"
    assert db.session.get(Loan, loan.id).borrower.email == "kim@example.com"
    assert 'class="card problem"' not in client.page(f"/loans/{loan.id}")


def test_only_the_one_who_asked_may_send_it_elsewhere_and_only_before_an_answer(
    client, make, enqueued
):
    lena, bram = make.user("Lena"), make.user("Bram")
    offered = make.loan(lena, bram, state="offered")
    client.log_in(bram)
    refused = client.post(
        f"/loans/{offered.id}/counterparty",
        data={"counterparty_email": "x@example.com", "version": offered.version},
    )
    assert refused.status_code == 403
    agreed = make.loan(lena, bram, state="agreed")
    client.log_in(lena)
    refused = client.post(
        f"/loans/{agreed.id}/counterparty",
        data={"counterparty_email": "x@example.com", "version": agreed.version},
    )
    assert refused.status_code == 403
    assert "until the other person answers" in alert(refused.get_data(as_text=True))
    assert enqueued.notifications() == []


def test_someone_elses_loan_or_mail_is_not_found(client, make, bounced):
    _, loan = bounced
    [failed] = [n for n in loan.notifications if n.status == "failed"]
    client.log_in(make.user("Eve"))
    assert client.post(f"/loans/{loan.id}/mail/{failed.id}/retry").status_code == 404
    assert client.post(f"/loans/{loan.id}/counterparty", data={}).status_code == 404


def test_trying_again_is_capped_per_address(client, bounced, mail_server, delivered):
    lena, loan = bounced
    client.log_in(lena)
    mail_server.fail_always("550 5.1.1 No such mailbox")
    for _ in range(3):
        [failed] = [n for n in db.session.get(Loan, loan.id).notifications if n.status == "failed"]
        client.post(f"/loans/{loan.id}/mail/{failed.id}/retry")
        delivered.run()
    refused = client.post(f"/loans/{loan.id}/mail/{failed.id}/retry")
    assert refused.status_code == 429
    assert "several times in the last hour" in alert(refused.get_data(as_text=True))


def test_the_api_shows_the_failure_too(api, bounced):
    lena, loan = bounced
    [mail] = api.get(f"/loans/{loan.id}", as_=lena).json["notifications"]
    assert mail["status"] == "failed"
    assert mail["problem"] == "kim@exmaple.com’s mail server says this address does not exist"


@pytest.mark.parametrize(
    ("error", "reason", "said"),
    [
        (
            "SMTPRecipientsRefused: {'a@b.example': (550, b'5.1.1 No such user')}",
            "Ana’s mail server says this address does not exist",
            "550 5.1.1 No such user",
        ),
        (
            "SMTPDataError: (552, b'5.2.2 Mailbox full')",
            "Ana’s mailbox is full or unavailable",
            "552 5.2.2 Mailbox full",
        ),
        (
            "SMTPDataError: (554, b'5.7.1 Message rejected as spam')",
            "Ana’s mail server refused our message",
            "554 5.7.1 Message rejected as spam",
        ),
        (
            "SMTPDataError: (500, b'Line too long')",
            "Ana’s mail server would not take our message",
            "500 Line too long",
        ),
        (
            "PermanentFailure: could not build the message: ...",
            "we could not send to Ana’s address as it is written",
            None,
        ),
        (None, "we could not deliver our message to Ana", None),
    ],
)
def test_failures_in_plain_words(error, reason, said):
    failure = explain(error, "Ana")
    assert (failure.reason, failure.server_said) == (reason, said)
