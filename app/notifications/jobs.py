"""The one RQ job: deliver a notification by id.

`python worker.py` runs every job inside the app context of the app it created at
start-up (Flask's Celery pattern). Run by anything else, such as a stock `rq worker`
that forks per job, the job builds an app for its own process first.
"""

from __future__ import annotations

from flask import Flask, has_app_context

from app.notifications.delivery import deliver

_process_app: Flask | None = None


def _app() -> Flask:
    global _process_app
    if _process_app is None:
        from app import create_worker_app

        _process_app = create_worker_app()
    return _process_app


def deliver_notification(notification_id: int) -> str:
    if has_app_context():
        return deliver(notification_id)
    with _app().app_context():
        return deliver(notification_id)
