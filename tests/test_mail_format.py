"""Mail is always well-formed, or refused at the door.

The tests send through the worker's own code into the real SMTP server
(devtools.mailcatcher) and read what it received, byte for byte: the lines of DATA,
the envelope (RCPT TO) and the headers as a mail client would parse them. One
property test builds messages without the server, to try far more texts.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
from email.header import decode_header, make_header
from email.mime.text import MIMEText
from email.utils import getaddresses

import pytest
from flask_mail import Message
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.accounts import service as accounts
from app.extensions import db
from app.lending import service as lending
from app.notifications import outbox
from app.notifications.mailer import UTF8, WRITE_POLICY, OutgoingMessage, text_part
from devtools.mailcatcher import Caught
from tests.api.client import Api
from tests.support import notifications, text_of

# RFC 5322 2.1.1: a line MUST NOT be longer than 998 characters and SHOULD NOT be
# longer than 78, both without the CRLF.
HARD_LIMIT = 998
SOFT_LIMIT = 78

EVERY_HEADER = {
    "Content-Type",
    "MIME-Version",
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
}
# An optional notifier's mail (the welcome, here) also carries one-click unsubscribe.
UNSUBSCRIBE = {"List-Unsubscribe", "List-Unsubscribe-Post"}


@pytest.fixture
def api(app) -> Api:
    return Api(app, app.test_client())


def only_caught(mail_server) -> Caught:
    caught = mail_server.caught
    assert len(caught) == 1, [c.envelope_to for c in caught]
    return caught[0]


def lines_of(raw: bytes) -> list[bytes]:
    # A bare CR or LF ends a line for some servers too.
    return re.split(rb"\r\n|\r|\n", raw)


def header_lines(raw: bytes) -> list[bytes]:
    head, _, _ = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n")


def as_sent(caught: Caught) -> email.message.Message:
    """The headers as they are on the wire, encoded, nothing decoded (read them
    through `unfolded`)."""
    return email.message_from_bytes(caught.raw, policy=email.policy.compat32)


def unfolded(value: str) -> str:
    return re.sub(r"\r\n(?=[ \t])", "", value)


def decoded(phrase: str) -> str:
    return str(make_header(decode_header(phrase)))


def to_header(caught: Caught) -> list[tuple[str, str]]:
    """(decoded display name, address) of every mailbox the To header names, read
    by the permissive parser a careless receiver would use."""
    values = [unfolded(v) for v in as_sent(caught).get_all("To")]
    return [(decoded(name), address) for name, address in getaddresses(values)]


def subject_sent(caught: Caught) -> str:
    return decoded(unfolded(as_sent(caught)["Subject"]))


def assert_sent(row_count: int = 1) -> None:
    rows = notifications()
    assert len(rows) == row_count
    assert [(r.status, r.last_error) for r in rows] == [("sent", None)] * row_count


# -- 1. long lines ------------------------------------------------------------


@pytest.mark.parametrize(
    "note",
    [
        "x" * 2000,
        "é" * 2000,
        "👩‍🔧" * 666,  # three code points each
        "word " * 399 + "tail",
        "<b>&amp;" * 250,
    ],
    ids=["ascii", "latin", "emoji", "words", "markup"],
)
@pytest.mark.parametrize("role", ["borrower", "lender"])
def test_a_2000_character_message_on_one_line_is_delivered(
    note, role, make, delivered, mail_server
):
    lena = make.user("Lena", email="lena@example.com")
    bram = make.user("Bram", email="bram@example.com")
    lending.create_loan(bram, role, lena.email, "ladder", message=note)
    received = delivered.run()
    assert_sent()
    [message] = received
    caught = only_caught(mail_server)
    assert max(len(line) for line in lines_of(caught.raw)) <= HARD_LIMIT
    assert f"wrote: “{note}”" in text_of(message)


@pytest.mark.parametrize(
    ("name", "item"),
    [
        ("B" * 120, "i" * 200),
        ("é" * 120, "ü" * 200),
        ("=?utf-8?q?B?=" * 9, "=?utf-8?b?aQ==?=" * 12),
        (("Zoë " * 30).strip(), "a cordless drill with two batteries, " * 5),
    ],
    ids=["ascii", "latin", "encoded-word-lookalikes", "words"],
)
def test_the_longest_names_and_item_are_folded(name, item, make, delivered, mail_server):
    lena = make.user("L" * 120, email="lena@example.com")
    bram = make.user(name, email="bram@example.com")
    loan = lending.create_loan(bram, "borrower", lena.email, item)
    received = delivered.run()
    assert_sent()
    [message] = received
    caught = only_caught(mail_server)
    # What validation made of them: whitespace collapsed, nothing else.
    expected = f"{bram.name} asks to borrow your {loan.item}"
    assert message["Subject"] == expected
    assert subject_sent(caught) == expected
    assert max(len(line) for line in header_lines(caught.raw)) <= SOFT_LIMIT
    assert max(len(line) for line in lines_of(caught.raw)) <= SOFT_LIMIT
    assert to_header(caught) == [("L" * 120, "lena@example.com")]


# -- 2. display names never change who a header names ------------------------

HOSTILE_NAMES = [
    'Evil <x@evil.example>, "q"',
    "x@evil.example",
    "Evil, x@evil.example",
    "<x@evil.example>",
    '"x@evil.example" <x@evil.example>,',
    'Bob "the" \\Builder\\',
    "back\\",
    '\\"',
    '"',
    "a;b:c",
    "undisclosed-recipients:;",
    "group: x@evil.example, y@evil.example;",
    "(comment) x@evil.example",
    "=?utf-8?q?x=40evil.example?=",
    "=?utf-8?b?RXZpbCA8eEBldmlsLmV4YW1wbGU+?= <x@evil.example>",
    "=?utf-8?q?Evil=0D=0ABcc:_x@evil.example?=",
    "Zoë Ærøskøbing",
    "Zoë <x@evil.example>, Ærø",
    "مرحبا بالعالم",
    "שלום <x@evil.example>",
    "abc\u202eexe.txt",
    "日本語の名前",
    "👩‍🔧 <x@evil.example>",
    # Long enough for Python's own folder to drop the quotes around it (gh-80222).
    "Evil <x@evil.example>, " + "q" * 97,
    'Zoë <x@evil.example>, "q" ' + "é" * 93,
    "a, " * 39 + "z",
    "x" * 120,
]


# Pieces of header syntax, to be strung together with arbitrary text.
SYNTAX = st.sampled_from(
    [" ", ",", "<", ">", '"', "\\", "(", ")", ":", ";", "@", ".", "=?", "?=", "=?utf-8?q?",
     "=?utf-8?b?", "?q?", "_", "=0A", "\r\n", "\n", "\t", "x@evil.example", "é", "👩‍🔧",
     "\u202e", "\u200b", "\x00"]
)  # fmt: skip
TEXT = st.lists(SYNTAX | st.text(max_size=8), max_size=40).map("".join)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=TEXT.map(lambda s: s[:120]), subject=TEXT)
def test_any_text_reads_back_as_itself_and_nothing_more(app, name, subject):
    """Without the SMTP server, over many more texts than the lists above: what a
    reader decodes from To and Subject is the text with its whitespace collapsed, one
    mailbox, no header of its own, every line within the limit."""
    raw = OutgoingMessage(
        subject=subject,
        to=[(name, "target@example.com")],
        body="Hi",
        html="<p>Hi</p>",
        msg_id="<any@mooch.test>",
    ).as_bytes()
    sent = email.message_from_bytes(raw, policy=email.policy.compat32)
    # Not about a loan: no threading headers.
    assert set(sent.keys()) == EVERY_HEADER - {"In-Reply-To", "References"} - (
        {"Subject"} if not subject else set()
    )
    assert max(len(line) for line in header_lines(raw)) <= SOFT_LIMIT
    shown = " ".join(name.split())
    to = [(decoded(n), a) for n, a in getaddresses([unfolded(sent["To"])])]
    assert to == [(shown, "target@example.com")]
    if subject:
        assert decoded(unfolded(sent["Subject"])) == " ".join(subject.split())


BODY_PIECES = st.sampled_from(
    ["\r\n", "\r", "\n", " ", "\t", " \n", "\t\r\n", ".", "\n.\n", "=", "=\n", "=3D", "From ",
     "é", "👩‍🔧", "\x00", "\x0b", "\x85", "\u2028", "x" * 75, "y" * 77, "<b>&amp;</b>"]
)  # fmt: skip
BODY = st.lists(BODY_PIECES | st.text(max_size=12), max_size=60).map("".join)


@settings(max_examples=400, deadline=None, database=None)
@given(body=BODY, subtype=st.sampled_from(["plain", "html"]))
@example(body="0\x80\x80𐀀𐀀0\x80\x80𐀀𐀀 \n", subtype="plain")  # 77 from b2a_qp
def test_any_body_reads_back_as_itself_in_lines_of_at_most_76(body, subtype):
    """A text part, whatever was typed into it: ASCII on the wire, no line over 76
    characters (RFC 2045 6.7; a line ending in a space at the limit is where encoders
    get it wrong: binascii.b2a_qp writes 77 there), a line break written as one, and
    it decodes to the text with each CR, LF or CRLF read as a line break."""
    message = OutgoingMessage(
        to=[(None, "a@example.com")], msg_id="<any@mooch.test>", sender="Mooch <m@mooch.test>"
    )
    part = email.message_from_bytes(message._mimetext(body, subtype).as_bytes())
    assert part.get_content_type() == f"text/{subtype}"
    assert part.get_content_charset() == "utf-8"
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    wire = part.get_payload().encode("ascii")
    assert max(len(line) for line in lines_of(wire)) <= 76
    assert b"=0A" not in wire.upper() and b"=0D" not in wire.upper()
    expected = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    assert part.get_payload(decode=True) == expected


@settings(max_examples=300, deadline=None, database=None)
@given(body=BODY, subtype=st.sampled_from(["plain", "html"]))
@example(body="", subtype="plain")
def test_a_text_part_is_the_bytes_mimetext_writes(body, subtype):
    """mailer.text_part builds its parts without MIMEText (for speed), and must write
    exactly what MIMEText with our UTF-8 writes, alone and in a message."""
    ours, stdlib = text_part(body, subtype), MIMEText(body, subtype, UTF8)
    assert ours.as_bytes() == stdlib.as_bytes()
    assert ours.as_bytes(policy=WRITE_POLICY) == stdlib.as_bytes(policy=WRITE_POLICY)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_names_no_other_recipient(name, make, delivered, mail_server):
    assert len(name) <= 120
    target = make.user(name, email="target@example.com")
    outbox.record("welcome", target)
    db.session.commit()
    received = delivered.run()
    assert_sent()
    [message] = received
    caught = only_caught(mail_server)
    assert caught.envelope_to == ["target@example.com"]
    assert to_header(caught) == [(name, "target@example.com")]
    # Python's own parser, as a client built on it reads the header: one mailbox.
    [mailbox] = message["To"].addresses
    assert mailbox.addr_spec == "target@example.com"
    # On this Python it keeps the space between adjacent encoded-words of a display
    # name (gh-128110), which RFC 2047 6.2 says a reader ignores: compare without them.
    assert mailbox.display_name.replace(" ", "") == name.replace(" ", "")
    assert message["Subject"] == f"Welcome to Mooch, {name}"
    assert subject_sent(caught) == f"Welcome to Mooch, {name}"
    expected = EVERY_HEADER - {"In-Reply-To", "References"} | UNSUBSCRIBE
    assert set(as_sent(caught).keys()) == expected


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_in_a_subject_stays_in_the_subject(name, make, delivered, mail_server):
    lena = make.user("Lena", email="lena@example.com")
    evil = make.user(name, email="evil@example.com")
    lending.create_loan(evil, "borrower", lena.email, "ladder")
    received = delivered.run()
    assert_sent()
    [message] = received
    caught = only_caught(mail_server)
    assert caught.envelope_to == ["lena@example.com"]
    assert to_header(caught) == [("Lena", "lena@example.com")]
    assert message["Subject"] == f"{name} asks to borrow your ladder"
    assert subject_sent(caught) == f"{name} asks to borrow your ladder"
    assert set(as_sent(caught).keys()) == EVERY_HEADER


def test_a_name_with_line_breaks_injects_no_header(make, delivered, mail_server):
    lena = make.user("Lena", email="lena@example.com")
    # Through the service, as a person would set it: validation collapses the breaks.
    evil = make.user("Evil", email="evil@example.com")
    accounts.change_name(evil, "Evil\r\nBcc: x@evil.example\r\n\r\nbody")
    assert evil.name == "Evil Bcc: x@evil.example body"
    # Straight into the row, as an older version or a bug might have left it.
    raw = make.user("Raw\r\nBcc: y@evil.example\nX-Evil: 1", email="raw@example.com")
    lending.create_loan(evil, "borrower", lena.email, "ladder")
    lending.create_loan(raw, "borrower", lena.email, "saw")
    lending.create_loan(lena, "borrower", raw.email, "drill")
    delivered.run()
    assert_sent(3)
    subjects = {}
    for caught in mail_server.caught:
        assert set(as_sent(caught).keys()) == EVERY_HEADER
        assert len(caught.envelope_to) == 1
        assert [address for _, address in to_header(caught)] == caught.envelope_to
        subjects[subject_sent(caught)] = to_header(caught)
    assert subjects == {
        "Evil Bcc: x@evil.example body asks to borrow your ladder": [("Lena", "lena@example.com")],
        "Raw Bcc: y@evil.example X-Evil: 1 asks to borrow your saw": [("Lena", "lena@example.com")],
        "Lena asks to borrow your drill": [
            ("Raw Bcc: y@evil.example X-Evil: 1", "raw@example.com")
        ],
    }


@pytest.mark.parametrize("state", ["pending", "invited"])
def test_an_unproven_name_is_not_shown_in_to(state, make, delivered, mail_server):
    """A pending or invited account's name was typed by whoever signed up or invited:
    it goes nowhere near the To header."""
    someone = make.user("Evil <x@evil.example>", state=state, email="someone@example.com")
    notifier = "signup_confirmation" if state == "pending" else "password_reset"
    outbox.record(notifier, someone)
    db.session.commit()
    delivered.run()
    assert_sent()
    caught = only_caught(mail_server)
    assert caught.envelope_to == ["someone@example.com"]
    assert to_header(caught) == [("", "someone@example.com")]
    assert as_sent(caught)["To"] == "someone@example.com"


@pytest.mark.parametrize("state", ["active", "closing"])
def test_a_proven_name_is_shown_in_to(state, make, delivered, mail_server):
    someone = make.user("Zoë Ærøskøbing", state=state, email="zoe@example.com")
    outbox.record("welcome", someone)
    db.session.commit()
    delivered.run()
    assert_sent()
    assert to_header(only_caught(mail_server)) == [("Zoë Ærøskøbing", "zoe@example.com")]


def test_a_plain_name_is_left_readable(make, delivered, mail_server):
    someone = make.user("Ana Lima", email="ana@example.com")
    outbox.record("welcome", someone)
    db.session.commit()
    delivered.run()
    headers = as_sent(only_caught(mail_server))
    assert headers["To"] == "Ana Lima <ana@example.com>"
    assert headers["Subject"] == "Welcome to Mooch, Ana Lima"


# -- 3. addresses: supported end to end, or refused at the door -------------------


def test_an_idn_counterparty_is_invited_at_its_punycode_address(api, make, delivered, mail_server):
    lena = make.user("Lena", email="lena@example.com")
    created = api.post(
        "/loans",
        {"role": "lender", "counterparty_email": "Ana@Bücher.example", "item": "ladder"},
        as_=lena,
    )
    assert created.status_code == 201, created.json
    # Pages and the API show the address as it was meant to be read.
    assert created.json["borrower"]["email"] == "ana@bücher.example"
    received = delivered.run()
    assert_sent()
    [invitation] = received
    caught = only_caught(mail_server)
    assert caught.envelope_to == ["ana@xn--bcher-kva.example"]
    assert to_header(caught) == [("", "ana@xn--bcher-kva.example")]
    assert invitation["Subject"] == "Lena invited you to Mooch about the ladder"

    # The same address spelt in Punycode is the same account.
    again = api.post(
        "/loans",
        {"role": "borrower", "counterparty_email": "ana@xn--bcher-kva.example", "item": "saw"},
        as_=lena,
    )
    assert again.status_code == 201, again.json
    assert again.json["lender"]["id"] == created.json["borrower"]["id"]


@pytest.mark.parametrize("address", ["ñandú@example.com", "José@bücher.example"])
def test_a_non_ascii_local_part_is_refused_naming_the_field(address, api, make, enqueued):
    lena = make.user("Lena", email="lena@example.com")
    refused = api.post(
        "/loans",
        {"role": "lender", "counterparty_email": address, "item": "ladder"},
        as_=lena,
    )
    assert refused.status_code == 400
    error = refused.json["error"]
    assert error["field"] == "counterparty_email"
    assert address in error["message"] and "before the @-sign" in error["message"]
    assert enqueued.notifications() == []


def test_an_address_no_longer_accepted_fails_with_the_reason(make, delivered, mail_server):
    """A row written before the check (here straight into the table) is not sent to
    a mangled address: the mail ends `failed`, saying why."""
    old = make.user("Old", email="ñandú@example.com")
    outbox.record("welcome", old)
    db.session.commit()
    assert delivered.run() == []
    [row] = notifications()
    assert row.status == "failed"
    assert "before the @-sign" in row.last_error
    assert mail_server.caught == []


def test_a_message_is_built_with_flask_mails_attributes_and_no_dns_lookup(app, monkeypatch):
    """OutgoingMessage sets Flask-Mail's Message attributes itself: Message.__init__
    makes a Message-ID with socket.getfqdn(), a reverse DNS lookup on every mail."""
    looked_up = []
    monkeypatch.setattr(socket, "getfqdn", lambda *args: looked_up.append(args) or "host")
    ours = OutgoingMessage(
        subject="Hi", to=[(None, "a@example.com")], body="Hi", msg_id="<one@mooch.test>"
    )
    sent = email.message_from_bytes(ours.as_bytes(), policy=email.policy.default)
    assert looked_up == []
    assert sent["Message-ID"] == "<one@mooch.test>"
    theirs = Message(subject="Hi", recipients=["a@example.com"], body="Hi")
    assert looked_up, "Flask-Mail no longer looks the host up: OutgoingMessage may call it"
    assert set(vars(theirs)) <= set(vars(ours))


LONG_HOST = "mooch-lending-library.a-rather-long-community-domain.example"


@pytest.fixture
def long_names(settings):
    """A site whose links and ids are long, as a real deployment's can be: every
    structured header runs past 78 characters."""
    settings["BASE_URL"] = f"https://{LONG_HOST}"
    settings["MAIL_UNSUBSCRIBE_ADDRESS"] = f"unsubscribe@{LONG_HOST}"
    settings["MAIL_DEFAULT_SENDER"] = f"Mooch <mooch@mail.{LONG_HOST}>"


def test_long_structured_headers_are_folded_never_encoded(long_names, app, make, delivered):
    """List-Unsubscribe, References, In-Reply-To and Message-ID are structured: an
    RFC 2047 encoded-word there is not allowed, and a mail client that finds one reads
    no unsubscribe link and no thread (the email package encoded any such header over
    78 characters; a reader that decodes, as these tests' other reads do, hid it)."""
    lena, bob = make.user("Lena"), make.user("Bob")
    loan = lending.create_loan(bob, "borrower", lena.email, "tent")
    lending.fire_event(lena, loan.id, "accept")
    delivered.run()
    [caught] = [c for c in delivered.server.caught if c.envelope_to == [bob.email]]
    sent = as_sent(caught)
    for name in ("List-Unsubscribe", "References", "In-Reply-To", "Message-ID"):
        value = unfolded(sent[name])
        assert "=?" not in value, f"{name}: {value}"
        assert all(part.startswith("<") and part.endswith(">") for part in value.split(", "))
    https, mailto = unfolded(sent["List-Unsubscribe"]).split(", ")
    assert https.startswith(f"<https://{LONG_HOST}/unsubscribe/")
    assert mailto.startswith(f"<mailto:unsubscribe@{LONG_HOST}?subject=unsubscribe-")
    assert LONG_HOST in sent["Message-ID"] and sent["References"] == sent["In-Reply-To"]
    # Folded between the links, never inside one; no line beyond SMTP's limit.
    assert "\r\n <mailto:" in sent["List-Unsubscribe"]
    assert max(len(line) for line in header_lines(caught.raw)) <= 998
