"""Sending over one SMTP connection kept open across jobs, and what goes over it.

Flask-Mail opens a connection per `mail.send`; a worker delivering thousands of
messages should not. The Mailer keeps one Flask-Mail Connection per sending thread
and drops it after any failure so the next delivery reconnects. Every socket has a
timeout. A kept connection is used without a NOOP first (a round trip on every mail
after a pause): if the server has closed it meanwhile, that shows before the server
has taken anything of the message (`StaleConnection`), and the message goes again,
once, on a new connection.

What it sends is an OutgoingMessage: a Flask-Mail Message that is well-formed on the
wire whatever text it carries (see its docstring).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import smtplib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from email.charset import QP, SHORTEST, Charset
from email.encoders import encode_base64
from email.headerregistry import HeaderRegistry
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import EmailPolicy, Policy
from email.utils import formatdate
from functools import lru_cache

from flask import Flask, current_app
from flask_mail import BadHeaderError, Connection, Message, email_dispatched

# RFC 5322 2.1.1: lines SHOULD be at most 78 characters (998 is the hard limit, which
# an SMTP server enforces by refusing the message). RFC 2047 2: an encoded-word is at
# most 75 characters.
LINE = 78
ENCODED_WORD = 75

# Our own utf-8: Flask-Mail registers the global one with no body encoding (8bit, lines
# as long as the text's). Quoted-printable bodies stay readable and have no line over
# 76 characters, whatever a person typed; headers get whichever of Q and B is shorter.
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP
UTF8.header_encoding = SHORTEST

# A word that can stand as it is: atext in a display name (RFC 5322 3.2.3), any
# printable ASCII in unstructured text such as the Subject. A word holding "=?" could be
# read as an encoded-word, so it is encoded like anything else.
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_VCHARS = re.compile(r"[!-~]+")
# What an address must look like by the time it is written: a dot-atom local part and
# an ASCII domain, as email-validator gives them (app.validation.wire_address).
_ADDR_SPEC = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


_HEADERS = HeaderRegistry()


def _bare(address: str) -> str:
    if not _ADDR_SPEC.fullmatch(address):
        raise ValueError(f"not a bare ASCII address: {address!r}")
    return address


def _plain_words(text: str, pattern: re.Pattern, first_room: int) -> list[str] | None:
    words = text.split(" ")
    fits = all(
        pattern.fullmatch(word) and "=?" not in word and len(word) <= LINE - 1 for word in words
    )
    return words if fits and len(words[0]) <= first_room else None


def _encoded_words(text: str, first_room: int) -> list[str]:
    rooms: Iterator[int] = iter([min(first_room, ENCODED_WORD)] + [ENCODED_WORD] * len(text))
    return UTF8.header_encode_lines(text, rooms)


def _words(text: str, pattern: re.Pattern, first_room: int) -> list[str]:
    """`text` as the words of a header: itself if every word can stand as it is,
    otherwise encoded-words (RFC 2047) holding all of it, so a reader decodes exactly
    `text` and nothing in it is read as syntax."""
    return _plain_words(text, pattern, first_room) or _encoded_words(text, first_room)


def _fold(name: str, words: Sequence[str]) -> list[str]:
    lines = [f"{name}:"]
    for word in words:
        if lines[-1] == f"{name}:" or len(lines[-1]) + 1 + len(word) <= LINE:
            lines[-1] += f" {word}"
        else:
            lines.append(f" {word}")
    return lines


class PreparedHeader(str):
    """A header encoded and folded here; as a string, its decoded text.

    The email package stores a value that has a `name` as it is and writes it with the
    value's own `fold` (the header-object protocol of email.policy), so neither its
    parser nor its folder sees the text. Both are unsafe with text chosen by users on
    this Python: the parser decodes an encoded-word lookalike in a name, and the folder
    can drop the quotes around a long display name, turning the commas and angle
    brackets inside it into more recipients (CPython gh-80222).
    """

    name: str
    lines: list[str]

    def __new__(cls, name: str, text: str, words: Sequence[str]) -> PreparedHeader:
        header = super().__new__(cls, text)
        header.name = name
        header.lines = _fold(name, words)
        return header

    def fold(self, *, policy: Policy) -> str:
        return policy.linesep.join(self.lines) + policy.linesep


def unstructured(name: str, text: str) -> PreparedHeader:
    text = " ".join(text.split())  # a header never needs a line break of its own
    return PreparedHeader(name, text, _words(text, _VCHARS, LINE - len(name) - 2))


def mailboxes(name: str, pairs: Sequence[tuple[str | None, str]]) -> PreparedHeader:
    """An address header naming exactly `pairs` of (display name or None, ASCII
    address): a display name can hold anything, and only ever reads back as itself."""
    words: list[str] = []
    shown: list[str] = []
    for display, address in pairs:
        _bare(address)
        # Only the header's first word must fit beside its name; later ones can
        # start a line of their own.
        room = LINE - 1 if words else LINE - len(name) - 2
        if words:
            words[-1] += ","
        display = " ".join((display or "").split())
        if display:
            words += _words(display, _ATOM, room)
            words.append(f"<{address}>")
            shown.append(f"{display} <{address}>")
        else:
            words.append(address)
            shown.append(address)
    return PreparedHeader(name, ", ".join(shown), words)


class _WritePolicy(EmailPolicy):
    """policy.SMTP for writing a message we built, without parsing its headers back
    each time the generator reads one (Content-Type alone is read several times a
    part): a header object from `unstructured`/`mailboxes` is returned as it is, any
    other as the text the email package stored. A tenth of a millisecond each, about
    one per mail, saved."""

    def header_fetch_parse(self, name, value):
        return value

    # Every header the email package stored as text is ours and structured: ids,
    # links, MIME parameters (Subject, From and To are PreparedHeaders, which fold
    # themselves). Its folder would encode such a value once past 78 characters, and
    # an encoded-word in List-Unsubscribe or References is no link and no thread to a
    # mail client. Written as it is, folded only at its spaces.
    def fold(self, name, value):
        if _as_written(value):
            return self.linesep.join(_fold(name, value.split(" "))) + self.linesep
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if _as_written(value):
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


def _as_written(value) -> bool:
    return type(value) is str and value.isascii() and "\r" not in value and "\n" not in value


WRITE_POLICY = _WritePolicy(linesep="\r\n")


@lru_cache(maxsize=8)
def _sender_pair(sender: str) -> tuple[str | None, str]:
    """The configured sender, "Name <address>", read once by the strict parser."""
    parsed = _HEADERS("From", sender).addresses
    if len(parsed) != 1:
        raise ValueError(f"the sender must be one address: {sender!r}")
    return parsed[0].display_name or None, parsed[0].addr_spec


class OutgoingMessage(Message):
    """A Flask-Mail Message that is well-formed on the wire whatever text it carries.

    - Bodies are quoted-printable, so no body line is longer than 76 characters
      however long a line someone typed (an SMTP server refuses a line over 998).
    - Subject, From and To are encoded and folded by `unstructured` and `mailboxes`,
      never by Flask-Mail or the email package from a display string.
    - The envelope is `to` itself, each a bare ASCII address, given to SMTP as it is:
      Flask-Mail would re-parse each recipient's display string with parseaddr, whose
      leniency on this Python (CVE-2023-27043) lets a display name choose the address.
    """

    def __init__(
        self,
        *,
        to: Sequence[tuple[str | None, str]],
        msg_id: str,
        subject: str = "",
        body: str | None = None,
        html: str | None = None,
        sender: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        # Flask-Mail's Message.__init__, which also makes a Message-ID with
        # email.utils.make_msgid: socket.getfqdn(), a reverse DNS lookup on every mail
        # (seconds where DNS is slow), for an id ours replaces. The attributes are its
        # own (tests/test_mail_format.py checks they still are).
        sender = sender or current_app.extensions["mail"].default_sender
        self.recipients = [address for _, address in to]
        self.subject = subject
        self.sender = sender
        self.reply_to = None
        self.cc: list = []
        self.bcc: list = []
        self.body = body
        self.alts: dict[str, str] = {}
        self.html = html
        self.date: float | None = None
        self.msgId = msg_id
        self.charset = None
        self.extra_headers = extra_headers
        self.mail_options: list[str] = []
        self.rcpt_options: list[str] = []
        self.attachments: list = []
        self.to = list(to)
        self.sender_pair = _sender_pair(self.sender)
        for _, address in [self.sender_pair, *self.to]:
            _bare(address)

    @property
    def envelope_from(self) -> str:
        return self.sender_pair[1]

    @property
    def envelope_to(self) -> list[str]:
        return [address for _, address in self.to]

    def _mimetext(self, text: str | None, subtype: str = "plain") -> MIMENonMultipart:
        return text_part(text or "", subtype)

    def _message(self):
        """Flask-Mail's message, built here: the same parts and headers, with ours
        written once instead of Flask-Mail's parsed, sanitized and then replaced."""
        if self.cc or self.reply_to:
            raise ValueError("Mooch's mail has neither Cc nor Reply-To")
        attachments = self.attachments or []
        if not attachments and not self.alts:
            message = self._mimetext(self.body)
        else:
            message = MIMEMultipart(boundary=_boundary())
            if self.alts:
                alternative = MIMEMultipart("alternative", boundary=_boundary())
                alternative.attach(self._mimetext(self.body, "plain"))
                for subtype, content in self.alts.items():
                    alternative.attach(self._mimetext(content, subtype))
                message.attach(alternative)
            else:
                message.attach(self._mimetext(self.body))
        if self.subject:
            message["Subject"] = unstructured("Subject", self.subject)
        message["From"] = mailboxes("From", [self.sender_pair])
        message["To"] = mailboxes("To", self.to)
        message["Date"] = formatdate(self.date, localtime=True)
        message["Message-ID"] = self.msgId  # see RFC 5322 section 3.6.4
        for name, value in (self.extra_headers or {}).items():
            message[name] = value
        for attachment in attachments:
            part = MIMEBase(*attachment.content_type.split("/"))
            part.set_payload(attachment.data)
            encode_base64(part)
            if attachment.filename is not None:
                try:
                    attachment.filename.encode("ascii")
                    filename = attachment.filename
                except UnicodeEncodeError:
                    filename = ("UTF8", "", attachment.filename)
                part.add_header("Content-Disposition", attachment.disposition, filename=filename)
            for key, value in attachment.headers.items():
                part.add_header(key, value)
            message.attach(part)
        message.policy = WRITE_POLICY
        return message


def text_part(text: str, subtype: str = "plain") -> MIMENonMultipart:
    """A text part in UTF-8, quoted-printable: the bytes MIMEText(text, subtype, UTF8)
    writes, built without what costs MIMEText half its time (it writes its
    Content-Type, then parses it back to set the charset it was given)."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(UTF8.body_encode(text))
    return part


def _boundary() -> str:
    # "=_" never appears in a quoted-printable or base64 line, so this cannot collide
    # with a body: the generator need not search every part for it (two regexes
    # compiled per message, a tenth of a worker's time).
    return f"=_mooch_{secrets.token_hex(12)}"


class StaleConnection(smtplib.SMTPServerDisconnected):
    """The connection was closed (or the server said 421, closing it) before the
    server answered the first command of this message: nothing of the message was
    taken, so it may go again on a new connection."""


class _Pipelining:
    """RFC 2920 PIPELINING for smtplib, which has none: with a server that offers it,
    MAIL, every RCPT and DATA go out in one write and their replies are read after,
    two round trips a message instead of three plus one per recipient. What it raises,
    and the state it leaves the session in, are smtplib's `sendmail`'s; with a server
    that does not offer it, it is smtplib's `sendmail`."""

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("pipelining"):
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")
        if isinstance(to_addrs, str):
            to_addrs = [to_addrs]
        options = list(mail_options)
        if self.has_extn("size"):
            options.insert(0, f"size={len(msg)}")
        if any(o.lower() == "smtputf8" for o in options):
            if not self.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            self.command_encoding = "utf-8"
        tail = "".join(f" {o}" for o in rcpt_options)
        commands = [f"MAIL FROM:{smtplib.quoteaddr(from_addr)}{''.join(f' {o}' for o in options)}"]
        commands += [f"RCPT TO:{smtplib.quoteaddr(to)}{tail}" for to in to_addrs]
        commands.append("DATA")
        if any("\r" in c or "\n" in c for c in commands):  # as smtplib's putcmd refuses
            raise ValueError(
                f"command and arguments contain prohibited newline characters: {commands!r}"
            )
        with _stale_if_closed(self):
            self.send("".join(f"{c}\r\n" for c in commands))
            first = _not_closing(self, self.getreply())
        # Every reply is read, whatever the first ones say, so the session stays in
        # step; only a 421 (the server is closing it) ends the reading.
        replies = [first]
        while len(replies) < len(commands) and replies[-1][0] != 421:
            replies.append(self.getreply())
        closing = replies[-1][0] == 421
        mail, recipients = replies[0], replies[1 : len(to_addrs) + 1]
        data = replies[-1] if len(replies) == len(commands) else None
        refused = {
            to: reply
            for to, reply in zip(to_addrs, recipients, strict=False)
            if reply[0] not in (250, 251)
        }
        failure: smtplib.SMTPException | None = None
        if mail[0] != 250:
            failure = smtplib.SMTPSenderRefused(*mail, from_addr)
        elif refused and (closing or len(refused) == len(to_addrs)):
            failure = smtplib.SMTPRecipientsRefused(refused)
        elif data is None or data[0] != 354:
            failure = smtplib.SMTPDataError(*(data or replies[-1]))
        if failure is not None:
            if data is not None and data[0] == 354:  # a server that took DATA anyway
                self.send(b".\r\n")
                self.getreply()
            self._end_failed(closing)
            raise failure
        body = smtplib._quote_periods(msg)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body + b".\r\n")
        code, reply = self.getreply()
        if code != 250:
            self._end_failed(code == 421)
            raise smtplib.SMTPDataError(code, reply)
        return refused

    def mail(self, sender, options=()):
        # The first command of a message, when the server does not pipeline.
        with _stale_if_closed(self):
            return _not_closing(self, super().mail(sender, options))

    def _end_failed(self, closing: bool) -> None:
        # As smtplib does after a refusal: a 421 closes the session, anything else resets.
        if closing:
            self.close()
        else:
            self._rset()


@contextlib.contextmanager
def _stale_if_closed(host: smtplib.SMTP) -> Iterator[None]:
    """Around a message's first command and its reply: a connection found closed
    there, or a server answering 421, is a StaleConnection."""
    try:
        yield
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        host.close()
        raise StaleConnection(f"the connection was closed before the message: {exc}") from exc


def _not_closing(host: smtplib.SMTP, reply: tuple[int, bytes]) -> tuple[int, bytes]:
    if reply[0] == 421:
        host.close()
        raise StaleConnection(f"the server is closing the connection: {reply!r}")
    return reply


class PipeliningSMTP(_Pipelining, smtplib.SMTP):
    pass


class PipeliningSMTP_SSL(_Pipelining, smtplib.SMTP_SSL):
    pass


class TimeoutConnection(Connection):
    """Flask-Mail's connection, with a socket timeout so a dead server is an error."""

    def __init__(self, mail, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        m = self.mail
        cls = PipeliningSMTP_SSL if m.use_ssl else PipeliningSMTP
        host = cls(m.server, m.port, timeout=self.timeout)
        host.set_debuglevel(int(m.debug))
        if m.use_tls:
            host.starttls()
        if m.username and m.password:
            host.login(m.username, m.password)
        return host

    def send(self, message: OutgoingMessage, envelope_from: str | None = None) -> None:
        """Flask-Mail's send, with the envelope the message names instead of one parsed
        back out of its display strings."""
        if not isinstance(message, OutgoingMessage):
            raise TypeError(f"the mailer sends OutgoingMessage, not {type(message).__name__}")
        if message.has_bad_headers():
            raise BadHeaderError
        if message.date is None:
            message.date = time.time()
        if self.host is not None:
            self.host.sendmail(
                envelope_from or message.envelope_from,
                message.envelope_to,
                message.as_bytes(),
                message.mail_options,
                message.rcpt_options,
            )
        email_dispatched.send(current_app._get_current_object(), message=message)


class SendAborted(Exception):
    """The worker is shutting down and its grace period ran out: this message was not
    (or not known to be) accepted, and goes back to the queue."""


class Mailer:
    def __init__(self, app: Flask) -> None:
        self._mail = app.extensions["mail"]
        self._timeout = app.config["MAIL_TIMEOUT"]
        self._connection: TimeoutConnection | None = None
        self._lock = threading.Lock()
        self._aborted = threading.Event()
        self.connects = 0
        self.stale = 0  # kept connections found closed, their message sent again

    def _connected(self) -> TimeoutConnection:
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
                kept = self._connection is not None
                try:
                    self._connected().send(message)
                except StaleConnection:
                    # A kept connection the server closed while it was idle: nothing
                    # of this message was taken. Once more, on a new one.
                    if not kept or self._aborted.is_set():
                        raise
                    self._drop()
                    self.stale += 1
                    self._connected().send(message)
            except BaseException as exc:
                # Whatever state the session is in now, do not reuse it.
                self._drop()
                if self._aborted.is_set() and not isinstance(exc, SendAborted):
                    raise SendAborted(f"the worker is shutting down ({exc!r})") from exc
                raise

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    @property
    def aborting(self) -> threading.Event:
        """Set once the sends of this process are being aborted (for waits before one)."""
        return self._aborted

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


def _mailers(app: Flask) -> dict[int, Mailer]:
    # One Mailer (one SMTP connection) per sending thread of this process.
    return app.extensions.setdefault("mooch_mailers", {})


def mailer_for(app: Flask | None = None) -> Mailer:
    """This thread's Mailer for `app`: its SMTP connection is kept open between sends."""
    app = app or current_app._get_current_object()
    mailers = _mailers(app)
    thread = threading.get_ident()
    mailer = mailers.get(thread)
    if mailer is None:
        mailer = mailers[thread] = Mailer(app)
    return mailer


def abort_mailers(app: Flask) -> None:
    """From another thread: fail every send in progress now (see Mailer.abort)."""
    for mailer in list(_mailers(app).values()):
        mailer.abort()


def close_mailers(app: Flask) -> None:
    """Say goodbye on every SMTP connection of this process."""
    mailers = _mailers(app)
    for thread in list(mailers):
        mailers.pop(thread).close()
