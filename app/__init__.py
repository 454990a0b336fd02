"""Mooch: lend things to people you know.

create_app(config): configuration first, then extensions, blueprints and commands.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import csrf, db, login, mail, migrate

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


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


def create_app(config: Mapping | None = None) -> Flask:
    from config import Config

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(Config())
    if config:
        app.config.update(config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "mooch.db")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # An unreachable server must be an error within seconds (the worker, /healthz,
        # `worker.py status`), not a wait for the kernel's TCP timeout.
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        connect_args = options.setdefault("connect_args", {})
        connect_args.setdefault("connect_timeout", app.config["DATABASE_CONNECT_TIMEOUT"])

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    mail.init_app(app)
    login.init_app(app)
    csrf.init_app(app)

    from app.notifications import queue

    queue.init_app(app)

    from app import models

    @login.user_loader
    def load_user(user_id: str) -> models.User | None:
        # A session outlives a closed account: only an account that may log in loads.
        user = db.session.get(models.User, int(user_id))
        return user if user is not None and user.is_active else None

    from app.notifications import blueprint as notifications_bp

    app.register_blueprint(notifications_bp)

    from app import api

    api.init_app(app)

    from app import web

    web.init_app(app)

    from app import admin

    admin.init_app(app)  # /admin, for users with is_admin

    from app import health

    health.init_app(app)  # GET /healthz, after the API's rate limiter exists

    from app import dev

    dev.init_app(app)  # /dev/mail, in development only

    from app import cli

    cli.init_app(app)
    return app
