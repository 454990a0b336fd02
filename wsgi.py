"""The web's entry point for gunicorn (Procfile `web:`, deploy/systemd/mooch-web.service).

Logging is configured before the app is built, so LOG_FORMAT and LOG_LEVEL apply to
the app's own loggers in every gunicorn worker. gunicorn's own lines (gunicorn.error,
gunicorn.access) keep gunicorn's handlers and format.
"""

from __future__ import annotations

from app import create_app
from app.logs import configure_logging

configure_logging()
app = create_app()
