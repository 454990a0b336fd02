"""Input checks shared by the services: each failure is an InvalidInput naming its field."""

from __future__ import annotations

import re
from datetime import date

from email_validator import EmailNotValidError, validate_email

from app.errors import InvalidInput

MIN_PASSWORD = 8
# Control characters (but tab, newline and carriage return) and lone surrogates: no
# text of ours has them, and PostgreSQL refuses NUL outright.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _printable(value: str, field: str) -> str:
    if _UNPRINTABLE.search(value):
        label = field.replace("_", " ")
        raise InvalidInput(f"The {label} contains characters we cannot store.", field=field)
    return value


def email_address(value: object, field: str = "email") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("An email address is required.", field=field)
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"{value.strip()!r} is not a valid email address: {exc}", field=field
        ) from None
    # One account per address however it is typed.
    return checked.normalized.lower()


def text(value: object, field: str, *, max_length: int, label: str | None = None) -> str:
    label = label or field.replace("_", " ")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"The {label} cannot be empty.", field=field)
    value = _printable(" ".join(value.split()), field)
    if len(value) > max_length:
        raise InvalidInput(f"The {label} is longer than {max_length} characters.", field=field)
    return value


def optional_text(value: object, field: str, *, max_length: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"The {field} must be text.", field=field)
    value = _printable(value.strip(), field)
    if len(value) > max_length:
        raise InvalidInput(f"The {field} is longer than {max_length} characters.", field=field)
    return value


def password(value: object, field: str = "password") -> str:
    if not isinstance(value, str) or len(value) < MIN_PASSWORD:
        raise InvalidInput(f"The password needs at least {MIN_PASSWORD} characters.", field=field)
    if len(value) > 1024:
        raise InvalidInput("The password is too long.", field=field)
    return value


def due_date(value: object, today: date, field: str = "due_date") -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"{value!r} is not a date (use YYYY-MM-DD).", field=field) from None
    if not isinstance(value, date):
        raise InvalidInput("A due date is required (YYYY-MM-DD).", field=field)
    if value < today:
        raise InvalidInput("The due date is in the past.", field=field)
    return value
