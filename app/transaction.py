"""Committing a change, with concurrent-change failures turned into Conflict."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.errors import Conflict
from app.extensions import db


def commit() -> None:
    """Commit the session; if another transaction changed the same row first, roll
    back everything this one wrote (state, audit rows, notifications) and raise."""
    try:
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise Conflict("Someone else changed this first. Reload and try again.") from exc
    except OperationalError as exc:
        db.session.rollback()
        # SQLite reports a write that lost the race for the file lock like this.
        if "database is locked" in str(exc):
            raise Conflict("Someone else changed this first. Reload and try again.") from exc
        raise
    except IntegrityError:
        db.session.rollback()
        raise


def flush() -> None:
    """Flush early (to learn ids), with the same conflict handling as commit."""
    try:
        db.session.flush()
    except StaleDataError as exc:
        db.session.rollback()
        raise Conflict("Someone else changed this first. Reload and try again.") from exc
