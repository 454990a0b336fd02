"""Sending over one SMTP connection kept open across jobs.

Flask-Mail opens a connection per `mail.send`; a worker delivering thousands of
messages should not. The Mailer keeps one Flask-Mail Connection per app (the worker
creates its app once), checks an idle connection with NOOP before reuse, and drops it
after any failure so the next delivery reconnects. Every socket has a timeout.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
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


class SendAborted(Exception):
    """The worker is shutting down and its grace period ran out: this message was not
    (or not known to be) accepted, and goes back to the queue."""


class Mailer:
    def __init__(self, app: Flask) -> None:
        self._mail = app.extensions["mail"]
        self._timeout = app.config["MAIL_TIMEOUT"]
        self._connection: TimeoutConnection | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()
        self._aborted = threading.Event()
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
                if self._aborted.is_set():
                    raise SendAborted("the worker is shutting down")
                self._connected().send(message)
            except BaseException as exc:
                # Whatever state the session is in now, do not reuse it.
                self._drop()
                if self._aborted.is_set() and not isinstance(exc, SendAborted):
                    raise SendAborted(f"the worker is shutting down ({exc!r})") from exc
                raise
            self._last_used = time.monotonic()

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    def abort(self) -> None:
        """From another thread: fail the send in progress now (its socket is shut down
        under it) and every later one. Without the lock, which the send holds; call it
        again if a connection was still being opened."""
        self._aborted.set()
        connection = self._connection
        sock = getattr(connection.host, "sock", None) if connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

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
