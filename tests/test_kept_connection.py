"""The mailer's kept SMTP connection (app/notifications/mailer.py): used without a NOOP
first; one the server closed while it sat idle shows before the server took anything
of the next message, which then goes again, once, on a new connection. Real servers:
the aiosmtpd mail catcher, stopped and started again on its port."""

from __future__ import annotations

import smtplib
import time

import pytest

from app.notifications.mailer import Mailer, OutgoingMessage, StaleConnection
from devtools.mailcatcher import MailCatcher


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
def catcher(request):
    with MailCatcher(pipelining=request.param) as server:
        yield server


@pytest.fixture
def mailer(catcher, settings, request):
    settings["MAIL_PORT"] = catcher.port
    app = request.getfixturevalue("app")
    mailer = Mailer(app)
    yield mailer
    mailer.close()


def message(to: str) -> OutgoingMessage:
    return OutgoingMessage(
        subject=f"for {to}", to=[(None, to)], body="hello", msg_id=f"<{to}@mooch.test>"
    )


def restart(catcher: MailCatcher) -> None:
    """The server goes away and comes back on the same port: every connection it had
    is closed, as a server closes one it has seen idle too long."""
    catcher.stop()
    catcher.start()


def test_a_kept_connection_is_used_without_a_noop_even_after_a_pause(mailer, catcher):
    """A NOOP before a mail that follows a pause is one more round trip to the server
    (tens of milliseconds to a provider) on every such mail."""
    mailer.send(message("first@example.com"))
    time.sleep(1.2)  # the old mailer sent a NOOP after one second idle
    mailer.send(message("second@example.com"))
    assert (mailer.connects, catcher.noops) == (1, 0)
    assert len(catcher.caught) == 2


def test_a_connection_the_server_closed_is_replaced_and_the_mail_goes_once(mailer, catcher):
    mailer.send(message("first@example.com"))
    restart(catcher)
    mailer.send(message("second@example.com"))
    assert (mailer.connects, mailer.stale) == (2, 1)
    assert [c.envelope_to for c in catcher.caught] == [
        ["first@example.com"],
        ["second@example.com"],
    ]


def test_a_server_closing_with_421_at_the_first_command_gets_the_mail_on_a_new_connection(
    mailer, catcher
):
    mailer.send(message("first@example.com"))
    catcher.refuse("mooch@mooch.test", "421 4.4.2 Idle too long, closing")
    with pytest.raises(StaleConnection):  # a new connection gets the same 421: not retried
        mailer.send(message("second@example.com"))
    assert (mailer.connects, mailer.stale) == (2, 1)
    catcher.reset_faults()
    mailer.send(message("third@example.com"))
    assert [c.envelope_to for c in catcher.caught] == [["first@example.com"], ["third@example.com"]]


def test_a_new_connection_that_fails_is_not_tried_again(mailer, catcher):
    catcher.refuse("mooch@mooch.test", "421 4.3.2 Not now")
    with pytest.raises(StaleConnection):
        mailer.send(message("first@example.com"))
    assert (mailer.connects, mailer.stale) == (1, 0)
    assert catcher.caught == []


def test_a_failure_after_the_server_answered_is_not_sent_again(mailer, catcher):
    """Only the first command's failure is a stale connection: a refusal later in the
    message is the server's answer, and the mail is not sent twice."""
    mailer.send(message("first@example.com"))
    catcher.fail_next(1, "451 4.3.0 Try later")
    with pytest.raises(smtplib.SMTPDataError):
        mailer.send(message("second@example.com"))
    assert mailer.stale == 0
    assert [c.envelope_to for c in catcher.caught] == [["first@example.com"]]
