"""Sending over one SMTP connection kept open across jobs.

Flask-Mail opens a connection per `mail.send`; a worker delivering thousands of
messages should not. The Mailer keeps one Flask-Mail Connection per app (the worker
creates its app once), checks an idle connection with NOOP before reuse, and drops it
after any failure so the next delivery reconnects. Every socket has a timeout.
"""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time

from flask import Flask, current_app
from flask_mail import Connection, Message

# A connection idle this long may have been dropped by the server: NOOP before using it.
# While a queue drains there is no NOOP; after any pause there is one, which is cheap.
IDLE_CHECK_SECONDS = 1.0


class TimeoutConnection(Connection):
    """Flask-Mail's connection, with a socket timeout so a dead server is an error."""

    def __init__(self, mail, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        m = self.mail
        cls = smtplib.SMTP_SSL if m.use_ssl else smtplib.SMTP
        host = cls(m.server, m.port, timeout=self.timeout)
        host.set_debuglevel(int(m.debug))
        if m.use_tls:
            host.starttls()
        if m.username and m.password:
            host.login(m.username, m.password)
        return host


class Mailer:
    def __init__(self, app: Flask) -> None:
        self._mail = app.extensions["mail"]
        self._timeout = app.config["MAIL_TIMEOUT"]
        self._connection: TimeoutConnection | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()
        self.connects = 0

    def _connected(self) -> TimeoutConnection:
        if self._connection is not None and time.monotonic() - self._last_used > IDLE_CHECK_SECONDS:
            try:
                self._connection.host.noop()
            except (smtplib.SMTPException, OSError):
                self._drop()
        if self._connection is None:
            connection = TimeoutConnection(self._mail, self._timeout)
            connection.__enter__()
            self._connection = connection
            self.connects += 1
        return self._connection

    def send(self, message: Message) -> None:
        with self._lock:
            try:
                self._connected().send(message)
            except BaseException:
                # Whatever state the session is in now, do not reuse it.
                self._drop()
                raise
            self._last_used = time.monotonic()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.host is not None:
            with contextlib.suppress(OSError):
                connection.host.close()

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None and connection.host is not None:
                try:
                    connection.host.quit()
                except (smtplib.SMTPException, OSError):
                    connection.host.close()


def mailer_for(app: Flask | None = None) -> Mailer:
    app = app or current_app._get_current_object()
    mailer = app.extensions.get("mooch_mailer")
    if mailer is None:
        mailer = app.extensions["mooch_mailer"] = Mailer(app)
    return mailer
