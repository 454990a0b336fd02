"""A real SMTP server that keeps what it receives: the mail sink for development and tests.

Built on aiosmtpd's threaded `Controller`: the SMTP server runs its own asyncio loop in
a background thread, and the methods here are called from test code in other threads.
Everything shared between the two sides sits behind one `threading.Condition`.

Fault controls let tests play a slow or failing mail server without any mocking:
`hold()` / `release()` stall the reply to the end of DATA, `fail_next()` / `fail_always()`
answer DATA with a 4xx or 5xx reply, `refuse()` answers one address's MAIL FROM or
RCPT TO with one.

It offers PIPELINING (RFC 2920), as real providers do; `pipelining=False` plays a
server that does not. `latency` (seconds, changeable at any time) plays a server that
far away: every reply arrives that much late.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import itertools
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

logger = logging.getLogger(__name__)

SERVER_HOSTNAME = "mailcatcher.localhost"


@dataclass(frozen=True)
class Caught:
    """One accepted message, with the envelope it came in."""

    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage
    raw: bytes
    received_at: float = 0.0  # time.time() when the server accepted it
    peer: tuple | None = None  # the client's (host, port): which connection it came on


class _BoundController(Controller):
    """A Controller that serves on a socket bound before the server thread starts.

    Binding in the caller's thread makes an "address in use" error immediate and clear
    (aiosmtpd would otherwise wait out its ready timeout), and lets port 0 pick a free
    port with no window for another process to take it.
    """

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)

    def factory(self) -> SMTP:
        return _DistantSMTP(self.handler, **self.SMTP_kwargs)


class _DistantSMTP(SMTP):
    """aiosmtpd's server, whose replies can travel `MailCatcher.latency` seconds: each
    leaves that much after it was made, without holding up the next, so the replies to
    pipelined commands arrive together, as they do from a distant server."""

    async def push(self, status: str | bytes) -> None:
        latency = self.event_handler._catcher.latency
        if isinstance(status, str):
            status = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        if not latency:
            return await super().push(status)
        if status.startswith(b"221"):  # the session closes right after this reply
            await asyncio.sleep(latency)
            return await super().push(status)
        self.loop.call_later(latency, self._write_late, status + b"\r\n")
        return None

    def _write_late(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


def _check_reply(reply: str) -> str:
    code = reply[:3]
    if not (code.isdigit() and code[0] in "45" and (len(reply) == 3 or reply[3] in " -")):
        raise ValueError(f"not an SMTP failure reply (4xx or 5xx): {reply!r}")
    return reply


class MailCatcher:
    """An SMTP server on host:port that accepts every message and keeps it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        maildir: str | os.PathLike[str] | None = None,
        *,
        on_caught: Callable[[Caught], None] | None = None,
        pipelining: bool = True,
    ) -> None:
        self.host = host
        self.pipelining = pipelining
        self.latency = 0.0
        self._port: int | None = port
        self.maildir = Path(maildir) if maildir is not None else None
        self._on_caught = on_caught
        self._controller: _BoundController | None = None

        self._cond = threading.Condition()
        self._caught: list[Caught] = []
        self._file_counter = itertools.count(1)
        # Fault state, all guarded by self._cond.
        self._release_event: asyncio.Event | None = None
        self._held = 0
        self._fail_next: list[str] = []
        self._fail_always: str | None = None
        self._refused: dict[str, str] = {}
        self.noops = 0  # NOOP commands answered

    # -- lifecycle --------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("MailCatcher has no port until start()")
        return self._port

    def start(self) -> MailCatcher:
        if self._controller is not None:
            raise RuntimeError(f"MailCatcher already running on {self.host}:{self._port}")
        if self.maildir is not None:
            self.maildir.mkdir(parents=True, exist_ok=True)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP spelled out: asyncio turns Nagle off only on sockets that say it,
        # and with Nagle on, a pipelining client waits 40 ms (its delayed ACK) for the
        # second of the replies it is owed.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # A restart keeps its port: clients were configured with it.
            sock.bind((self.host, self._port or 0))
            sock.listen(100)
            sock.setblocking(False)
        except OSError as error:
            sock.close()
            raise RuntimeError(
                f"mail catcher cannot listen on {self.host}:{self._port}: {error}"
            ) from error
        self._port = sock.getsockname()[1]
        controller = _BoundController(
            _Handler(self),
            sock,
            # No getfqdn(): it can stall on DNS with no network.
            server_hostname=SERVER_HOSTNAME,
            ready_timeout=10.0,
        )
        try:
            controller.start()
        except BaseException:
            sock.close()
            raise
        self._controller = controller
        logger.debug("mail catcher listening on %s:%s", self.host, self._port)
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        # Held DATA commands are cancelled with the loop's tasks; nothing is stored.
        controller.stop()
        with self._cond:
            if self._release_event is not None:
                # The old event belongs to the closed loop; a restarted server holds anew.
                self._release_event = asyncio.Event()
            self._held = 0
            self._cond.notify_all()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._controller is not None else "stopped"
        return f"<MailCatcher {self.host}:{self._port} {state}, {len(self.caught)} caught>"

    # -- what arrived -----------------------------------------------------------------

    @property
    def caught(self) -> list[Caught]:
        with self._cond:
            return list(self._caught)

    @property
    def messages(self) -> list[EmailMessage]:
        return [c.message for c in self.caught]

    def clear(self) -> None:
        """Forget what arrived (the maildir is left alone). Faults are kept."""
        with self._cond:
            self._caught.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived; return all of them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._caught) >= count, timeout):
                arrived = [
                    f"  {c.envelope_to} {c.message.get('Subject', '(no subject)')!r}"
                    for c in self._caught
                ]
                raise AssertionError(
                    f"expected at least {count} message(s) within {timeout}s, "
                    f"got {len(self._caught)}" + ("".join(f"\n{a}" for a in arrived))
                )
            return [c.message for c in self._caught]

    # -- faults -----------------------------------------------------------------------

    def hold(self) -> None:
        """From now on, leave every end-of-DATA unanswered until release()."""
        with self._cond:
            if self._release_event is None:
                self._release_event = asyncio.Event()

    def release(self) -> None:
        """Answer every held DATA (and stop holding new ones)."""
        with self._cond:
            event, self._release_event = self._release_event, None
        controller = self._controller
        if event is not None and controller is not None:
            # asyncio.Event is not thread-safe: set it from the server's own loop.
            controller.loop.call_soon_threadsafe(event.set)

    def held_count(self) -> int:
        """How many DATA commands are waiting for release() right now."""
        with self._cond:
            return self._held

    def wait_until_held(self, n: int = 1, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._held >= n, timeout):
                raise AssertionError(
                    f"expected {n} held DATA command(s) within {timeout}s, got {self._held}"
                )

    def fail_next(self, n: int, reply: str) -> None:
        """The next `n` DATA commands get `reply` (e.g. "451 4.3.0 Try again later")."""
        _check_reply(reply)
        with self._cond:
            self._fail_next.extend([reply] * n)

    def fail_always(self, reply: str) -> None:
        """Every DATA gets `reply` until reset_faults()."""
        _check_reply(reply)
        with self._cond:
            self._fail_always = reply

    def refuse(self, address: str, reply: str) -> None:
        """Answer MAIL FROM or RCPT TO `address` (as the client wrote it) with `reply`,
        a 4xx or 5xx line, until reset_faults()."""
        _check_reply(reply)
        with self._cond:
            self._refused[address.lower()] = reply

    def reset_faults(self) -> None:
        """No more failures or latency, and release anything held."""
        self.latency = 0.0
        with self._cond:
            self._fail_next.clear()
            self._fail_always = None
            self._refused.clear()
        self.release()

    # -- called from the server thread -----------------------------------------------

    async def _handle_data(self, server: SMTP, envelope: Envelope) -> str:
        with self._cond:
            event = self._release_event
            if event is not None:
                self._held += 1
                self._cond.notify_all()
        if event is not None:
            try:
                await event.wait()
            finally:
                with self._cond:
                    # stop() may have zeroed the count already.
                    self._held = max(0, self._held - 1)
                    self._cond.notify_all()
            # A client that went away while held never saw our 250, so from its side the
            # message was not delivered and it will send it again: storing it would make
            # a duplicate that no real server would have produced. aiosmtpd cancels this
            # coroutine when it notices the connection drop; this check covers a drop it
            # has not processed yet when release() wakes us.
            if _client_gone(server):
                logger.debug("held message discarded: its client is gone")
                return "421 4.4.2 Client went away"

        with self._cond:
            if self._fail_next:
                return self._fail_next.pop(0)
            if self._fail_always is not None:
                return self._fail_always

        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        caught = Caught(
            envelope_from=envelope.mail_from or "",
            envelope_to=list(envelope.rcpt_tos),
            message=message,
            raw=raw,
            received_at=time.time(),
            peer=server.session.peer if server.session else None,
        )
        with self._cond:
            if self.maildir is not None:
                self._write_eml(raw)
            self._caught.append(caught)
            self._cond.notify_all()
        if self._on_caught is not None:
            self._on_caught(caught)
        return "250 2.0.0 OK: caught"

    def _write_eml(self, raw: bytes) -> None:
        assert self.maildir is not None
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        stamp += f"{time.time() % 1:.6f}"[1:]  # ".123456": files sort in arrival order
        while True:
            final = self.maildir / f"{stamp}-{next(self._file_counter)}.eml"
            if not final.exists():
                break
        # Written under a dot-name and renamed, so a reader listing *.eml never sees a
        # half-written file.
        partial = self.maildir / f".{final.name}.part"
        partial.write_bytes(raw)
        os.replace(partial, final)


def _client_gone(server: SMTP) -> bool:
    transport = server.transport
    if transport is None or transport.is_closing():
        return True
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    # Peek without consuming: b"" is the client's FIN, an error is a reset.
    probe = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        probe.close()


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self._catcher._handle_data(server, envelope)

    async def handle_NOOP(self, server: SMTP, session: Session, envelope: Envelope, arg) -> str:
        with self._catcher._cond:
            self._catcher.noops += 1
        return "250 OK"

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd leaves to this hook
        if self._catcher.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options
    ) -> str:
        if refusal := self._refusal(address):
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options
    ) -> str:
        if refusal := self._refusal(address):
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    def _refusal(self, address: str) -> str | None:
        with self._catcher._cond:
            return self._catcher._refused.get(address.lower())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.mailcatcher",
        description="Run an SMTP server that keeps every message, until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", default="instance/mail", help="where .eml files are kept")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    def _report(caught: Caught) -> None:
        subject = caught.message.get("Subject", "(no subject)")
        print(f"caught: {', '.join(caught.envelope_to)}: {subject}", flush=True)

    catcher = MailCatcher(args.host, args.port, args.dir, on_caught=_report)
    try:
        catcher.start()
    except RuntimeError as error:
        print(f"mail: {error}", file=sys.stderr, flush=True)
        return 1
    where = Path(args.dir).resolve()
    print(f"mail catcher listening on smtp://{args.host}:{catcher.port}, keeping .eml in {where}")
    sys.stdout.flush()
    try:
        stopping.wait()
    finally:
        catcher.stop()
    print("mail catcher stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
