"""What a password must be, and checking one without telling who has an account.

Strength is judged offline by zxcvbn (common passwords, dictionary words, keyboard
walks, dates, and the person's own name and address), never by a network service.
"""

from __future__ import annotations

from functools import cache

from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 1024
# zxcvbn refuses longer input and slows down with length; 72 characters of a password
# that passed the length rule are plenty to judge it by.
JUDGED_LENGTH = 72
# zxcvbn's 0-4 scale: 3 is "safely unguessable: moderate protection from offline attacks".
MIN_SCORE = 3


def check(password: object, *, known: tuple[str, ...] = (), field: str = "password") -> str:
    """The password if it is long enough and hard to guess; otherwise InvalidInput
    on `field` saying why. `known` are words the person's password must not lean on
    (their name, their address)."""
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise InvalidInput(f"The password needs at least {MIN_LENGTH} characters.", field=field)
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"The password is longer than {MAX_LENGTH} characters.", field=field)
    # Imported here, not at the top: its dictionaries take ~15 MB, which the worker
    # (it never judges a password) should not carry under its memory cap.
    from zxcvbn import zxcvbn

    words = [w for value in known if value for w in (value, *value.replace("@", " ").split())]
    result = zxcvbn(password[:JUDGED_LENGTH], user_inputs=words, max_length=JUDGED_LENGTH)
    if result["score"] < MIN_SCORE:
        raise InvalidInput(_why(result), field=field)
    return password


def _why(result: dict) -> str:
    feedback = result.get("feedback") or {}
    warning = (feedback.get("warning") or "").strip()
    hints = " ".join(s.strip() for s in feedback.get("suggestions") or () if s.strip())
    reason = warning or "This password is too easy to guess."
    if not reason.endswith("."):
        reason += "."
    return f"{reason} {hints or 'Add another word or two; uncommon words are better.'}"


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
