"""Reading a request body: JSON, an object, valid against its schema in spec.py.

Every refusal is a 400 InvalidInput naming the field at fault, or a 415 when the
body is not JSON at all; a body over MAX_CONTENT_LENGTH is a 413 from Werkzeug.
"""

from __future__ import annotations

import json

from flask import request
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from app.errors import InvalidInput

# Email addresses are checked by the services (email-validator), far more closely
# than a format check could; dates are checked here so that "20240101" and other
# ISO 8601 forms that date.fromisoformat would take are refused, as the document says.
FORMATS = FormatChecker(formats=("date",))


def read(schema: dict) -> dict:
    if not request.is_json:
        raise UnsupportedMediaType("Send a JSON body with Content-Type: application/json.")
    try:
        body = json.loads(request.get_data(), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InvalidInput("The body is not valid JSON.") from None
    _validate(body, schema)
    for field, value in body.items():
        if isinstance(value, str) and not _storable(value):
            raise InvalidInput(
                f"The {field} contains a NUL character or an unpaired surrogate.", field=field
            )
    return body


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _storable(text: str) -> bool:
    """PostgreSQL refuses NUL in text, and no database can store a lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _validate(body: object, schema: dict) -> None:
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    order = list(schema["properties"])
    try:
        errors = list(validator.iter_errors(body))
    except RecursionError:
        raise InvalidInput("The body is nested too deeply.") from None
    if not errors:
        return

    def rank(error: ValidationError) -> tuple:
        field = error.path[0] if error.path else None
        return (len(error.path), order.index(field) if field in order else len(order))

    raise _explain(min(errors, key=rank), schema)


def _explain(error: ValidationError, schema: dict) -> InvalidInput:
    """A message a person can act on, naming the field, for the first thing wrong."""
    keyword, value = error.validator, error.validator_value
    if not error.path:
        if keyword == "required":
            missing = next(f for f in value if f not in error.instance)
            return InvalidInput(f"The {missing} is required.", field=missing)
        if keyword == "additionalProperties":
            unknown = sorted(set(error.instance) - set(schema["properties"]))[0]
            known = ", ".join(schema["properties"])
            return InvalidInput(
                f"Unknown field {unknown!r}; the fields are {known}.", field=unknown
            )
        return InvalidInput("The body must be a JSON object.")
    field = str(error.path[0])
    if keyword == "type":
        kinds = value if isinstance(value, list) else [value]
        wanted = " or ".join("text" if k == "string" else k for k in kinds)
        return InvalidInput(f"The {field} must be {wanted}.", field=field)
    if keyword == "enum":
        return InvalidInput(
            f"The {field} must be one of: {', '.join(map(str, value))}.", field=field
        )
    if keyword == "minLength":
        if value <= 1:
            return InvalidInput(f"The {field} cannot be empty.", field=field)
        return InvalidInput(f"The {field} needs at least {value} characters.", field=field)
    if keyword == "maxLength":
        return InvalidInput(f"The {field} is longer than {value} characters.", field=field)
    if keyword == "format":
        return InvalidInput(f"{error.instance!r} is not a date (use YYYY-MM-DD).", field=field)
    if keyword in ("minimum", "maximum"):
        return InvalidInput(f"The {field} is out of range.", field=field)
    return InvalidInput(f"The {field} is not valid: {error.message}", field=field)
