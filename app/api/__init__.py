"""The JSON API under /api/v1 (docs/architecture.md, "The JSON API").

spec.py      the contract: body schemas, the table of operations, the OpenAPI document
views.py     thin views routed from that table: body → service → serializer
body.py      reading and validating a request body
auth.py      bearer tokens
serializers.py   rows to JSON
errors.py    every error as JSON
"""

from __future__ import annotations

from flask import Flask

from app.api.views import api
from app.extensions import csrf


def init_app(app: Flask) -> None:
    # Bearer tokens, not cookies: no cross-site request can carry one.
    csrf.exempt(api)
    app.register_blueprint(api)
    # Its rate limits are app.throttle's, shared with the web pages.
