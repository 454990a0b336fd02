"""One service action, one database transaction: all of it commits, or none of it.
And its opposite, for a write that must not wait for one: `autocommit`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_babel import gettext as _
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.errors import Conflict
from app.extensions import db
from app.i18n import N_

LOST_RACE = N_("Someone else changed this first. Reload and try again.")


@contextmanager
def atomic() -> Iterator[None]:
    """Commit what the block wrote, or roll all of it back (state, audit rows,
    notifications) if anything in it raises. Another transaction having changed the
    same row first, noticed at any flush in the block or at commit, is a Conflict."""
    try:
        yield
        db.session.commit()
    except StaleDataError as exc:
        db.session.rollback()
        raise Conflict(_(LOST_RACE)) from exc
    except OperationalError as exc:
        db.session.rollback()
        # SQLite's way of saying that a write lost the race for the database file.
        if "database is locked" in str(exc):
            raise Conflict(_(LOST_RACE)) from exc
        raise
    except BaseException:
        db.session.rollback()
        raise


@contextmanager
def autocommit() -> Iterator[Connection]:
    """A connection of the block's own on which each statement commits as it runs,
    whatever the session holds: no transaction, so no lock is held from one statement
    to the next, nor across Python code between them (the outcome of a send, a
    bounce: writes that another worker's may race)."""
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection
