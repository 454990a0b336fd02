"""/dev/mail: the .eml files a real MailCatcher wrote, listed and shown, in development
only. The mail comes from the app itself, through the worker's delivery code.

/dev/mail/previews: every notifier rendered with sample data, for each reader, saving
nothing; in development only as well."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from app import create_app
from app.accounts import service as accounts
from app.dev.previews import previews
from app.extensions import db
from app.notifications.notifiers import NOTIFIERS
from devtools.mailcatcher import MailCatcher
from tests.support import Delivered


@pytest.fixture
def catcher(tmp_path):
    with MailCatcher(maildir=tmp_path / "mail") as server:
        yield server


@pytest.fixture
def settings(settings, catcher):
    return {
        **settings,
        "MOOCH_ENV": "development",
        "MAIL_CATCHER_DIR": str(catcher.maildir),
        "MAIL_SERVER": catcher.host,
        "MAIL_PORT": catcher.port,
    }


def deliver(app, catcher) -> list[EmailMessage]:
    return Delivered(app, catcher).run()


def send_raw(catcher, subject: str, html: str | None = None, to: str = "x@example.com") -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", to, subject
    message["Date"] = "Thu, 26 Nov 2026 10:00:00 +0000"
    message.set_content("hello")
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(catcher.host, catcher.port, timeout=5) as smtp:
        smtp.send_message(message)


def names(catcher) -> list[str]:
    return sorted(p.name for p in catcher.maildir.glob("*.eml"))


def test_lists_caught_mail_newest_first(app, catcher):
    client = app.test_client()
    assert "No mail yet" in client.get("/dev/mail").text
    send_raw(catcher, "the first one", to="first@example.com")
    send_raw(catcher, "the second one", to="second@example.com")
    page = client.get("/dev/mail")
    assert page.status_code == 200
    assert page.text.index("the second one") < page.text.index("the first one")
    assert "first@example.com" in page.text and "2026-11-26 10:00:00" in page.text
    for name in names(catcher):
        assert f'href="/dev/mail/{name}"' in page.text


def test_shows_the_apps_own_mail_with_working_links(app, catcher):
    accounts.sign_up("newcomer@example.com", "Nia")
    user_id = accounts.find_by_email("newcomer@example.com").id
    (sent,) = deliver(app, catcher)
    client = app.test_client()
    (name,) = names(catcher)

    page = client.get(f"/dev/mail/{name}")
    assert page.status_code == 200
    assert str(sent["Subject"]) in page.text and "newcomer@example.com" in page.text
    # The text part's confirm link is a link, absolute, and it works.
    links = re.findall(r'<a href="(https://mooch\.test/confirm/[^"]+)"', page.text)
    assert links, page.text
    assert f'src="/dev/mail/{name}/html"' in page.text and "sandbox=" in page.text

    html = client.get(f"/dev/mail/{name}/html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    csp = html.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "allow-scripts" not in csp
    assert '<base target="_top">' in html.text and "https://mooch.test/confirm/" in html.text

    token = urlsplit(links[0]).path.rsplit("/", 1)[1]
    assert accounts.activate(token, "kettle mosaic harbor").state == "active"
    db.session.expire_all()
    assert accounts.find_by_email("newcomer@example.com").id == user_id

    raw = client.get(f"/dev/mail/{name}/raw")
    assert raw.status_code == 200 and raw.mimetype == "text/plain"
    assert "Message-ID" in raw.text


def test_names_cannot_leave_the_mail_folder(app, catcher, tmp_path):
    (tmp_path / "secret.eml").write_text("Subject: secret\n\nno\n")
    client = app.test_client()
    send_raw(catcher, "ordinary")
    for bad in (
        "../secret.eml",
        "..%2Fsecret.eml",
        "%2E%2E%2Fsecret.eml",
        ".hidden.eml",
        "nothing-here.eml",
        "notmail.txt",
    ):
        response = client.get(f"/dev/mail/{bad}")
        assert response.status_code == 404, bad
        assert "secret" not in response.text
        assert client.get(f"/dev/mail/{bad}/html").status_code == 404, bad


def test_a_message_without_html_has_no_html_page(app, catcher):
    send_raw(catcher, "plain only")
    (name,) = names(catcher)
    client = app.test_client()
    assert "<iframe" not in client.get(f"/dev/mail/{name}").text
    assert client.get(f"/dev/mail/{name}/html").status_code == 404


def row_counts() -> dict[str, int]:
    db.session.rollback()
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def test_previews_show_every_notifier_to_every_reader_and_save_nothing(app):
    accounts.sign_up("someone@example.com", "Sam")  # a row or two that must stay as they are
    before = row_counts()
    client = app.test_client()
    index = client.get("/dev/mail/previews")
    assert index.status_code == 200
    for name in NOTIFIERS:
        assert f"<code>{name}</code>" in index.text, name
    # A step that mails both sides shows both copies, the lender's and the borrower's.
    started = [p for p in previews() if p.notifier == "loan_started"]
    assert {p.recipient_role for p in started} == {"lender", "borrower"}
    for preview in previews():
        html_link = f'href="/dev/mail/previews/{preview.slug}/html"'
        text_link = f'href="/dev/mail/previews/{preview.slug}/text"'
        assert html_link in index.text and text_link in index.text, preview.slug
        text = client.get(f"/dev/mail/previews/{preview.slug}/text")
        assert text.status_code == 200 and text.mimetype == "text/plain"
        subject = text.text.split("\nSubject: ", 1)[1].split("\n", 1)[0]
        assert subject and str(escape(subject)) in index.text
        html = client.get(f"/dev/mail/previews/{preview.slug}/html")
        assert html.status_code == 200 and html.mimetype == "text/html"
        csp = html.headers["Content-Security-Policy"]
        assert "sandbox" in csp and "allow-scripts" not in csp
        assert "</html>" in html.text
    assert "You lent Bram the tent" in index.text
    assert "Lena lent you the tent" in index.text
    assert client.get("/dev/mail/previews/nothing-like-this/html").status_code == 404
    assert client.get("/dev/mail/previews/nothing-like-this/text").status_code == 404
    assert row_counts() == before
    assert 'href="/dev/mail/previews"' in client.get("/dev/mail").text


@pytest.mark.parametrize("env", ["production", "test", None])
def test_does_not_exist_outside_development(settings, env, catcher):
    settings = {**settings, "MOOCH_ENV": env}
    send_raw(catcher, "private")
    (name,) = names(catcher)
    app = create_app(settings)
    client = app.test_client()
    slug = previews()[0].slug
    for path in (
        "/dev/mail",
        f"/dev/mail/{name}",
        f"/dev/mail/{name}/html",
        "/dev/mail/previews",
        f"/dev/mail/previews/{slug}/html",
        f"/dev/mail/previews/{slug}/text",
    ):
        assert client.get(path).status_code == 404, path
    assert "dev" not in app.blueprints
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
