"""/admin/notifications filtered by status, notifier, address and date (a GET form,
so a filtered view is a URL), and the "why" each row gives for being, or not being,
sent. The scene is Notification rows written directly."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlalchemy import event

from app.admin import filters as admin_filters
from app.admin.why import why
from app.extensions import db
from app.models import Notification, User
from app.notifications import outbox
from tests.admin.test_notifications_page import cells_of, rows_on, tab_counts

JOB_QUEUE = "memory"  # pending rows are enqueued on the in-memory queue

NOW = datetime(2024, 5, 10, 12, 0, 0)
GRACE = timedelta(seconds=60)
REFUSAL = "SMTPRecipientsRefused: {'bo@example.com': (550, b'5.1.1 No such mailbox')}"


@pytest.fixture
def person(make) -> User:
    return make.user("Bo", email="bo@example.com")


@pytest.fixture
def add(person):
    """`add(**columns)`: a Notification row, committed (welcome to Bo, failed, by default)."""

    def add_row(**columns) -> Notification:
        values = {
            "notifier": "welcome",
            "recipient": person,
            "recipient_email": person.email,
            "status": outbox.FAILED,
            "attempts": 1,
            "last_error": REFUSAL,
        }
        values.update(columns)
        row = Notification(**values)
        db.session.add(row)
        db.session.commit()
        return row

    return add_row


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def alert(page: str) -> str:
    found = re.search(r'<div class="alert alert-error" role="alert">(.*?)</div>', page, re.S)
    assert found, "no error message"
    return text_of(found.group(1))


def field(page: str, name: str) -> str:
    """The value the form shows for `name`: an input's value or the selected option's."""
    tag = re.search(rf'<input [^>]*name="{name}"[^>]*>', page)
    if tag:
        return html.unescape(re.search(r'value="([^"]*)"', tag.group(0)).group(1))
    select = re.search(rf'<select [^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no field {name}"
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(1))
    return html.unescape(chosen.group(1)) if chosen else ""


def link(page: str, rel: str) -> str:
    return html.unescape(re.search(rf'<a rel="{rel}" href="([^"]+)"', page).group(1))


# -- each filter ----------------------------------------------------------------------


def test_no_filter_shows_failed_rows_as_before(admin, add):
    failed = add()
    add(status=outbox.SENT, last_error=None, sent_at=NOW)
    page = admin.page("/admin/notifications")
    assert rows_on(page) == [failed.id]
    assert field(page, "status") == "failed"


def test_the_status_filter_offers_every_outbox_status(admin, add):
    rows = {s: add(status=s, last_error=None) for s in outbox.STATUSES}
    page = admin.page("/admin/notifications?status=all")
    assert field(page, "status") == "all"
    options = re.search(r'<select [^>]*name="status"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="(\w+)"', options) == [
        "all",
        "failed",
        *(s for s in outbox.STATUSES if s != "failed"),
    ]
    for status, row in rows.items():
        assert rows_on(admin.page(f"/admin/notifications?status={status}")) == [row.id]


def test_a_status_added_to_the_outbox_appears_by_itself(admin, add, monkeypatch):
    monkeypatch.setattr(outbox, "STATUSES", (*outbox.STATUSES, "suppressed"))
    row = add(status="suppressed", last_error="the address bounced before")
    page = admin.page("/admin/notifications?status=suppressed")
    assert '<option value="suppressed" selected>Suppressed</option>' in page
    assert rows_on(page) == [row.id]
    assert cells_of(page, row.id)["why"] == "Suppressed: the address bounced before"
    assert tab_counts(admin.page("/admin/notifications"))["suppressed"] == 1


def test_notifier_filter_with_readable_labels(admin, add, make):
    welcome = add()
    reset = add(notifier="password_reset")
    page = admin.page("/admin/notifications?notifier=password_reset")
    assert rows_on(page) == [reset.id]  # no status named: every status
    assert field(page, "notifier") == "password_reset"
    assert '<option value="password_reset" selected>Password reset</option>' in page
    assert '<option value="loan_overdue_lender">Loan overdue lender</option>' in page
    assert cells_of(page, reset.id)["notifier"] == "Password reset password_reset"
    assert rows_on(admin.page("/admin/notifications?notifier=welcome")) == [welcome.id]


def test_address_filter_is_a_substring_in_any_case(admin, add, make):
    bo = add()
    cy = add(recipient_email="Cy.Smith@Example.ORG")
    assert rows_on(admin.page("/admin/notifications?address=EXAMPLE")) == [cy.id, bo.id]
    assert rows_on(admin.page("/admin/notifications?address=smith@example.org")) == [cy.id]
    assert rows_on(admin.page("/admin/notifications?address=+bo@")) == [bo.id]  # trimmed
    assert rows_on(admin.page("/admin/notifications?address=nobody")) == []


@pytest.mark.parametrize(
    ("typed", "matches"),
    [
        ("%", ["100%real@example.com"]),
        ("_", ["a_b@example.com"]),
        ("a_b", ["a_b@example.com"]),  # not "axb"
        ("\\", ["back\\slash@example.com"]),
        ("0%R", ["100%real@example.com"]),
    ],
)
def test_like_wildcards_match_themselves(admin, add, typed, matches):
    for address in ("axb@example.com", "a_b@example.com", "100%real@example.com"):
        add(recipient_email=address)
    add(recipient_email="back\\slash@example.com")
    page = admin.page(f"/admin/notifications?address={quote(typed)}")
    shown = sorted(cells_of(page, n)["recipient"] for n in rows_on(page))
    assert shown == matches
    assert field(page, "address") == typed


def test_a_percent_sign_matches_nothing_when_no_address_has_one(admin, add):
    add()
    add(recipient_email="cy@example.org")
    assert rows_on(admin.page("/admin/notifications?address=%25")) == []
    assert rows_on(admin.page("/admin/notifications?address=_")) == []


def test_sql_in_the_address_is_only_text(admin, add):
    add()
    page = admin.page("/admin/notifications?address=' OR '1'='1")
    assert rows_on(page) == []
    assert field(page, "address") == "' OR '1'='1"


def test_date_bounds_are_inclusive_whole_days(admin, add):
    def at(stamp: str) -> Notification:
        return add(created_at=datetime.fromisoformat(stamp))

    before = at("2024-04-30 23:59:59")
    first = at("2024-05-01 00:00:00")
    late = at("2024-05-01 23:59:59")
    second = at("2024-05-02 12:00:00")
    after = at("2024-05-03 00:00:00")
    both = admin.page("/admin/notifications?from=2024-05-01&to=2024-05-02")
    assert rows_on(both) == [second.id, late.id, first.id]
    assert (field(both, "from"), field(both, "to")) == ("2024-05-01", "2024-05-02")
    one_day = "/admin/notifications?from=2024-05-01&to=2024-05-01"
    assert rows_on(admin.page(one_day)) == [late.id, first.id]
    assert rows_on(admin.page("/admin/notifications?from=2024-05-02")) == [after.id, second.id]
    assert rows_on(admin.page("/admin/notifications?to=2024-04-30")) == [before.id]


def test_filters_combined(admin, add, make):
    may = datetime(2024, 5, 1, 9)
    wanted = add(notifier="password_reset", created_at=may)
    add(notifier="password_reset", created_at=may, status=outbox.SENT, last_error=None)
    add(notifier="welcome", created_at=may)
    add(notifier="password_reset", created_at=may, recipient_email="cy@example.org")
    add(notifier="password_reset", created_at=may + timedelta(days=3))
    url = (
        "/admin/notifications?status=failed&notifier=password_reset&address=BO@"
        "&from=2024-05-01&to=2024-05-02"
    )
    page = admin.page(url)
    assert rows_on(page) == [wanted.id]
    assert "Failed notifications (“Password reset” mail, to addresses containing “BO@”, " in (
        text_of(page)
    )
    # The tabs count what the other filters let through, and keep them in their links.
    tabs = dict(re.findall(r'<a href="([^"]+)"[^>]*>(\w+) <span class="count">', page))
    sent_tab = next(href for href, name in tabs.items() if name == "Sent")
    query = parse_qs(urlsplit(html.unescape(sent_tab)).query)
    assert query == {
        "status": ["sent"],
        "notifier": ["password_reset"],
        "address": ["BO@"],
        "from": ["2024-05-01"],
        "to": ["2024-05-02"],
    }
    counts = re.findall(r'>(\w+) <span class="count">(\d+)</span>', page)
    assert dict(counts)["Sent"] == "1" and dict(counts)["Failed"] == "1"
    assert dict(counts)["All"] == "2"
    # "Retry all failed" still retries every failed row, and says how many.
    assert "Retry all failed (4)" in page


def test_an_empty_value_is_no_filter(admin, add):
    row = add()
    page = admin.page("/admin/notifications?status=&notifier=&address=&from=&to=")
    assert rows_on(page) == [row.id]


# -- bad values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name", "typed", "message"),
    [
        ("status=nonsense", "status", "nonsense", "There is no status “nonsense”"),
        ("notifier=spam", "notifier", "spam", "There is no notifier “spam”"),
        ("from=2024-13-01", "from", "2024-13-01", "“2024-13-01” is not a date"),
        ("to=2024-02-30", "to", "2024-02-30", "“2024-02-30” is not a date"),
        ("from=31/05/2024", "from", "31/05/2024", "write it as YYYY-MM-DD"),
        ("from=2024-5-1", "from", "2024-5-1", "write it as YYYY-MM-DD"),
        ("from=yesterday", "from", "yesterday", "“yesterday” is not a date"),
        (
            "from=2024-05-03&to=2024-05-01",
            "to",
            "2024-05-01",
            "The “to” date (2024-05-01) is before the “from” date (2024-05-03).",
        ),
        ("address=bo%00", "address", "bo\x00", "no control characters"),
    ],
)
def test_bad_values_are_refused_with_the_form_as_typed(admin, add, query, name, typed, message):
    add()
    response = admin.get(f"/admin/notifications?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in alert(page)
    assert field(page, name) == typed
    assert f'id="filter-{name}-error"' in page and 'aria-invalid="true"' in page
    assert rows_on(page) == []  # never everything instead
    assert "Retry all failed (1)" in page


def test_a_bad_value_keeps_the_other_values(admin, add):
    add()
    query = "status=sent&notifier=welcome&address=bo&from=2024-05-01&to=2024-02-31"
    page = admin.page(f"/admin/notifications?{query}", status=400)
    values = {name: field(page, name) for name in ("status", "notifier", "address", "from", "to")}
    assert values == {
        "status": "sent",
        "notifier": "welcome",
        "address": "bo",
        "from": "2024-05-01",
        "to": "2024-02-31",
    }
    assert 'type="text" id="filter-to"' in page  # a date input would show it blank
    assert 'type="date" id="filter-from"' in page
    # Two real dates the wrong way round stay date inputs.
    swapped = admin.page("/admin/notifications?from=2024-05-03&to=2024-05-01", status=400)
    assert 'type="date" id="filter-to"' in swapped and 'aria-invalid="true"' in swapped


def test_a_bad_page_number_is_the_first_page_as_before(admin, add):
    row = add()
    assert rows_on(admin.page("/admin/notifications?status=failed&page=x")) == [row.id]


# -- paging ---------------------------------------------------------------------------


def test_paging_keeps_the_filters(admin, add):
    wanted = [add(notifier="password_reset").id for _ in range(53)]
    add(notifier="welcome")
    add(notifier="password_reset", status=outbox.SENT, last_error=None)
    first = admin.page("/admin/notifications?status=failed&notifier=password_reset&address=bo")
    assert rows_on(first) == sorted(wanted, reverse=True)[:50]
    older = link(first, "next")
    assert parse_qs(urlsplit(older).query) == {
        "page": ["2"],
        "status": ["failed"],
        "notifier": ["password_reset"],
        "address": ["bo"],
    }
    second = admin.page(older)
    assert rows_on(second) == sorted(wanted, reverse=True)[50:]
    assert "page 2 of 2" in second
    newer = parse_qs(urlsplit(link(second, "prev")).query)
    assert newer["page"] == ["1"] and newer["notifier"] == ["password_reset"]


def test_retry_from_a_filtered_page_comes_back_to_it(admin, add):
    row = add(notifier="password_reset")
    url = "/admin/notifications?status=all&notifier=password_reset&address=bo%40"
    page = admin.page(url)
    back = html.unescape(re.search(r'name="next" value="([^"]+)"', page).group(1))
    assert back == url
    response = admin.post(f"/admin/notifications/{row.id}/retry", data={"next": back})
    assert response.status_code == 302 and response.headers["Location"] == url


def test_one_page_is_a_fixed_number_of_queries(app, admin, add, make):
    """The loans on the page are loaded with the rows: no query per row."""

    def queries_for_a_page() -> int:
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            admin.page("/admin/notifications?status=all&address=example")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    lender = make.user("Lena")
    add(loan=make.loan(lender, make.user("Bram"), item="tent"))
    few = queries_for_a_page()
    for n in range(12):
        add(loan=make.loan(lender, make.user(f"B{n}"), item=f"thing {n}"))
    assert queries_for_a_page() == few


# -- who may --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["status=failed&notifier=welcome&address=bo&from=2024-01-01", "status=nonsense"]
)
def test_only_admins_see_filtered_pages(browser, make, add, query):
    path = f"/admin/notifications?{query}"
    anonymous = browser().get(path)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/login?next=%2Fadmin%2Fnotifications")
    nora = browser().log_in(make.user("Nora")).get(path)
    assert nora.status_code == 403  # before any filter is read, a bad one included
    assert "Not allowed" in nora.get_data(as_text=True)


# -- why ------------------------------------------------------------------------------


def note(**columns) -> Notification:
    values = {
        "notifier": "welcome",
        "recipient_email": "bo@example.com",
        "status": outbox.PENDING,
        "attempts": 0,
        "last_error": None,
        "created_at": NOW - timedelta(seconds=10),
        "not_before": None,
        "sent_at": None,
    }
    values.update(columns)
    return Notification(**values)


def test_why_sent():
    row = note(status=outbox.SENT, attempts=2, sent_at=datetime(2024, 5, 10, 11, 59, 1))
    assert why(row, NOW, GRACE).text == "Sent at 2024-05-10 11:59:01 UTC, after 2 attempts."
    assert why(row, NOW, GRACE).detail is None
    assert why(note(status=outbox.SENT, attempts=1, sent_at=NOW), NOW, GRACE).text.endswith(
        "after 1 attempt."
    )


def test_why_failed_says_it_in_words_and_keeps_the_servers():
    found = why(note(status=outbox.FAILED, attempts=1, last_error=REFUSAL), NOW, GRACE)
    assert found.text == (
        "Failed after 1 attempt: bo@example.com’s mail server says this address does not "
        "exist (the server said: 550 5.1.1 No such mailbox)."
    )
    assert found.detail == REFUSAL
    built = why(
        note(status=outbox.FAILED, attempts=1, last_error="could not build the message: x"),
        NOW,
        GRACE,
    )
    assert built.text == (
        "Failed after 1 attempt: we could not send to bo@example.com’s address as it is written."
    )
    timeout = "SMTPServerDisconnected: Connection unexpectedly closed"
    given_up = why(note(status=outbox.FAILED, attempts=8, last_error=timeout), NOW, GRACE)
    assert given_up.text == (
        "Failed after 8 attempts: we could not deliver our message to bo@example.com."
    )
    assert given_up.detail == timeout


def test_why_skipped_is_the_recorded_reason():
    row = note(status=outbox.SKIPPED, last_error="the account is closed")
    found = why(row, NOW, GRACE)
    assert found.text == "Not sent, decided against when it was made: the account is closed"
    assert found.detail is None
    assert why(note(status=outbox.SKIPPED), NOW, GRACE).text.endswith("no reason was recorded")


def test_why_pending_queued():
    assert why(note(), NOW, GRACE).text == "Queued, waiting for a worker."
    old = note(created_at=NOW - timedelta(minutes=5))
    assert why(old, NOW, GRACE).text == (
        "Queued since 2024-05-10 11:55:00 UTC, longer than a job should wait: its job may be "
        "lost; enqueue it again."
    )
    # A failed row an admin put back: the old error stays until a delivery succeeds.
    retried = why(note(last_error=REFUSAL), NOW, GRACE)
    assert retried.text == (
        "Queued, waiting for a worker. The last attempt failed: bo@example.com’s mail server "
        "says this address does not exist."
    )
    assert retried.detail == REFUSAL


def test_why_pending_leased_to_a_worker():
    row = note(attempts=1, not_before=NOW + timedelta(minutes=5))
    assert why(row, NOW, GRACE).text == (
        "Being sent: leased to a worker until 2024-05-10 12:05:00 UTC (attempt 1)."
    )


def test_why_pending_retrying():
    error = "SMTPServerDisconnected: Connection unexpectedly closed"
    row = note(attempts=3, not_before=NOW + timedelta(seconds=90), last_error=error)
    found = why(row, NOW, GRACE)
    assert found.text == (
        "Retrying at 2024-05-10 12:01:30 UTC, after 3 attempts (or a worker is sending it "
        "and holds it until then). The last attempt failed: we could not deliver our message "
        "to bo@example.com."
    )
    assert found.detail == error


def test_why_pending_overdue():
    row = note(attempts=2, not_before=NOW - timedelta(minutes=1), last_error="timed out")
    assert why(row, NOW, GRACE).text.startswith(
        "Due since 2024-05-10 11:59:00 UTC, after 2 attempts, and no worker has taken it: "
        "its job may be lost; enqueue it again."
    )


def test_why_shows_on_the_page_for_each_status(admin, add):
    sent = add(status=outbox.SENT, last_error=None, sent_at=datetime(2024, 5, 1, 10))
    skipped = add(status=outbox.SKIPPED, last_error="mail to this person is turned off")
    failed = add()
    pending = add(status=outbox.PENDING, attempts=0, last_error=None)
    page = admin.page("/admin/notifications?status=all")
    assert cells_of(page, sent.id)["why"] == "Sent at 2024-05-01 10:00:00 UTC, after 1 attempt."
    assert cells_of(page, skipped.id)["why"].endswith("mail to this person is turned off")
    assert cells_of(page, failed.id)["why"] == (
        "Failed after 1 attempt: bo@example.com’s mail server says this address does not exist "
        f"(the server said: 550 5.1.1 No such mailbox). {REFUSAL}"
    )
    assert cells_of(page, pending.id)["why"] == "Queued, waiting for a worker."
    assert cells_of(page, failed.id)["action"] == "Retry"


# -- the parser, alone ----------------------------------------------------------------


def test_escape_like():
    assert admin_filters.escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_parse_defaults():
    assert admin_filters.parse({}).filters == admin_filters.Filters("failed")
    narrowed = admin_filters.parse({"from": "2024-05-01"}).filters
    assert narrowed == admin_filters.Filters("all", since=date(2024, 5, 1))
    assert narrowed.params() == {"status": "all", "from": "2024-05-01"}
    assert admin_filters.parse({"status": "sent", "address": "x"}).filters.status == "sent"
