"""Extensions, created unbound; create_app binds them.

`db` and `mail` are what the worker needs. `login`, `csrf` and `migrate` belong to
the web app (and the `flask db` commands): they are made on first use (PEP 562), so
that a worker process never imports Flask-Login, Flask-WTF or Alembic.
"""

from __future__ import annotations

from typing import Any

from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so that migrations can drop and alter them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
mail = Mail()


def __getattr__(name: str) -> Any:
    if name == "login":
        from flask_login import LoginManager

        made: Any = LoginManager()
    elif name == "csrf":
        from flask_wtf import CSRFProtect

        made = CSRFProtect()
    elif name == "migrate":
        from flask_migrate import Migrate

        made = Migrate()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = made
    return made


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """WAL and a busy timeout, so a worker's write never blocks the web's reads and
    two writers wait for each other instead of failing at once."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL loses no committed transaction when a process dies, only
        # (perhaps) the last ones if the machine loses power; it saves an fsync a commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
