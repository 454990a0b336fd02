"""/admin/notifications: the outbox by status, with its errors; retrying failed mail
from the page; who may see it; CSRF. The other filters and the "why" column:
test_notification_filters.py."""

from __future__ import annotations

import html
import re

import pytest

from app import create_app
from app.extensions import db
from app.jobqueue import job_id
from app.models import Notification
from app.notifications import outbox
from tests.support import log_in_client, notifications

PAGES = ["/admin/", "/admin/notifications", "/admin/notifications?status=all", "/admin/rq"]
COLUMNS = (
    "id",
    "notifier",
    "recipient",
    "loan",
    "status",
    "attempts",
    "why",
    "created",
    "action",
)
ACTIONS = [
    "/admin/notifications/1/retry",
    "/admin/notifications/retry-failed",
    "/admin/rq/failed/some-job/requeue",
    "/admin/rq/failed/requeue-all",
]


def cells_of(page: str, notification_id: int) -> dict[str, str]:
    found = re.search(rf'<tr id="notification-{notification_id}">(.*?)</tr>', page, re.S)
    assert found, f"no row for notification {notification_id}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)
    texts = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
    return dict(zip(COLUMNS, texts, strict=True))


def rows_on(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="notification-(\d+)">', page)]


def flashes(page: str) -> list[tuple[str, str]]:
    return [
        (kind, html.unescape(text))
        for kind, text in re.findall(r'<p class="alert alert-(\w+)">(.*?)</p>', page, re.S)
    ]


def tab_counts(page: str) -> dict[str, int]:
    found = re.findall(r'status=(\w+)"[^>]*>\w+ <span class="count">(\d+)</span>', page)
    return {name: int(n) for name, n in found}


def follow(client, response) -> str:
    assert response.status_code == 302, response.status_code
    return client.page(response.headers["Location"])


# -- what an admin sees ---------------------------------------------------------------


def test_failed_rows_show_their_error_and_attempts(admin, failed, sent):
    loan_mail, welcome = failed(2)
    delivered_row = sent()
    page = admin.page("/admin/notifications")  # failed, by default
    assert rows_on(page) == [welcome.id, loan_mail.id]  # newest first
    row = cells_of(page, loan_mail.id)
    assert row["notifier"] == "Loan accepted loan_accepted"
    assert row["recipient"] == loan_mail.recipient_email
    assert row["loan"] == f"#{loan_mail.loan_id} blue tent"
    assert (row["status"], row["attempts"]) == ("failed", "1")
    assert "550" in row["why"] and "No such user" in row["why"]
    assert row["why"].endswith(loan_mail.last_error)  # the server's words, as recorded
    assert row["action"] == "Retry"
    assert cells_of(page, welcome.id)["loan"] == "—"
    assert delivered_row.id not in rows_on(page)
    assert tab_counts(page) == {
        "failed": 2, "pending": 0, "sent": 1, "skipped": 0, "suppressed": 0, "digest": 0,
        "all": 3,
    }  # fmt: skip
    assert "Retry all failed (2)" in page


def test_status_tabs(admin, failed, sent, make):
    [failed_row] = failed(1)
    sent_row = sent()
    outbox.record("welcome", make.user("Eve"))
    db.session.commit()
    [pending_row] = [n for n in notifications() if n.status == "pending"]
    assert rows_on(admin.page("/admin/notifications?status=sent")) == [sent_row.id]
    assert rows_on(admin.page("/admin/notifications?status=pending")) == [pending_row.id]
    assert rows_on(admin.page("/admin/notifications?status=failed")) == [failed_row.id]
    everything = admin.page("/admin/notifications?status=all")
    assert rows_on(everything) == [pending_row.id, sent_row.id, failed_row.id]
    assert cells_of(everything, sent_row.id)["why"].startswith("Sent at 20")
    # Nothing to retry: a fresh pending row has its job, a sent row is done.
    assert cells_of(everything, pending_row.id)["action"] == ""
    assert cells_of(everything, sent_row.id)["action"] == ""
    # An unknown status is said to be one, not quietly replaced by another.
    assert rows_on(admin.page("/admin/notifications?status=nonsense", status=400)) == []


def test_pages_of_fifty_newest_first(admin, make):
    bob = make.user("Bob")
    for _ in range(55):
        outbox.record("welcome", bob)
    db.session.commit()
    ids = sorted((n.id for n in notifications()), reverse=True)
    first = admin.page("/admin/notifications?status=pending")
    assert rows_on(first) == ids[:50]
    assert "page 1 of 2" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = admin.page("/admin/notifications?status=pending&page=2")
    assert rows_on(second) == ids[50:]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert rows_on(admin.page("/admin/notifications?status=pending&page=9")) == []
    assert rows_on(admin.page("/admin/notifications?status=pending&page=x")) == ids[:50]


def test_the_index_links_to_both_pages(admin, failed):
    failed(1)
    page = admin.page("/admin/")
    assert 'href="/admin/notifications"' in page and 'href="/admin/rq"' in page
    assert '<span class="count">1</span> failed' in page


def test_admins_see_the_admin_link_and_others_do_not(admin, browser, make):
    assert 'href="/admin/"' in admin.page("/")
    assert 'href="/admin/"' not in browser().log_in(make.user("Nora")).page("/")


# -- retrying -------------------------------------------------------------------------


def test_retry_one_puts_it_back_and_the_mail_goes_out(admin, failed, enqueued, delivered):
    loan_mail, other = failed(2)
    back = "/admin/notifications?status=failed"
    response = admin.post(f"/admin/notifications/{loan_mail.id}/retry", data={"next": back})
    assert response.headers["Location"] == back
    page = follow(admin, response)
    assert (
        "success",
        f"Notification {loan_mail.id} is pending again, with a fresh round of attempts.",
    ) in (flashes(page))
    assert rows_on(page) == [other.id]

    row = db.session.get(Notification, loan_mail.id)
    db.session.refresh(row)
    assert (row.status, row.attempts, row.not_before) == ("pending", 0, None)
    assert "No such user" in row.last_error  # kept until a delivery succeeds
    assert [job.id for job in enqueued.jobs()] == [job_id(loan_mail.id)]

    [message] = delivered.run()
    assert message["To"].addresses[0].addr_spec == loan_mail.recipient_email
    assert "blue tent" in message["Subject"]
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert db.session.get(Notification, other.id).status == "failed"


def test_retry_all_failed(admin, failed, sent, enqueued, delivered):
    rows = failed(3)
    delivered_row = sent()
    page = follow(admin, admin.post("/admin/notifications/retry-failed"))
    assert (
        "success",
        "3 failed notifications are pending again, with a fresh round of attempts.",
    ) in flashes(page)
    after = {n.id: n for n in notifications()}
    assert [(after[r.id].status, after[r.id].attempts) for r in rows] == [("pending", 0)] * 3
    assert sorted(j.id for j in enqueued.jobs()) == sorted(job_id(r.id) for r in rows)
    to = {m["To"].addresses[0].addr_spec for m in delivered.run()}
    assert to == {r.recipient_email for r in rows}
    assert {n.status for n in notifications()} == {"sent"}
    assert after[delivered_row.id].attempts == 1

    again = follow(admin, admin.post("/admin/notifications/retry-failed"))
    assert ("info", "No failed notifications to retry.") in flashes(again)
    assert "Retry all failed" not in again


def test_retrying_a_sent_row_is_refused(admin, sent, enqueued):
    row = sent()
    page = follow(admin, admin.post(f"/admin/notifications/{row.id}/retry"))
    assert ("error", f"Notification {row.id} was already sent; it is not retried.") in (
        flashes(page)
    )
    assert db.session.get(Notification, row.id).status == "sent"
    assert enqueued.jobs() == []


def test_retrying_an_unknown_row_says_so(admin):
    page = follow(admin, admin.post("/admin/notifications/999/retry"))
    assert ("error", "There is no notification 999.") in flashes(page)


def test_a_stuck_pending_row_can_be_enqueued_again(app, admin, make, redis, enqueued):
    """Its job is gone (Redis restarted empty) and the relay has not run yet."""
    app.config["NOTIFICATION_RELAY_GRACE"] = 0
    outbox.record("welcome", make.user("Bob"))
    db.session.commit()
    [row] = notifications()
    redis.delete(f"rq:job:{job_id(row.id)}", "rq:queue:mail")
    page = admin.page("/admin/notifications?status=pending")
    assert cells_of(page, row.id)["action"] == "Enqueue again"
    page = follow(admin, admin.post(f"/admin/notifications/{row.id}/retry"))
    assert ("success", f"Notification {row.id} was stuck pending; its job is queued again.") in (
        flashes(page)
    )
    assert [job.id for job in enqueued.jobs()] == [job_id(row.id)]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "/admin/\r\nSet-Cookie: x=1",  # answered 500 (a newline in a header) before
        "/admin/%0d%0aX: 1",
        "/admin/../\\evil.example",
        "//admin/evil.example",
    ],
)
def test_going_back_only_goes_to_admin_pages(admin, failed, target):
    [row] = failed(1)
    response = admin.post(f"/admin/notifications/{row.id}/retry", data={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/notifications"


# -- who may --------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_log_in(browser, path):
    response = browser().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=%2Fadmin%2F")


@pytest.mark.parametrize("path", ACTIONS)
def test_anonymous_posts_are_sent_to_log_in(browser, failed, path):
    [row] = failed(1)
    response = browser().post(path.replace("/1/", f"/{row.id}/"))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert db.session.get(Notification, row.id).status == "failed"


@pytest.mark.parametrize("path", PAGES)
def test_people_who_are_not_admins_get_403(browser, make, path):
    response = browser().log_in(make.user("Nora")).get(path)
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ACTIONS)
def test_people_who_are_not_admins_cannot_retry(browser, make, failed, path):
    [row] = failed(1)
    nora = browser().log_in(make.user("Nora"))
    assert nora.post(path.replace("/1/", f"/{row.id}/")).status_code == 403
    assert db.session.get(Notification, row.id).status == "failed"


def test_posts_need_a_csrf_token(settings, admin_user, failed):
    [row] = failed(1)
    settings["WTF_CSRF_ENABLED"] = True
    protected = create_app(settings)
    try:
        with protected.app_context():
            client = protected.test_client()
            log_in_client(client, admin_user)
            refused = client.post(f"/admin/notifications/{row.id}/retry")
            assert refused.status_code == 400
            assert "This form has expired" in refused.get_data(as_text=True)
            assert client.post("/admin/notifications/retry-failed").status_code == 400
            assert client.post("/admin/rq/failed/requeue-all").status_code == 400
            assert db.session.get(Notification, row.id).status == "failed"

            page = client.get("/admin/notifications").get_data(as_text=True)
            token = page.split('name="csrf_token" value="')[1].split('"')[0]
            accepted = client.post(
                f"/admin/notifications/{row.id}/retry", data={"csrf_token": token}
            )
            assert accepted.status_code == 302
            db.session.expire_all()
            assert db.session.get(Notification, row.id).status == "pending"
    finally:
        with protected.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
