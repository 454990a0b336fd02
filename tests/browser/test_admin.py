"""An admin, in a browser, finds mail the SMTP server refused, retries it once the
server takes mail again, and sees the live worker on /admin/rq. The real worker
process of `live_server` delivers; the SMTP server is the test's aiosmtpd."""

from __future__ import annotations

import re
import socket

import pytest
from playwright.sync_api import expect

from app.accounts import service as accounts
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
    page.goto("/login")
    page.get_by_label("Email address").fill("root@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
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
