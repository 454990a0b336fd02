"""Errors reach people (issue 13): with SENTRY_DSN set, sentry-sdk reports from the web
and the worker alike, with its Flask and RQ integrations. Off by default, and then not
even imported (the worker's idle memory is measured in `make bench`).

What arrives: every unhandled exception of a request (the 500 page), every job that
raised, and every log line at ERROR or above, which includes a mail's final failure
("delivery notification=<id> ... outcome=failed"). Lines at INFO and WARNING become
breadcrumbs on the next event. No request bodies, cookies or user data are sent
(`send_default_pii` stays off); a mail server's refusal quoted in a log line may
name the address it refused.
"""

from __future__ import annotations

import logging

from flask import Flask


def init_app(app: Flask) -> None:
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    client = sentry_sdk.get_client()
    if client.is_active() and client.dsn == dsn:
        return  # the process made another app with the same settings (tests, CLI)
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config["SENTRY_ENVIRONMENT"],
        release=app.config.get("SENTRY_RELEASE") or None,
        integrations=[
            FlaskIntegration(),
            RqIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        send_default_pii=False,
        traces_sample_rate=app.config["SENTRY_TRACES_SAMPLE_RATE"],
    )
