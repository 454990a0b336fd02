"""An admin, in a browser, finds mail the SMTP server refused, retries it once the
server takes mail again, and sees the live worker on /admin/rq. The real worker
process of `live_server` delivers; the SMTP server is the test's aiosmtpd."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from app.accounts import service as accounts
from app.extensions import db
from app.models import Notification, utcnow
from tests.browser.conftest import log_in
from tests.browser.test_loans import shot
from tests.processes import one_row, wait_until

pytestmark = pytest.mark.browser

PASSWORD = "a long enough password"


def test_an_admin_retries_refused_mail_from_the_page(
    app, live_server, new_page, mail_server, screenshots
):
    accounts.create_admin("root@example.com", PASSWORD, "Root")
    mail_server.fail_always("550 5.1.1 No such mailbox")
    accounts.sign_up("ghost@example.com", "Ghost")
    wait_until(
        lambda: one_row().status == "failed",
        "the worker to record the refusal",
        details=live_server.workers.tails,
    )
    row = one_row()

    page = new_page()
    log_in(page, "root@example.com", PASSWORD)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name=re.compile("Notifications")).first.click()

    line = page.locator(f"#notification-{row.id}")
    expect(line).to_contain_text("ghost@example.com")
    expect(line).to_contain_text("failed")
    expect(line).to_contain_text("550")
    shot(page, screenshots, "admin-notifications")

    mail_server.reset_faults()
    line.get_by_role("button", name="Retry").click()
    expect(page.locator(".flashes")).to_contain_text("pending again")
    wait_until(
        lambda: len(mail_server.messages) == 1 and one_row().status == "sent",
        "the retried mail to be delivered",
        details=live_server.workers.tails,
    )
    page.goto("/admin/notifications?status=sent")
    expect(page.locator(f"#notification-{row.id}")).to_contain_text("sent")

    page.goto("/admin/rq")
    expect(page.get_by_role("heading", name=re.compile("Workers"))).to_contain_text("1")
    expect(page.locator("main")).to_contain_text(socket.gethostname())
    shot(page, screenshots, "admin-rq")


def login_as_admin(page) -> None:
    log_in(page, "root@example.com", PASSWORD)
    expect(page.get_by_role("link", name="Admin")).to_be_visible()


def test_an_admin_filters_the_outbox(app, live_server, new_page, make, screenshots):
    """The filter form makes a URL; each row says why it was or was not sent."""
    accounts.create_admin("root@example.com", PASSWORD, "Root")
    ana = make.user("Ana", email="ana.lima@example.com")
    bo = make.user("Bo", email="bo@example.org")
    loan = make.loan(ana, bo, item="blue tent")
    now = utcnow()
    refused = "SMTPRecipientsRefused: {'ana.lima@example.com': (550, b'5.1.1 No such mailbox')}"
    scene = [
        ("loan_accepted", ana, "failed", 1, refused, None, None),
        ("loan_started", ana, "sent", 2, None, now - timedelta(minutes=3), None),
        ("loan_closed", ana, "skipped", 0, "mail to this person is turned off", None, None),
        ("loan_due_soon", ana, "pending", 2, "SMTPServerDisconnected: Connection unexpectedly "
         "closed", None, now + timedelta(minutes=4)),
        ("welcome", bo, "sent", 1, None, now, None),
    ]  # fmt: skip
    for notifier, who, status, attempts, error, sent_at, not_before in scene:
        db.session.add(
            Notification(
                notifier=notifier,
                recipient=who,
                recipient_email=who.email,
                loan=loan if notifier != "welcome" else None,
                status=status,
                attempts=attempts,
                last_error=error,
                sent_at=sent_at,
                not_before=not_before,
            )
        )
    db.session.commit()

    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    login_as_admin(page)
    page.goto("/admin/notifications")
    form = page.get_by_role("search", name="Filter notifications")
    form.get_by_label("Status").select_option("all")
    form.get_by_label("Address contains").fill("ANA.LIMA")
    form.get_by_label("Created from").fill(now.date().isoformat())
    form.get_by_label("Created to").fill(now.date().isoformat())
    form.get_by_role("button", name="Filter").click()

    expect(page.locator("tbody tr")).to_have_count(4)
    query = parse_qs(urlsplit(page.url).query)
    assert query["status"] == ["all"] and query["address"] == ["ANA.LIMA"]
    table = page.locator("table.admin-table")
    expect(table).to_contain_text("mail server says this address does not exist")
    expect(table).to_contain_text("Retrying at")
    expect(table).to_contain_text("mail to this person is turned off")
    expect(table).not_to_contain_text("bo@example.org")
    shot(page, screenshots, "admin-notifications-filtered")

    page.goto("/admin/notifications?status=all&from=2024-05-09&to=2024-05-01")
    expect(page.get_by_role("alert")).to_contain_text("before the “from” date")
    expect(page.get_by_label("Created to")).to_have_value("2024-05-01")
    shot(page, screenshots, "admin-notifications-bad-filter")
