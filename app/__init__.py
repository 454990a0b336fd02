"""Mooch: lend things to people you know.

create_app(config): configuration first, then extensions, blueprints and commands.
create_worker_app(config): the part of it a worker process needs, and no more.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")

# Importing this package (or app.logs, app.worker.supervisor) loads no framework:
# the worker's supervisor imports from it and stays small. create_app loads the rest.


def create_app(config: Mapping | None = None) -> Flask:
    """The web app: pages, API, admin, health, commands, on top of the core."""
    from app.extensions import csrf, db, login, migrate

    app = _core(config)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    login.init_app(app)
    csrf.init_app(app)

    from app import security

    security.init_app(app)  # headers, cookie flags, TRUSTED_PROXIES

    from app import after_response

    after_response.init_app(app)  # mail's jobs are enqueued once the response is sent

    from app import models

    @login.user_loader
    def load_user(user_id: str) -> models.User | None:
        # The cookie names a server-side session (app.accounts.sessions): one that was
        # logged out, ended elsewhere or has expired loads nobody, nor does an account
        # that may no longer log in.
        from flask import session

        from app.accounts import sessions

        user = sessions.user_for(session.get("sid"), "web")
        return user if user is not None and str(user.id) == user_id else None

    from app import api

    api.init_app(app)

    from app import web

    web.init_app(app)

    from app import error_handlers

    error_handlers.init_app(app)  # JSON under /api/, HTML pages elsewhere; 503 on a lost connection

    from app import throttle

    throttle.init_app(app)  # rate limits on the pages and the API, in Redis

    from app import metrics

    metrics.init_app(app)  # METRICS_TOKEN: /metrics for Prometheus, request timing

    from app import admin

    admin.init_app(app)  # /admin, for users with is_admin

    from app import health

    health.init_app(app)  # GET /healthz, after the rate limiter exists

    from app import hooks

    hooks.init_app(app)  # POST /hooks/mail/<provider>: providers' bounces and complaints

    from app import dev

    dev.init_app(app)  # /dev/mail, in development only

    from app import cli

    cli.init_app(app)
    return app


def _postgresql_options(app: Flask) -> None:
    """The pool and connection settings (config.py says what each is for)."""
    config = app.config
    options = config["SQLALCHEMY_ENGINE_OPTIONS"] = dict(config["SQLALCHEMY_ENGINE_OPTIONS"] or {})
    options.setdefault("pool_size", config["DATABASE_POOL_SIZE"])
    options.setdefault("max_overflow", config["DATABASE_MAX_OVERFLOW"])
    options.setdefault("pool_timeout", config["DATABASE_POOL_TIMEOUT"])
    options.setdefault("pool_recycle", config["DATABASE_POOL_RECYCLE"])
    connect_args = options["connect_args"] = dict(options.get("connect_args") or {})
    # An unreachable server must be an error within seconds (the worker, /healthz,
    # `worker.py status`), not a wait for the kernel's TCP timeout.
    connect_args.setdefault("connect_timeout", config["DATABASE_CONNECT_TIMEOUT"])
    if config["DATABASE_PGBOUNCER"]:
        # A server connection is ours for one transaction: a statement psycopg
        # prepared on it would be missing from the next one PgBouncer hands us.
        connect_args.setdefault("prepare_threshold", None)
    elif config["DATABASE_STATEMENT_TIMEOUT"]:
        connect_args.setdefault(
            "options", f"-c statement_timeout={config['DATABASE_STATEMENT_TIMEOUT']}"
        )


def create_worker_app(config: Mapping | None = None) -> Flask:
    """What `python worker.py` runs jobs in: the core (configuration, database, mail,
    queue, mail templates) without the pages, forms, API, rate limiter or commands."""
    return _core(config)


def _core(config: Mapping | None) -> Flask:
    from flask import Flask

    from app.extensions import db, mail
    from config import Config

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(Config())
    if config:
        app.config.update(config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "mooch.db")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A file on this machine does not drop connections: no ping per checkout.
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"] = dict(
            app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
        )
        options["pool_pre_ping"] = False
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        _postgresql_options(app)

    from app import error_tracking

    error_tracking.init_app(app)  # SENTRY_DSN: errors of web and worker to Sentry

    db.init_app(app)
    mail.init_app(app)

    from app import i18n

    i18n.init_app(app)  # each reader's language and time zone, pages and mail alike

    from app import jobqueue

    jobqueue.init_app(app)

    from app import models  # noqa: F401  (the mappers, before any query)
    from app.notifications.blueprint import blueprint as notifications_bp

    app.register_blueprint(notifications_bp)  # the mail templates
    return app
