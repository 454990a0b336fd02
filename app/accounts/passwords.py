"""What a password must be, and checking one without telling who has an account.

Strength is judged offline by zxcvbn (common passwords, dictionary words, keyboard
walks, dates, and the person's own name and address), never by a network service.
"""

from __future__ import annotations

from functools import cache

from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from app import i18n
from app.errors import InvalidInput
from app.i18n import N_

MIN_LENGTH = 12
MAX_LENGTH = 1024
# zxcvbn refuses longer input and slows down with length; 72 characters of a password
# that passed the length rule are plenty to judge it by.
JUDGED_LENGTH = 72
# zxcvbn's 0-4 scale: 3 is "safely unguessable: moderate protection from offline attacks".
MIN_SCORE = 3
TOO_EASY = N_("This password is too easy to guess.")
ADD_WORDS = N_("Add another word or two; uncommon words are better.")


def check(password: object, *, known: tuple[str, ...] = (), field: str = "password") -> str:
    """The password if it is long enough and hard to guess; otherwise InvalidInput
    on `field` saying why. `known` are words the person's password must not lean on
    (their name, their address)."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise InvalidInput(
            _("The password needs at least %(num)d characters.", num=MIN_LENGTH), field=field
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            _("The password is longer than %(num)d characters.", num=MAX_LENGTH), field=field
        )
    # Imported here, not at the top: its dictionaries take ~15 MB, which the worker
    # (it never judges a password) should not carry under its memory cap.
    from zxcvbn import zxcvbn

    words = [w for value in known if value for w in (value, *value.replace("@", " ").split())]
    result = zxcvbn(password[:JUDGED_LENGTH], user_inputs=words, max_length=JUDGED_LENGTH)
    if result["score"] < MIN_SCORE:
        raise InvalidInput(_why(result), field=field)
    return password


def _why(result: dict) -> str:
    if i18n.current_locale() != i18n.SOURCE:
        # zxcvbn's advice is in English only: the reader's language says it plainly.
        return f"{_(TOO_EASY)} {_(ADD_WORDS)}"
    feedback = result.get("feedback") or {}
    warning = (feedback.get("warning") or "").strip()
    hints = " ".join(s.strip() for s in feedback.get("suggestions") or () if s.strip())
    reason = warning or TOO_EASY
    if not reason.endswith("."):
        reason += "."
    return f"{reason} {hints or ADD_WORDS}"


@cache
def _dummy_hash() -> str:
    # Hashed with the same method and cost as real ones, so checking against it
    # takes as long as checking against a real account.
    return generate_password_hash("not anyone's password")


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`. Always does one full hash check, also
    when there is no hash (no such account, or one nobody has chosen a password for
    yet), so that the time taken does not tell those cases apart."""
    if stored_hash is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(stored_hash, password)
