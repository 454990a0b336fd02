"""Page cursors: where a page of a list starts, as an opaque string.

A cursor holds a loan id and which side of it the page lies ("before": the older
loans, "after": the newer ones), signed with SECRET_KEY and salted per list. Signed,
so that every cursor read back is one this app made: a client cannot come to depend
on its format, nor hand in an edited one, which is refused with 400 naming `cursor`
rather than silently read from somewhere else. Rotating SECRET_KEY ends every cursor
handed out; a client then starts again from the first page.
"""

from __future__ import annotations

import re

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadData, URLSafeSerializer

from app.errors import InvalidInput

LISTS = ("loans", "finished")
SIDES = {"before": "<", "after": ">"}
POSITION = re.compile(r"([<>])([1-9][0-9]{0,9})")


def _serializer(name: str) -> URLSafeSerializer:
    if name not in LISTS:
        raise ValueError(name)
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"mooch-cursor-{name}")


def make_cursor(name: str, side: str, loan_id: int) -> str:
    return _serializer(name).dumps(f"{SIDES[side]}{loan_id}")


def read_cursor(name: str, cursor: object) -> tuple[str, int]:
    """(side, loan id) of a cursor that list `name` gave out; InvalidInput naming
    `cursor` for anything else, a cursor of another list included."""
    if not isinstance(cursor, str) or not cursor:
        raise InvalidInput(_("The cursor is empty."), field="cursor")
    try:
        position = _serializer(name).loads(cursor)
    except (BadData, UnicodeError):
        position = None
    found = POSITION.fullmatch(position) if isinstance(position, str) else None
    if found is None:
        raise InvalidInput(
            _("The cursor is not one this list gave out: start again from the first page."),
            field="cursor",
        )
    side = "before" if found.group(1) == "<" else "after"
    return side, int(found.group(2))
