"""Development-only pages: the mail the local catcher kept, readable in the browser.

Registered by create_app only when MOOCH_ENV is "development"; anywhere else the
routes do not exist at all (404), so there is nothing to misconfigure in production.
"""

from __future__ import annotations

from flask import Flask

from app.dev.views import dev


def init_app(app: Flask) -> None:
    if app.config.get("MOOCH_ENV") == "development":
        app.register_blueprint(dev)
