"""Input checks (app/validation.py): what is cleaned, what is refused and why."""

from __future__ import annotations

import unicodedata

import pytest

from app import validation
from app.errors import InvalidInput
from tests.api.client import Api


@pytest.fixture
def api(app) -> Api:
    return Api(app, app.test_client())


def refusal(call, *args, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        call(*args, **kwargs)
    return refused.value


# -- addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored", "wire"),
    [
        ("Ana@Example.com", "ana@example.com", "ana@example.com"),
        ("ana@bücher.example", "ana@bücher.example", "ana@xn--bcher-kva.example"),
        (" Ana@BÜCHER.example ", "ana@bücher.example", "ana@xn--bcher-kva.example"),
        ("ana@xn--bcher-kva.example", "ana@bücher.example", "ana@xn--bcher-kva.example"),
        (
            "ana@例え.テスト.example",
            "ana@例え.テスト.example",
            "ana@xn--r8jz45g.xn--zckzah.example",
        ),
    ],
)
def test_an_idn_domain_is_kept_readable_and_sent_as_punycode(typed, stored, wire):
    assert validation.email_address(typed) == stored
    assert validation.wire_address(stored) == wire


@pytest.mark.parametrize(
    "typed", ["ñandú@example.com", "josé@bücher.example", "пример@example.com", "用户@例子.example"]
)
def test_a_non_ascii_local_part_is_refused_naming_the_field(typed):
    error = refusal(validation.email_address, typed, field="counterparty_email")
    assert error.field == "counterparty_email"
    assert typed in error.message
    assert "before the @-sign are not supported" in error.message


@pytest.mark.parametrize(
    "stored", ["ñandú@example.com", "a@b", "Evil <x@evil.example>", "a@example.com, b@x.example"]
)
def test_an_address_that_would_not_be_accepted_has_no_wire_form(stored):
    with pytest.raises(ValueError):
        validation.wire_address(stored)


# -- names and items --------------------------------------------------------------

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064\U000e0001\u3164\u115f\u1160"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Ana\u202e lamina", "Ana lamina"),
        ("\u2067evil\u2069.exe", "evil.exe"),
        ("abc\u202egpj.exe", "abcgpj.exe"),
        ("\u200fשלום\u200e", "שלום"),
        ("Al\u200bi\u2060ce\ufeff", "Alice"),
        ("Ro\u00adbert", "Robert"),
        ("ad\u200cmin", "admin"),  # no script here joins: the joiner only hides
        ("ad\u200dmin", "admin"),
        ("\u200d👩", "👩"),  # joins nothing
        ("👩\u200d", "👩"),
        # NFKC: compatibility forms read as what they look like.
        ("Ｆｕｌｌ ｗｉｄｔｈ", "Full width"),
        ("ﬁsh", "fish"),
        ("Ana\u00a0Lima", "Ana Lima"),
        ("e\u200b\u0301", "é"),  # what stripping brings together is composed
        # Whitespace of any kind, line breaks included, is one space.
        ("Evil\r\nBcc: x@evil.example", "Evil Bcc: x@evil.example"),
        ("a\u2028b\u2029c\x85d", "a b c d"),
    ],
)
def test_text_strips_bidi_controls_and_invisible_characters(typed, kept):
    assert validation.text(typed, "name", max_length=120) == kept


@pytest.mark.parametrize(
    "typed",
    [
        "👩‍🔧",  # woman, ZWJ, wrench
        "👩🏽‍🔧 fixes it",  # with a skin tone
        "🏳️‍🌈",  # white flag, VS16, ZWJ, rainbow
        "❤️‍🔥",
        "🧑‍🤝‍🧑",
        "☃︎ and ☃️",  # variation selectors alone
        "علی‌رضا",  # Persian: ZWNJ where the letters would otherwise join
        "क्‍ष",  # Devanagari: ZWJ after a virama
        "Zoë Ærøskøbing",
        "日本語の名前",
        "مرحبا بالعالم",
    ],
)
def test_text_keeps_what_writing_needs(typed):
    assert validation.text(typed, "name", max_length=120) == unicodedata.normalize("NFC", typed)


@pytest.mark.parametrize(
    "typed",
    [
        BIDI_CONTROLS,
        INVISIBLE,
        "\u200b \u200b",
        "\u202e \u2066 \u00ad",
        "\u3164",  # the Hangul filler: a letter that draws nothing
        "\u0301",  # a mark with nothing to mark
        "\u200d",
    ],
)
@pytest.mark.parametrize(
    ("field", "label", "message"),
    [
        ("name", None, "The name must contain visible characters."),
        ("item", "item name", "The item name must contain visible characters."),
    ],
)
def test_text_with_nothing_visible_is_refused(typed, field, label, message):
    error = refusal(validation.text, typed, field, max_length=200, label=label)
    assert (error.field, error.message) == (field, message)


def test_text_counts_its_length_after_cleaning():
    assert validation.text("\u200b" * 50 + "a" * 120, "name", max_length=120) == "a" * 120
    error = refusal(validation.text, "a" * 121, "name", max_length=120)
    assert error.message == "The name is longer than 120 characters."


def test_an_empty_text_is_still_empty():
    error = refusal(validation.text, "   ", "name", max_length=120)
    assert error.message == "The name cannot be empty."


# -- the free-text message -----------------------------------------------------------


def test_a_message_loses_its_bidi_controls_and_nothing_else():
    typed = "Hi!\u202e\nSee the\u2066 photo: gpj.exe\u2069\n\n👩‍🔧 ﬁne\u200b"
    assert validation.optional_text(typed, "message", max_length=2000) == (
        "Hi!\nSee the photo: gpj.exe\n\n👩‍🔧 ﬁne\u200b"
    )


def test_a_message_of_bidi_controls_alone_is_no_message():
    assert validation.optional_text(BIDI_CONTROLS + " \n", "message", max_length=2000) is None


# -- through the API -------------------------------------------------------------------


def test_the_api_cleans_an_item_and_refuses_an_invisible_one(api, make):
    lena = make.user("Lena", email="lena@example.com")
    created = api.post(
        "/loans",
        {
            "role": "lender",
            "counterparty_email": "bram@example.com",
            "item": "\u202eladder\u202c\u200b",
            "message": "Take \u2067care\u2069",
        },
        as_=lena,
    )
    assert created.status_code == 201, created.json
    assert created.json["item"] == "ladder"
    assert created.json["message"] == "Take care"

    refused = api.post(
        "/loans",
        {"role": "lender", "counterparty_email": "bram@example.com", "item": "\u202e\u200b\u2060"},
        as_=lena,
    )
    assert refused.status_code == 400
    assert refused.json["error"]["field"] == "item"
    assert refused.json["error"]["message"] == "The item name must contain visible characters."
