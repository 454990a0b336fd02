"""Every mail speaks to its reader, in the loan's words.

Every notifier is rendered for every reader a step sends it to (the samples of
/dev/mail/previews, read off the two state tables) and read as that reader would:
a subject on one line; no raw event or state name; nobody greeted by a placeholder
name; their own step told in the second person; the note that came with the step,
in words for the reader; hostile item names kept in their place. Then a dispute is
fired for real and both of its mails are read off the wire.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date

import pytest

from app.accounts.states import ACCOUNT
from app.dev.previews import NOTES, Preview, previews
from app.lending import service as lending
from app.lending import words
from app.lending.states import LOAN, PARTIES, other_side
from app.notifications.compose import compose, mail_domain
from app.notifications.notifiers import NOTIFIERS
from config import Config
from tests.support import html_of, text_of

JOB_QUEUE = "memory"

EVERY = previews()
URL = re.compile(r"https?://\S+")
TAG = re.compile(r"<[^>]*>")
# What a raw name looks like: words joined by "_" (mark_returned, hand_over), or any
# state or event name in backticks.
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
RAW = [f"`{name}`" for name in (*words.STATE_NAMES, *words.EVENTS)]
HOSTILE_ITEM = "<script>alert(1)</script>"
INJECTED_ITEM = "tent\r\nBcc: x@y"


def ids(preview: Preview) -> str:
    return preview.slug


def prose(text: str) -> str:
    """What a reader reads: no markup, no links (a signed token may hold a "_")."""
    return URL.sub(" ", TAG.sub(" ", text))


def opening(text: str) -> str:
    """The text body's first paragraph after the greeting."""
    return text.split("\n\n")[1]


# -- every notifier, every reader ----------------------------------------------------


def test_every_notifier_is_previewed_for_every_reader_a_step_mails():
    shown = {(p.notifier, p.recipient_role) for p in EVERY}
    for step in LOAN.steps:
        for role, notifier in step.notify:
            sides = [other_side(r) for r in PARTIES if r in step.who] if role == "other" else [role]
            for side in sides:
                assert (notifier, side) in shown, (step.event, notifier, side)
    # Each side that may fire a step mailing both sides reads their own copy.
    for step in LOAN.steps:
        if {r for r, _ in step.notify} == set(PARTIES):
            for actor in [r for r in PARTIES if r in step.who]:
                for _, notifier in step.notify:
                    assert any(
                        p.notifier == notifier and p.actor_role == actor and p.by_recipient
                        for p in EVERY
                    ), (step.event, notifier, actor)
    account = {n for step in ACCOUNT.steps for _, n in step.notify}
    assert account <= {p.notifier for p in EVERY}
    assert {p.notifier for p in EVERY} == set(NOTIFIERS)
    assert len({p.slug for p in EVERY}) == len(EVERY)


@pytest.mark.parametrize("preview", EVERY, ids=ids)
def test_each_mail_reads_right(app, preview):
    mail = preview.render()
    # A subject: something, on one line.
    assert mail.subject and mail.subject == " ".join(mail.subject.split())
    for part in (mail.subject, mail.text, prose(mail.html)):
        # No raw event or state name, in any form.
        assert SNAKE.findall(prose(part)) == [], part
        assert not [raw for raw in RAW if raw in part], part
        # Nobody greeted by the placeholder name an invitation gives an account.
        assert "nobody" not in part.split("\n", 1)[0]
        assert "Hi nobody" not in part
        assert "{{" not in part and "{%" not in part
    assert mail.text.splitlines()[0] in ("Hello,", "Hi Lena,", "Hi Bram,", "Hi Nia,")
    if preview.recipient_role in ("invited", "pending") or preview.notifier == "invitation":
        assert mail.text.startswith("Hello,\n") and "Hello," in mail.html
        assert "have a Mooch account" not in mail.text + mail.html
    # The link bears the words of the button it leads to, or none.
    action = mail.text.split("\n\n")[-2].split(":", 1)[0]
    if preview.notifier.startswith("loan_"):
        buttons = {w.name.lower() for w in words.EVENTS.values()} | {"see the loan"}
        assert {part.lower() for part in action.split(" or ")} <= buttons, action
        assert f">{action}</a>" in mail.html


def actors_name(preview: Preview) -> str:
    return {"lender": "Lena", "borrower": "Bram"}[preview.actor_role]


@pytest.mark.parametrize(
    "preview", [p for p in EVERY if p.actor_role in PARTIES and p.notifier != "invitation"], ids=ids
)
def test_the_reader_is_told_of_their_own_step_in_the_second_person(app, preview):
    mail = preview.render()
    name = actors_name(preview)
    if preview.by_recipient:
        assert opening(mail.text).startswith("You "), mail.text
        assert mail.subject.startswith("You "), mail.subject
        assert not mail.subject.startswith(name)
        html_opening = mail.html.split("</p>")[2]
        assert ">You " in html_opening, html_opening
    else:
        # The other party's copy names the one who acted.
        assert name in mail.subject or name in opening(mail.text), mail.text
        assert not opening(mail.text).startswith("You "), mail.text


@pytest.mark.parametrize("preview", [p for p in EVERY if p.notifier.startswith("loan_")], ids=ids)
def test_the_note_that_came_with_a_step_is_shown_in_words_for_the_reader(app, preview):
    mail = preview.render()
    note = NOTES.get(_event_of(preview))
    if note is None:
        assert " wrote:\n" not in mail.text
        return
    who = "You" if preview.by_recipient else actors_name(preview)
    assert f"{who} wrote:\n\n    {note}" in mail.text
    assert f"{who} wrote:</p>" in mail.html and note in mail.html


def _event_of(preview: Preview) -> str:
    return preview.build("tent").audit_event.event


def test_a_dispute_carries_its_reason_and_a_resolution_its_outcome(app):
    for notifier in ("loan_disputed", "loan_resolved", "loan_note"):
        for preview in [p for p in EVERY if p.notifier == notifier]:
            assert NOTES[_event_of(preview)] in preview.render().text


# -- hostile input -------------------------------------------------------------------


ABOUT_A_LOAN = [p for p in EVERY if p.notifier.startswith("loan_") or p.notifier == "invitation"]


@pytest.mark.parametrize("preview", ABOUT_A_LOAN, ids=ids)
def test_an_item_name_is_text_in_html_and_one_line_in_the_subject(app, preview):
    mail = preview.render(HOSTILE_ITEM)
    assert "<script" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert HOSTILE_ITEM in mail.text

    injected = preview.render(INJECTED_ITEM)
    assert "\r" not in injected.subject and "\n" not in injected.subject
    message = compose(preview.build(INJECTED_ITEM))
    wire = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert wire["Bcc"] is None
    assert "tent Bcc: x@y" in str(wire["Subject"])
    assert len(wire["To"].addresses) == 1


# -- for real: a dispute, both sides -------------------------------------------------


def test_both_sides_of_a_dispute_and_its_resolution_read_from_their_own_side(make, delivered):
    lena = make.user("Lena", email="lena@example.com")
    bram = make.user("Bram", email="bram@example.com")
    loan = make.loan(lena, bram, state="returned", item="tent", due_date=date(2030, 1, 5))

    lending.fire_event(lena, loan.id, "dispute", note="The bag is missing.")
    mail = {m["To"].addresses[0].addr_spec: m for m in delivered.run()}
    mine, theirs = mail[lena.email], mail[bram.email]
    assert mine["Subject"] == "You disputed the return of the tent"
    assert opening(text_of(mine)) == (
        "You disputed the return of the tent; Bram has been told your reason."
    )
    assert "You wrote:\n\n    The bag is missing." in text_of(mine)
    assert theirs["Subject"] == "Lena says something is wrong with the return of the tent"
    assert "Lena wrote:\n\n    The bag is missing." in text_of(theirs)
    assert ">Add a note</a>" in html_of(theirs)
    assert "mark_returned" not in text_of(theirs) and "disputed`" not in text_of(theirs)

    lending.fire_event(bram, loan.id, "resolve", note="Found it in my car.")
    mail = {m["To"].addresses[0].addr_spec: m for m in delivered.run()}
    assert mail[bram.email]["Subject"] == "You resolved the dispute about the tent — all done"
    assert "You wrote:\n\n    Found it in my car." in text_of(mail[bram.email])
    assert mail[lena.email]["Subject"] == "Bram resolved the dispute about the tent — all done"
    assert "Bram wrote:\n\n    Found it in my car." in text_of(mail[lena.email])
    # From names Mooch; the Message-ID is in the sender's domain.
    for message in mail.values():
        assert message["From"].addresses[0].display_name == "Mooch"
        assert message["From"].addresses[0].addr_spec == "mooch@mooch.test"
        assert message["Message-ID"].endswith("@mooch.test>")


# -- the sender ----------------------------------------------------------------------


def test_the_sender_is_mooch_at_the_host_of_base_url(monkeypatch):
    monkeypatch.delenv("MAIL_DEFAULT_SENDER", raising=False)
    monkeypatch.setenv("BASE_URL", "https://lend.example.org:8443/")
    assert Config().MAIL_DEFAULT_SENDER == "Mooch <mooch@lend.example.org>"
    monkeypatch.setenv("BASE_URL", "http://127.0.0.1:5000")
    assert Config().MAIL_DEFAULT_SENDER == "Mooch <mooch@localhost>"
    monkeypatch.setenv("MAIL_DEFAULT_SENDER", "Lending Club <club@example.net>")
    assert Config().MAIL_DEFAULT_SENDER == "Lending Club <club@example.net>"


def test_message_ids_are_made_in_the_senders_domain(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_DEFAULT_SENDER", "Mooch <mooch@lend.example.org>")
    assert mail_domain() == "lend.example.org"
    monkeypatch.setitem(app.config, "MAIL_DEFAULT_SENDER", "mooch@bare.example")
    assert mail_domain() == "bare.example"
    monkeypatch.setitem(app.config, "MAIL_DEFAULT_SENDER", ("Mooch", "mooch@pair.example"))
    assert mail_domain() == "pair.example"
