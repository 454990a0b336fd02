"""Reading a request's query string against the parameters its operation documents
(spec.Query): each refusal is a 400 InvalidInput naming the parameter at fault.

As with bodies, a parameter the operation does not know is refused rather than
ignored, so that a typo (`limt=10`) is not silently a page of the default size.
"""

from __future__ import annotations

import re

from flask import request
from jsonschema import Draft202012Validator

from app.api.spec import Operation
from app.errors import InvalidInput

INTEGER = re.compile(r"-?[0-9]+")


def read(op: Operation) -> dict:
    """The operation's parameters by name, converted to their schema's type; an
    absent one is its schema's default, or left out when it has none."""
    known = {q.name: q for q in op.query}
    for name in request.args:
        if name not in known:
            names = ", ".join(known) or "none"
            raise InvalidInput(
                f"Unknown query parameter {name!r}; the parameters are {names}.", field=name
            )
    values = {}
    for name, q in known.items():
        given = request.args.getlist(name)
        if not given:
            if "default" in q.schema:
                values[name] = q.schema["default"]
            continue
        if len(given) > 1:
            raise InvalidInput(f"Give the {name} once.", field=name)
        values[name] = _value(name, given[0], q.schema)
    return values


def _value(name: str, raw: str, schema: dict) -> object:
    value: object = raw
    if schema["type"] == "integer":
        if not INTEGER.fullmatch(raw):
            raise InvalidInput(f"The {name} must be a whole number.", field=name)
        # Any bound the document can state fits in 20 digits; int() of thousands
        # of them is slow, and refused past 4,300.
        value = int(raw) if len(raw) <= 20 else (-1 if raw[0] == "-" else 1) * 10**21
    error = next(Draft202012Validator(schema).iter_errors(value), None)
    if error is None:
        return value
    if error.validator in ("minimum", "maximum"):
        bounds = [f"at least {schema['minimum']}"] if "minimum" in schema else []
        bounds += [f"at most {schema['maximum']}"] if "maximum" in schema else []
        raise InvalidInput(f"The {name} must be {' and '.join(bounds)}.", field=name)
    if error.validator == "minLength":
        raise InvalidInput(f"The {name} cannot be empty.", field=name)
    if error.validator == "maxLength":
        raise InvalidInput(
            f"The {name} is longer than {schema['maxLength']} characters.", field=name
        )
    raise InvalidInput(f"The {name} is not valid: {error.message}", field=name)
