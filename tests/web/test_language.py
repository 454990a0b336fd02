"""Their language on the pages (issue 12, part 5): a signed-in user's pages speak their
`locale`, anyone else's the best match of Accept-Language; sign-up keeps that match
and the browser's time zone; the account page changes both; the JSON API stays
English."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from babel.dates import format_date

from app import i18n
from app.extensions import db
from app.lending import service as lending
from app.models import Loan, User
from tests.support import text_of
from tests.web.conftest import field_error

JOB_QUEUE = "memory"
SIGNUP = {"name": "Nina", "email": "nina@example.com"}
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def german(user: User, zone: str = "Europe/Berlin") -> User:
    user.locale, user.time_zone = "de", zone
    db.session.commit()
    return user


def visible(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S).replace("<bdi>", "")
    page = page.replace("</bdi>", "")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def account(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(db.select(User).filter_by(email=email))


# -- who sees which language -------------------------------------------------------------


def test_a_visitor_gets_the_best_match_of_their_browsers_languages(client):
    assert 'lang="en"' in client.page("/")
    page = client.get("/", headers=GERMAN).get_data(as_text=True)
    assert '<html lang="de"' in page
    assert "Verleih Dinge an Leute, die du kennst" in page
    # A language we do not ship falls back to English; Austrian German is German.
    assert 'lang="en"' in client.get("/", headers={"Accept-Language": "fr"}).get_data(True)
    austrian = client.get("/login", headers={"Accept-Language": "de-AT"}).get_data(True)
    assert "Anmelden" in austrian


def test_a_german_user_sees_a_german_dashboard_and_loan_page(browser, make):
    lena, bob = german(make.user("Lena")), make.user("Bob")
    due = lending.today() + timedelta(days=3)
    loan = make.loan(lena, bob, state="lent", due_date=due)
    as_lena, as_bob = browser().log_in(lena), browser().log_in(bob)
    # Her browser asks for English: her account's language wins.
    dashboard = as_lena.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    said = visible(dashboard)
    assert '<html lang="de" data-time-zone="Europe/Berlin"' in dashboard
    assert "Meine Ausleihen" in said and "Wartet auf andere" in said
    assert "Bob hat „cordless drill“ von dir — Rückgabe bis" in said
    assert "in 3 Tagen fällig" in said
    assert "Verliehen" in said  # the state's badge
    for english in ("My loans", "Waiting on others", "due in 3 days", "On loan"):
        assert english not in said

    page = visible(as_lena.page(f"/loans/{loan.id}"))
    assert "Die Ausleihe" in page and "Chronik" in page and "Verlauf" in page
    assert format_date(due, "EEE, d. MMM y", locale="de") in page  # "Mi., 4. März 2026"
    assert "Rückgabe bis" in page and "Verleiher" in page
    assert "Rückgabe bestätigen" not in page  # no button of hers yet
    assert "Wartet auf Bob: Als zurückgegeben markieren." in page

    # Bob, in English, sees his own language on the same loan.
    bobs = visible(as_bob.page(f"/loans/{loan.id}"))
    assert "Mark as returned" in bobs and "History" in bobs
    assert "Chronik" not in bobs


def test_no_english_sentence_is_left_on_a_german_users_pages(browser, make, delivered):
    from tests.test_translations import PHRASES

    lena, bob = german(make.user("Lena")), make.user("Bob")
    as_lena, as_bob = browser().log_in(lena), browser().log_in(bob)
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    due = (lending.today() + timedelta(days=4)).isoformat()
    lending.fire_event(lena, loan.id, "hand_over", due_date=due)
    lending.fire_event(bob, loan.id, "mark_returned")
    lending.fire_event(lena, loan.id, "dispute", note="The pole is bent.")
    delivered.run()
    offered = lending.create_loan(lena, "lender", bob.email, "ladder")
    pages = {
        path: visible(as_lena.page(path))
        for path in ("/", f"/loans/{loan.id}", f"/loans/{offered.id}", "/account",
                     "/loans/new", "/how-loans-work")
    }  # fmt: skip
    for path, said in pages.items():
        left = [phrase for phrase in PHRASES if phrase in said]
        assert left == [], (path, left)
    assert "verschickt" in pages[f"/loans/{loan.id}"]  # each mail's delivery, in German
    # The same loan, for Bob, is English through and through.
    assert "Lena says something is wrong with the return of the tent" in visible(
        as_bob.page(f"/loans/{loan.id}")
    )


def test_the_timeline_is_in_the_readers_time_zone(browser, make):
    lena, bob = german(make.user("Lena"), zone="Asia/Tokyo"), make.user("Bob")
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    created = loan.events[0].created_at
    with i18n.speaking_to(lena):
        tokyo = i18n.moment(created)
    page = browser().log_in(lena).page(f"/loans/{loan.id}")
    assert tokyo in page and tokyo.endswith("+0900")
    english = browser().log_in(bob).page(f"/loans/{loan.id}")
    assert f"{created:%-d %b %Y, %H:%M} UTC" in english


def test_a_flash_and_a_refusal_speak_german(browser, make):
    lena, bob = german(make.user("Lena")), make.user("Bob")
    as_lena = browser().log_in(lena)
    response = as_lena.post(
        "/loans/new", data={"role": "lender", "item": "", "counterparty_email": bob.email}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Das Feld „Gegenstand“ darf nicht leer sein." in field_error(html, "item")
    as_lena.post(
        "/loans/new", data={"role": "lender", "item": "tent", "counterparty_email": bob.email}
    )
    loan = db.session.scalar(db.select(Loan))
    assert f"Dein Angebot ist unterwegs zu {bob.email}." in as_lena.page(f"/loans/{loan.id}")


def test_the_json_api_stays_english_for_a_german_user(app, make):
    from app.accounts import service as accounts

    lena = german(make.user("Lena"))
    token = accounts.log_in(lena, "api")
    client = app.test_client()
    response = client.post(
        "/api/v1/loans",
        json={
            "role": "lender",
            "counterparty_email": "x@example.com",
            "item": "tent",
            "due_date": "2000-01-01",
        },
        headers={"Authorization": f"Bearer {token}", **GERMAN},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "The due date is in the past."


# -- sign-up keeps the browser's language and time zone ----------------------------------


def test_sign_up_keeps_the_browsers_language_and_time_zone(client, delivered):
    page = client.get("/signup", headers=GERMAN).get_data(as_text=True)
    assert 'name="time_zone"' in page and "data-time-zone" in page
    assert "/static/web/zone.js" in page
    client.post("/signup", data={**SIGNUP, "time_zone": "America/New_York"}, headers=GERMAN)
    nina = account("nina@example.com")
    assert (nina.locale, nina.time_zone) == ("de", "America/New_York")
    [mail] = delivered.run()
    assert mail["Subject"] == "Bestätige deine E-Mail-Adresse für Mooch"
    assert "Jemand, hoffentlich du," in text_of(mail)


@pytest.mark.parametrize(
    ("language", "zone", "kept"),
    [
        ("fr-FR,fr;q=0.9", "Europe/Paris", ("en", "Europe/Paris")),
        ("de", "Mars/Olympus_Mons", ("de", "UTC")),
        ("de", "", ("de", "UTC")),  # no JavaScript: no zone
        ("", "../../etc/passwd", ("en", "UTC")),
    ],
)
def test_sign_up_falls_back_to_english_and_utc(client, enqueued, language, zone, kept):
    client.post(
        "/signup", data={**SIGNUP, "time_zone": zone}, headers={"Accept-Language": language}
    )
    nina = account("nina@example.com")
    assert (nina.locale, nina.time_zone) == kept


def test_an_invited_address_speaks_its_inviters_language(client, make, delivered):
    lena = german(make.user("Lena"))
    lending.create_loan(lena, "lender", "newcomer@example.com", "tent")
    newcomer = account("newcomer@example.com")
    assert (newcomer.state, newcomer.locale, newcomer.time_zone) == (
        "invited",
        "de",
        "Europe/Berlin",
    )
    [mail] = delivered.run()
    assert mail["Subject"] == "Lena lädt dich zu Mooch ein, wegen „tent“"


# -- the account page: language and time zone ----------------------------------------------


def test_change_language_and_time_zone_on_the_account_page(client, make):
    lena = make.user("Lena")
    client.log_in(lena)
    page = client.page("/account")
    assert "Language and time zone" in page
    assert '<option selected value="en">English</option>' in page
    assert '<option value="de">Deutsch</option>' in page
    assert '<option selected value="UTC">UTC</option>' in page
    response = client.post(
        "/account/language", data={"language-locale": "de", "language-time_zone": "Asia/Tokyo"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/account#language"
    assert (account(lena.email).locale, account(lena.email).time_zone) == ("de", "Asia/Tokyo")
    page = client.page("/account")
    # The flash is already in the new language, and so is the page.
    assert "Deine Sprache und Zeitzone sind gespeichert." in page
    assert "Sprache und Zeitzone" in page and '<html lang="de"' in page
    assert '<option selected value="Asia/Tokyo">Asia/Tokyo</option>' in page


@pytest.mark.parametrize(
    ("locale", "zone", "field", "message"),
    [
        ("xx", "Europe/Berlin", "locale", "Choose one of the languages in the list."),
        ("de", "Nowhere/Town", "time_zone", "Choose a time zone from the list"),
        ("de", "", "time_zone", "Choose a time zone from the list"),
    ],
)
def test_a_bad_choice_is_refused_on_its_field_and_nothing_is_lost(
    client, make, locale, zone, field, message
):
    lena = make.user("Lena")
    client.log_in(lena)
    response = client.post(
        "/account/language", data={"language-locale": locale, "language-time_zone": zone}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    error = re.search(rf'id="language-{field}-error">([^<]*)<', html)
    assert error and message in error.group(1)
    assert re.search(rf'<select[^>]*aria-invalid="true"[^>]*id="language-{field}"', html) or (
        re.search(rf'<select[^>]*id="language-{field}"[^>]*aria-invalid="true"', html)
    )
    # Nothing saved; what was chosen and valid is still chosen.
    assert (account(lena.email).locale, account(lena.email).time_zone) == ("en", "UTC")
    if field == "time_zone":
        assert '<option selected value="de">Deutsch</option>' in html
    else:
        assert '<option selected value="Europe/Berlin">Europe/Berlin</option>' in html
