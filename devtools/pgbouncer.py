"""A throwaway PgBouncer (Debian's `pgbouncer` package) in transaction pooling mode, in
front of a PostgreSQL server, for tests: `TEST_PGBOUNCER=1` runs the suite's database
connections through one (tests/conftest.py).

Transaction mode is what production poolers run: a server connection belongs to a
client for one transaction only, so nothing may outlive a transaction on it (no
session settings, no server-side prepared statements; DATABASE_PGBOUNCER=true).
Trust authentication on loopback, like the test server behind it. PgBouncer refuses to
run as root: started by root, it switches to the `postgres` user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def binary() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )
    if not found:
        raise RuntimeError(
            "No pgbouncer binary: install Debian's package (apt-get install pgbouncer)"
        )
    return found


class PgBouncer:
    def __init__(self, server_host: str, server_port: int, user: str = "postgres") -> None:
        self.server = (server_host, server_port)
        self.user = user
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="mooch-pgbouncer-")
        self.directory = Path(self._dir.name)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "pgbouncer.log"

    def start(self) -> PgBouncer:
        host, port = self.server
        userlist = self.directory / "userlist.txt"
        userlist.write_text(f'"{self.user}" ""\n')
        config = self.directory / "pgbouncer.ini"
        lines = [
            "[databases]",
            f"* = host={host} port={port}",
            "[pgbouncer]",
            f"listen_addr = {HOST}",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {userlist}",
            "pool_mode = transaction",
            "max_client_conn = 1000",
            "default_pool_size = 20",
            # psycopg sends none of these; a pooler must not pass session state on.
            "ignore_startup_parameters = extra_float_digits",
        ]
        if os.geteuid() == 0:
            lines.append("user = postgres")
        config.write_text("\n".join(lines) + "\n")
        self.directory.chmod(0o755)
        for path in (userlist, config):
            path.chmod(0o644)
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [binary(), str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.log.read_text()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen within {START_TIMEOUT}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # immediate shutdown
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._dir.cleanup()

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
