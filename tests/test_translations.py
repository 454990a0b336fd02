"""Their language (issue 12, part 5): every mail in English and in German, in its
recipient's language and time zone, whoever's request or job writes it; and the check
that fails the suite when a message of the source has no translation.

German is checked as a reader would: the subject is not the English one, no sentence
of the English catalogue is left in the mail, and dates are written the German way
("So., 22. Nov."), not the English ("Sun 22 Nov")."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from babel.messages.pofile import read_po

from app import i18n
from app.dev.previews import previews
from app.extensions import db
from app.lending import service as lending
from app.models import Notification
from app.notifications.compose import compose, render
from app.notifications.notifiers import NOTIFIERS
from devtools import translations
from tests.support import text_of

JOB_QUEUE = "memory"

EVERY = previews()
ITEM = "tent"
ZONE = "Europe/Berlin"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}|<[^>]*>")
TAG = re.compile(r"<[^>]*>")


def _english_phrases() -> list[str]:
    """Every run of three words or more that a message of the source says literally
    (its text between placeholders and tags): none may be left in a German mail."""
    with open(translations.TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f)
    phrases = set()
    for message in catalog:
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            for piece in PLACEHOLDER.split(msgid or ""):
                piece = piece.strip(" .,:;—–-“”’()")
                if len(piece.split()) >= 3:
                    phrases.add(piece)
    return sorted(phrases, key=len, reverse=True)


PHRASES = _english_phrases()


def _in_german(preview):
    notification = preview.build(ITEM)
    notification.recipient.locale = "de"
    notification.recipient.time_zone = ZONE
    return notification


def _leftovers(text: str) -> list[str]:
    return [phrase for phrase in PHRASES if phrase in text]


# -- the catalogues -------------------------------------------------------------------


def test_no_message_of_the_source_lacks_a_translation():
    """The CI check: extract every message from app/ into a fresh .pot and hold each
    language's .po to it: none missing, empty or fuzzy, placeholders alike."""
    assert translations.problems() == {}


def test_the_check_finds_a_missing_an_empty_a_fuzzy_and_a_wrong_message(tmp_path):
    from babel.messages.pofile import write_po

    pot = translations.extract(tmp_path / "messages.pot")
    with open(translations.TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f, locale="de")
    del catalog["Your name"]
    catalog["Sign up"].string = ""
    catalog["Log in"].flags.add("fuzzy")
    catalog["Hello, %(name)s."].string = "Hallo, %(nom)s."
    catalog["{other} asks to borrow your {item}"].string = "{other} möchte etwas leihen"
    broken = tmp_path / "translations" / "de" / "LC_MESSAGES"
    broken.mkdir(parents=True)
    with open(broken / "messages.po", "wb") as f:
        write_po(f, catalog)
    found = translations.problems(pot, tmp_path / "translations")
    assert sorted(found) == ["de"]
    said = "\n".join(found["de"])
    assert "missing: 'Your name'" in said
    assert "untranslated: 'Sign up'" in said
    assert "fuzzy: 'Log in'" in said
    assert "'Hello, %(name)s.'" in said  # Babel's check: a placeholder that is not there
    assert "placeholders ['item', 'other'] != ['other']" in said
    assert len(found["de"]) == 5


def test_german_is_shipped_and_listed_by_its_own_name():
    assert i18n.languages() == ("en", "de")
    assert i18n.language_names() == {"en": "English", "de": "Deutsch"}
    assert Path(i18n.TRANSLATIONS, "de", "LC_MESSAGES", "messages.mo").is_file()


# -- every notifier, in both languages -----------------------------------------------


def test_the_samples_cover_every_notifier():
    assert {p.notifier for p in EVERY} == set(NOTIFIERS)


@pytest.mark.parametrize("preview", EVERY, ids=[p.slug for p in EVERY])
def test_every_mail_reads_in_english_and_in_german(app, preview):
    english = preview.render(ITEM)
    _, subject, text, html = render(_in_german(preview))
    assert subject != english.subject
    assert text != english.text
    assert 'lang="de"' in html and 'lang="en"' in english.html
    # Not a sentence of the English catalogue left, in the subject or either body.
    assert _leftovers(subject) == []
    assert _leftovers(text) == []
    assert _leftovers(TAG.sub(" ", html)) == []
    assert "Hallo" in text


@pytest.mark.parametrize(
    "preview",
    [p for p in EVERY if p.notifier in ("loan_started", "loan_due_soon", "loan_overdue")],
    ids=lambda p: p.slug,
)
def test_due_dates_are_written_the_german_way(app, preview):
    notification = _in_german(preview)
    due = notification.loan.due_date
    _, subject, text, _html = render(notification)
    german = format_date(due, "EEE, d. MMM", locale="de")  # "So., 22. Nov."
    english = f"{due:%a} {due.day} {due:%b}"  # "Sun 22 Nov"
    assert german in text and english not in text
    assert german in subject or notification.notifier == "loan_overdue"


def test_the_calendar_event_speaks_each_readers_language(app, make):
    lena, bram = make.user("Lena"), make.user("Bram")
    bram.locale = "de"
    db.session.commit()
    loan = make.loan(lena, bram, state="agreed")
    due = (lending.today() + timedelta(days=5)).isoformat()
    lending.fire_event(lena, loan.id, "hand_over", due_date=due)
    ics = {row.recipient_id: _attachment(compose(row)) for row in _rows("loan_started")}
    assert "SUMMARY:„cordless drill“ an Lena zurückgeben" in ics[bram.id]
    assert "SUMMARY:Return the cordless drill to Lena" in ics[lena.id]


def _rows(notifier: str) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Notification).filter_by(notifier=notifier)))


def _attachment(message) -> str:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    [part] = [p for p in parsed.iter_attachments() if p.get_filename() == "due-date.ics"]
    content = part.get_content()
    text = content if isinstance(content, str) else content.decode()
    return text.replace("\r\n ", "")  # unfolded


# -- the recipient's language, not the request's ---------------------------------------


def test_mail_speaks_the_recipients_language_whatever_the_request_speaks(app, make):
    lena, bram = make.user("Lena"), make.user("Bram")
    bram.locale, bram.time_zone = "de", ZONE
    db.session.commit()
    # Bram (German) asks Lena (English); Lena accepts.
    loan = lending.create_loan(bram, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    [to_lena] = _rows("loan_requested")
    [to_bram] = _rows("loan_accepted")
    # A German request composes Lena's mail: English. An English one, Bram's: German.
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        app.preprocess_request()  # as a request does: it chooses its language afresh
        assert i18n.current_locale() == "de"
        assert compose(to_lena).subject == "Bram asks to borrow your tent"
        assert i18n.current_locale() == "de"  # the request's own language is back
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        app.preprocess_request()
        assert compose(to_bram).subject == "Lena leiht dir „tent“"
        assert "Lena leiht dir „tent“. Wenn ihr euch seht" in compose(to_bram).body
        assert i18n.current_locale() == "en"


def test_moments_in_mail_are_in_the_recipients_time_zone(app, make):
    from datetime import datetime

    lena = make.user("Lena")
    lena.locale, lena.time_zone = "de", "Asia/Tokyo"
    moment = datetime(2026, 3, 1, 23, 30)  # naive UTC: 2 March, 08:30 in Tokyo
    with i18n.speaking_to(lena):
        assert i18n.moment(moment) == "2. März 2026, 08:30 +0900"
        assert i18n.day(moment, "day_month") == "2. März"
    assert i18n.moment(moment) == "1 Mar 2026, 23:30 UTC"


SAID = "{{ _('Open Mooch') }}, {{ ngettext('%(num)d day', '%(num)d days', 2) }}"


def _said() -> str:
    """Two messages of the catalogue, through a template's gettext and ngettext."""
    from flask import render_template_string

    return render_template_string(SAID)


def test_a_block_speaking_to_someone_inside_another_speaks_their_language_then_the_first(app, make):
    lena, bram = make.user("Lena"), make.user("Bram")
    lena.locale = "de"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        app.preprocess_request()
        assert _said() == "Open Mooch, 2 days"
        with i18n.speaking_to(lena):
            assert _said() == "Mooch öffnen, 2 Tage"
            assert i18n.current_locale() == "de"
            with i18n.speaking_to(bram):
                assert _said() == "Open Mooch, 2 days"
                assert i18n.current_locale() == "en"
            assert _said() == "Mooch öffnen, 2 Tage"
        assert _said() == "Open Mooch, 2 days"
    with app.test_request_context(headers={"Accept-Language": "de"}):
        app.preprocess_request()
        assert _said() == "Mooch öffnen, 2 Tage"  # a page still speaks its reader's


def test_threads_writing_mail_at_once_each_speak_their_own_readers_language(app, make):
    """The worker's sending threads compose side by side: the language one of them
    speaks is its own (a context variable per thread), never its neighbour's."""
    import threading

    lena, bram = make.user("Lena"), make.user("Bram")
    lena.locale = "de"
    db.session.commit()
    readers = {"de": lena.id, "en": bram.id}
    both_speaking = threading.Barrier(2, timeout=10)
    said: dict[str, list[str]] = {}

    def write(language: str) -> None:
        with app.app_context():
            reader = db.session.get(type(lena), readers[language])
            with i18n.speaking_to(reader):
                both_speaking.wait()  # the other thread is inside its block too
                said[language] = [_said() for _ in range(20)]
            db.session.remove()

    threads = [threading.Thread(target=write, args=(code,)) for code in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert said["de"] == ["Mooch öffnen, 2 Tage"] * 20
    assert said["en"] == ["Open Mooch, 2 days"] * 20


def test_delivered_mail_is_in_the_recipients_language(app, make, delivered):
    lena, bram = make.user("Lena"), make.user("Bram")
    lena.locale = "de"
    db.session.commit()
    lending.create_loan(bram, "borrower", lena.email, "tent")  # Bram writes in English
    [mail] = delivered.run()
    assert mail["Subject"] == "Bram möchte sich „tent“ von dir leihen"
    body = text_of(mail)
    assert body.startswith("Hallo Lena,")
    assert "Annehmen oder ablehnen: https://" in body
