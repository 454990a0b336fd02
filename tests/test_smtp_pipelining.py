"""SMTP PIPELINING (RFC 2920) in the mailer: with a server that offers it, MAIL, RCPT
and DATA go out in one write, and every refusal reads as smtplib's own sendmail would
report it, with the session left in step for the next message. Real servers: a
scripted socket server that answers nothing until all three commands are in (a client
that waits for each reply never gets one), and the aiosmtpd mail catcher.
"""

from __future__ import annotations

import smtplib
import socket
import threading
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Notification
from app.notifications import outbox
from app.notifications.mailer import PipeliningSMTP
from devtools.mailcatcher import MailCatcher

MESSAGE = b"Subject: hi\r\n\r\n.a line that starts with a dot\r\nbye\r\n"


class WithholdingServer(threading.Thread):
    """Offers PIPELINING and answers nothing after EHLO until MAIL, RCPT and DATA have
    all arrived: only a pipelining client gets its message through."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.envelope: list[bytes] = []
        self.body = b""

    def run(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"220 withholding ESMTP\r\n")
            reader.readline()  # EHLO
            conn.sendall(b"250-withholding\r\n250-PIPELINING\r\n250 SIZE 100000\r\n")
            self.envelope = [reader.readline() for _ in range(3)]
            conn.sendall(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go on\r\n")
            while not self.body.endswith(b"\r\n.\r\n"):
                line = reader.readline()
                if not line:
                    return
                self.body += line
            conn.sendall(b"250 2.0.0 queued\r\n")
            if reader.readline().upper().startswith(b"QUIT"):
                conn.sendall(b"221 bye\r\n")


def test_mail_rcpt_and_data_go_out_before_any_reply():
    server = WithholdingServer()
    server.start()
    client = PipeliningSMTP("127.0.0.1", server.port, timeout=3)
    try:
        assert client.sendmail("from@mooch.test", ["to@example.com"], MESSAGE) == {}
    finally:
        client.quit()
    server.join(5)
    assert server.envelope == [
        f"MAIL FROM:<from@mooch.test> size={len(MESSAGE)}\r\n".encode(),
        b"RCPT TO:<to@example.com>\r\n",
        b"DATA\r\n",
    ]
    # The body is dot-stuffed and ended as smtplib's data() does it.
    assert server.body == MESSAGE.replace(b"\n.a", b"\n..a") + b".\r\n"


def test_a_client_that_waits_for_each_reply_gets_none_from_that_server():
    """The server above is a real test of pipelining: smtplib's own sendmail stalls."""
    server = WithholdingServer()
    server.start()
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=1)
    with pytest.raises((smtplib.SMTPServerDisconnected, TimeoutError)):
        client.sendmail("from@mooch.test", ["to@example.com"], MESSAGE)
    client.close()
    server.join(15)


@pytest.fixture
def client(mail_server):
    connection = PipeliningSMTP("127.0.0.1", mail_server.port, timeout=5)
    yield connection
    connection.close()


def test_the_mail_catcher_offers_pipelining_and_takes_pipelined_mail(client, mail_server):
    client.ehlo()
    assert client.has_extn("pipelining")
    assert client.sendmail("from@mooch.test", ["a@example.com", "b@example.com"], MESSAGE) == {}
    [caught] = mail_server.caught
    assert caught.envelope_to == ["a@example.com", "b@example.com"]
    assert caught.message["Subject"] == "hi"


def test_one_refused_recipient_of_two_is_reported_and_the_other_gets_it(client, mail_server):
    mail_server.refuse("a@example.com", "550 5.1.1 No such user")
    refused = client.sendmail("from@mooch.test", ["a@example.com", "b@example.com"], MESSAGE)
    assert refused == {"a@example.com": (550, b"5.1.1 No such user")}
    assert [c.envelope_to for c in mail_server.caught] == [["b@example.com"]]


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("recipient", smtplib.SMTPRecipientsRefused, 550),
        ("data", smtplib.SMTPDataError, 554),
        ("sender", smtplib.SMTPSenderRefused, 501),
    ],
)
def test_a_refusal_raises_what_smtplib_raises_and_the_session_goes_on(
    client, mail_server, fault, error, code
):
    sender = "from@mooch.test"
    if fault == "recipient":
        mail_server.refuse("a@example.com", "550 5.1.1 No such user")
    elif fault == "data":
        mail_server.fail_next(1, "554 5.6.0 Rejected")
    else:
        mail_server.refuse(sender, "501 5.1.7 Bad sender")
    with pytest.raises(error) as raised:
        client.sendmail(sender, ["a@example.com"], MESSAGE)
    if fault == "recipient":
        assert raised.value.recipients == {"a@example.com": (550, b"5.1.1 No such user")}
    else:
        assert raised.value.smtp_code == code
    # Every reply was read and the session reset: the next message on it goes through.
    mail_server.reset_faults()
    assert client.sendmail("from@mooch.test", ["b@example.com"], MESSAGE) == {}
    assert [c.envelope_to for c in mail_server.caught] == [["b@example.com"]]


def test_a_421_closes_the_session(client, mail_server):
    mail_server.fail_next(1, "421 4.3.0 Closing")
    with pytest.raises(smtplib.SMTPDataError) as raised:
        client.sendmail("from@mooch.test", ["a@example.com"], MESSAGE)
    assert raised.value.smtp_code == 421
    assert client.sock is None


def test_a_newline_in_a_command_injects_no_command(client, mail_server):
    """smtplib's putcmd refuses a CR or LF in a command; the pipelined write does too.
    (An address cannot carry one: smtplib's quoteaddr reparses it first, and the app
    writes only addresses email-validator normalised.)"""
    smuggled = ["BODY=8BITMIME\r\nRCPT TO:<evil@example.com>"]
    with pytest.raises(ValueError, match="prohibited newline"):
        client.sendmail("from@mooch.test", ["a@example.com"], MESSAGE, mail_options=smuggled)
    assert client.sendmail("from@mooch.test", ["b@example.com"], MESSAGE) == {}
    assert [c.envelope_to for c in mail_server.caught] == [["b@example.com"]]


def test_a_server_without_pipelining_gets_one_command_at_a_time():
    with MailCatcher(pipelining=False) as catcher:
        connection = PipeliningSMTP("127.0.0.1", catcher.port, timeout=5)
        try:
            connection.ehlo()
            assert not connection.has_extn("pipelining")
            catcher.refuse("a@example.com", "550 5.1.1 No such user")
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                connection.sendmail("from@mooch.test", ["a@example.com"], MESSAGE)
            assert connection.sendmail("from@mooch.test", ["b@example.com"], MESSAGE) == {}
        finally:
            connection.close()
        assert [c.envelope_to for c in catcher.caught] == [["b@example.com"]]


def test_a_refused_recipient_fails_the_row_and_the_next_mail_goes(app, make, delivered):
    """Through the worker's own code and its kept-open connection."""
    alice, bob = make.user("Alice"), make.user("Bob")
    delivered.server.refuse(alice.email, "550 5.1.1 No such user")
    outbox.record("welcome", alice)
    outbox.record("welcome", bob)
    db.session.commit()
    [mail] = delivered.run()
    assert mail["To"].addresses[0].addr_spec == bob.email
    rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [r.status for r in rows] == [outbox.FAILED, outbox.SENT]
    assert rows[0].last_error.startswith("SMTPRecipientsRefused: {")
    assert "(550, b'5.1.1 No such user')" in rows[0].last_error


def test_from_a_distant_server_pipelined_replies_come_back_together(client, mail_server):
    """The catcher's `latency` plays a server that far away (the benchmark's P7): each
    reply arrives that late, the replies to pipelined commands together. A pipelined
    mail waits two such trips (its commands, then its body), one at a time waits four."""
    mail_server.latency = 0.25
    client.ehlo()  # the greeting and EHLO, before the clock starts
    plain = smtplib.SMTP("127.0.0.1", mail_server.port, timeout=5)
    plain.ehlo()
    try:
        started = time.monotonic()
        client.sendmail("from@mooch.test", ["a@example.com"], MESSAGE)
        pipelined = time.monotonic() - started
        started = time.monotonic()
        plain.sendmail("from@mooch.test", ["b@example.com"], MESSAGE)
        one_at_a_time = time.monotonic() - started
    finally:
        plain.close()
    assert pipelined >= 0.5 and one_at_a_time >= 1.0
    assert one_at_a_time - pipelined >= 0.4, (pipelined, one_at_a_time)
    assert [c.envelope_to for c in mail_server.caught] == [["a@example.com"], ["b@example.com"]]
