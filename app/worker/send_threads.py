"""The worker's sending threads, handed work last-in first-out.

Each sending thread keeps its own SMTP connection and database connection.
ThreadPoolExecutor wakes its idle threads in turn, so at a moderate rate every send
lands on the coldest thread: the one whose connection has sat idle longest, the one a
server most likely closed (a reconnect: several round trips and a TLS handshake).
Here a send goes to the thread that finished most recently, and a new thread is
started only when none is idle: under a light load a few threads do all the work on
warm connections, under a heavy one all of them run. The standard library has no such
pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class SendThreads:
    def __init__(self, size: int, name: str = "mooch-send") -> None:
        self.size = max(int(size), 1)
        self.name = name
        self._lock = threading.Condition()
        self._idle: list[_Thread] = []  # a stack: the most recently idle last
        self._threads: list[_Thread] = []
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on a sending thread. The caller keeps at most `size` sends in
        hand; a thread that has just finished one may take a moment to be idle again,
        and is waited for rather than a thread added beyond `size`."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the sending threads are shut down")
            while not self._idle and len(self._threads) >= self.size:
                self._lock.wait()
            if self._idle:
                thread = self._idle.pop()
            else:
                thread = _Thread(self, f"{self.name}_{len(self._threads)}")
                self._threads.append(thread)
                thread.start()
            thread.give((fn, args))

    @property
    def started(self) -> int:
        """How many threads have been started so far."""
        with self._lock:
            return len(self._threads)

    def shutdown(self) -> None:
        """Let every send in hand finish, then end the threads."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for thread in threads:
            thread.give(None)
        for thread in threads:
            thread.join()

    def _idle_again(self, thread: _Thread) -> None:
        with self._lock:
            self._idle.append(thread)
            self._lock.notify()


class _Thread(threading.Thread):
    def __init__(self, pool: SendThreads, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pool = pool
        self._ready = threading.Condition()
        self._work: list[tuple[Callable[..., Any], tuple] | None] = []

    def give(self, work: tuple[Callable[..., Any], tuple] | None) -> None:
        with self._ready:
            self._work.append(work)
            self._ready.notify()

    def run(self) -> None:
        while True:
            with self._ready:
                while not self._work:
                    self._ready.wait()
                work = self._work.pop(0)
            if work is None:
                return
            fn, args = work
            try:
                fn(*args)
            except Exception:  # the send's own code records its failures; this is a bug
                log.exception("%s: a send raised", self.name)
            finally:
                self.pool._idle_again(self)
