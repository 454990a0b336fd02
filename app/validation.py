"""Input checks shared by the services: each failure is an InvalidInput naming its field."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import idna
from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from flask_babel import gettext as _

from app.errors import InvalidInput
from app.i18n import N_

# The fields as messages name them ("The item name cannot be empty."): messages of the
# catalogue, said in the reader's language; a field not listed is said as it is.
FIELD_NAMES = (N_("name"), N_("item"), N_("item name"), N_("message"), N_("note"))


def _said(label: str) -> str:
    return _(label)


# Control characters (but tab, newline and carriage return) and lone surrogates: no
# text of ours has them, and PostgreSQL refuses NUL outright.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


# Characters that reorder the text around them (Unicode's bidi embeddings, overrides,
# isolates and marks): "abc\u202egpj.exe" shows as "abcexe.jpg".
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Letters that draw nothing, the usual way to pass off a blank name as a name.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
_BRAILLE_BLANK = "\u2800"
_VARIATION_SELECTORS = frozenset("\ufe0e\ufe0f")
_SKIN_TONES = frozenset(map(chr, range(0x1F3FB, 0x1F400)))


def _pictograph_before(text: str, i: int) -> bool:
    """Whether an emoji (with any variation selector or skin tone) ends at text[i - 1]."""
    i -= 1
    while i >= 0 and (text[i] in _VARIATION_SELECTORS or text[i] in _SKIN_TONES):
        i -= 1
    return i >= 0 and unicodedata.category(text[i]) == "So"


def _joins(text: str, i: int) -> bool:
    """Whether the zero-width (non-)joiner at text[i] is part of the writing: inside an
    emoji sequence ("👩‍🔧"), or where RFC 5892's CONTEXTJ rules allow one (after a
    virama in Indic scripts; between letters that join, as ZWNJ is used in Persian)."""
    if (
        text[i] == "\u200d"
        and _pictograph_before(text, i)
        and i + 1 < len(text)
        and unicodedata.category(text[i + 1]) == "So"
    ):
        return True
    try:
        return idna.valid_contextj(text, i)
    except ValueError:  # a neighbour unknown to its tables, or a text over its limit
        return False


def _without_invisibles(value: str) -> str:
    """Bidi controls and every other format character (zero-width spaces, word joiners,
    byte-order marks, soft hyphens, tags...) removed, but for the joiners writing
    needs; variation selectors are not format characters and stay. Then NFKC, so that
    compatibility forms (fullwidth letters, ligatures) read as what they look like."""
    kept = "".join(
        char
        for i, char in enumerate(value)
        if char not in _BLANK_LETTERS
        and (unicodedata.category(char) != "Cf" or (char in "\u200c\u200d" and _joins(value, i)))
    )
    return unicodedata.normalize("NFKC", kept)


def _draws(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNPS" and char != _BRAILLE_BLANK


def _printable(value: str, field: str) -> str:
    if _UNPRINTABLE.search(value):
        label = _said(field.replace("_", " "))
        raise InvalidInput(
            _("The %(label)s contains characters we cannot store.", label=label), field=field
        )
    return value


def _checked_address(value: str) -> ValidatedEmail:
    # No SMTPUTF8: a non-ASCII local part has no ASCII form, and a relay without the
    # extension would refuse or mangle it. Such an address is refused at the door. An
    # internationalized domain is fine: it has an ASCII (IDNA) form for the wire.
    return validate_email(value, check_deliverability=False, allow_smtputf8=False)


def email_address(value: object, field: str = "email") -> str:
    """The address as stored and shown: normalized, lower case, its domain in Unicode."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(_("An email address is required."), field=field)
    try:
        checked = _checked_address(value.strip())
    except EmailNotValidError as exc:
        raise InvalidInput(
            _(
                "%(value)s is not a valid email address: %(why)s",
                value=repr(value.strip()),
                why=exc,
            ),
            field=field,
        ) from None
    # One account per address however it is typed.
    return checked.normalized.lower()


def wire_address(address: str) -> str:
    """A stored address as SMTP and the headers carry it: ASCII, an internationalized
    domain in its IDNA (Punycode) form. Raises EmailNotValidError, a ValueError, for
    an address that email_address would refuse."""
    return _checked_address(address).ascii_email


def text(value: object, field: str, *, max_length: int, label: str | None = None) -> str:
    label = _said(label or field.replace("_", " "))
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(_("The %(label)s cannot be empty.", label=label), field=field)
    value = _printable(" ".join(value.split()), field)
    value = " ".join(_without_invisibles(value).split())
    if not any(map(_draws, value)):
        raise InvalidInput(
            _("The %(label)s must contain visible characters.", label=label), field=field
        )
    if len(value) > max_length:
        raise InvalidInput(
            _("The %(label)s is longer than %(num)d characters.", label=label, num=max_length),
            field=field,
        )
    return value


def optional_text(value: object, field: str, *, max_length: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput(_("The %(label)s must be text.", label=_said(field)), field=field)
    # Free text keeps its line breaks and every other character, but none may reorder
    # what the reader sees.
    value = _printable(_BIDI_CONTROLS.sub("", value).strip(), field)
    if not value:
        return None
    if len(value) > max_length:
        raise InvalidInput(
            _(
                "The %(label)s is longer than %(num)d characters.",
                label=_said(field),
                num=max_length,
            ),
            field=field,
        )
    return value


def due_date(value: object, today: date, field: str = "due_date") -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                _("%(value)s is not a date (use YYYY-MM-DD).", value=repr(value)), field=field
            ) from None
    if not isinstance(value, date):
        raise InvalidInput(_("A due date is required (YYYY-MM-DD)."), field=field)
    if value < today:
        raise InvalidInput(_("The due date is in the past."), field=field)
    return value
