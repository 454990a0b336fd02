"""Admin pages, for users with `is_admin` (made by `flask create-admin`).

views.py    /admin/ (the index), /admin/notifications (the outbox by status, with its
            errors, and retry buttons), /admin/rq (workers, queues, RQ's failed jobs)
"""

from __future__ import annotations

from flask import Flask

from app.admin.views import admin


def init_app(app: Flask) -> None:
    app.register_blueprint(admin)
