"""/admin/suppressions tells a bounce from a complaint, whoever reported it: the SMTP
server at send time, or the mail provider's webhook."""

from __future__ import annotations

import re

from app.notifications import suppression


def row_of(page: str, address: str) -> str:
    found = re.search(
        rf"<tr>\s*<td class=\"address\">{re.escape(address)}</td>(.*?)</tr>", page, re.S
    )
    assert found, address
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_bounces_and_complaints_are_worded_apart(admin):
    for _ in range(2):
        suppression.record_bounce(
            "gone@example.com",
            "SMTPRecipientsRefused: {'gone@example.com': (550, b'5.1.1 No such user')}",
        )
    suppression.report(
        "jane@example.com", "Amazon SES: permanent bounce (General): smtp; 550 5.1.1"
    )
    suppression.report(
        "richard@example.com",
        "Amazon SES: complaint (feedback type abuse), reported by AnyCompany Feedback Loop (V0.01)",
        complaint=True,
    )
    page = admin.page("/admin/suppressions")
    assert "<h1>Suppressed addresses</h1>" in page
    assert row_of(page, "gone@example.com").startswith("Bounced (refused 2 times)")
    assert "550 5.1.1 No such user" in row_of(page, "gone@example.com")
    assert row_of(page, "jane@example.com").startswith("Bounced (refused 1 time)")
    complaint = row_of(page, "richard@example.com")
    assert complaint.startswith("Marked our mail as spam")
    assert "AnyCompany Feedback Loop" in complaint and "complaint:" not in complaint
    assert "Bounced" not in complaint
