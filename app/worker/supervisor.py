"""`python worker.py --processes N` (N > 1): a small supervisor that keeps N worker
processes running, in place of the origin story's god watch.

The supervisor creates no app and opens no connection: it only starts `python worker.py
--processes 1 ...` children, forwards SIGTERM/SIGINT to them and replaces the ones
that exit. A child that exits 0 reached its memory or job cap (or, in burst mode,
drained its queues) and is replaced at once. A child that dies (non-zero exit or a
signal) is restarted after a delay that doubles from `restart_delay` up to a minute;
after `flap_limit` such deaths within `flap_window` seconds its slot is given up, with
an error line, and when every slot is given up the supervisor exits EXIT_GAVE_UP (3),
a status of its own, so that the process manager above it can tell "flapping" from a
crash (the systemd unit does not restart on it: RestartPreventExitStatus=3).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_RESTART_DELAY = 60.0
EXIT_GAVE_UP = 3
POLL_SECONDS = 0.2
# Time given to children beyond their own grace period before they are killed.
STOP_MARGIN = 5.0


@dataclass
class FlapGuard:
    """Counts a slot's deaths: how long to wait before the next start, or None to give
    up (more than `limit` deaths within `window` seconds)."""

    limit: int
    window: float
    base_delay: float
    deaths: deque[float] = field(default_factory=deque)
    streak: int = 0

    def died(self, now: float) -> float | None:
        self.deaths.append(now)
        while self.deaths and self.deaths[0] <= now - self.window:
            self.deaths.popleft()
        if len(self.deaths) >= self.limit:
            return None
        self.streak += 1
        return min(self.base_delay * 2 ** (self.streak - 1), MAX_RESTART_DELAY)

    def exited_cleanly(self) -> None:
        """A child that ran and exited 0 resets the backoff (not the death count)."""
        self.streak = 0


@dataclass
class Slot:
    number: int
    guard: FlapGuard
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    start_at: float = 0.0  # when the next start is due
    done: bool = False  # given up, or finished (burst)
    starts: int = 0


class Supervisor:
    def __init__(
        self,
        command: Sequence[str],
        processes: int,
        *,
        burst: bool = False,
        grace: float = 25.0,
        restart_delay: float = 1.0,
        flap_limit: int = 5,
        flap_window: float = 300.0,
        env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.command = list(command)
        self.on_exit = on_exit  # told each child's pid when it has exited
        self.burst = burst
        self.grace = grace
        self.env = env
        self.clock = clock
        self.stopping = threading.Event()
        self.slots = [
            Slot(n, FlapGuard(flap_limit, flap_window, restart_delay))
            for n in range(1, processes + 1)
        ]

    # -- signals ------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        if not self.stopping.is_set():
            log.info("supervisor: %s, stopping the workers", signal.Signals(signum).name)
        self.stopping.set()

    # -- the loop -----------------------------------------------------------------

    def run(self) -> int:
        """Keep the slots filled until told to stop; returns the exit status."""
        log.info("supervisor pid=%d: %d worker processes", os.getpid(), len(self.slots))
        while not self.stopping.is_set():
            now = self.clock()
            for slot in self.slots:
                if slot.process is not None and slot.process.poll() is not None:
                    self._reap(slot, now)
                if self.stopping.is_set():
                    break  # a signal came mid-round: start nothing more
                if slot.process is None and not slot.done and now >= slot.start_at:
                    self._start(slot)
            if all(slot.done for slot in self.slots):
                break
            self.stopping.wait(POLL_SECONDS)
        self._stop_children()
        if self.stopping.is_set():
            return 0
        given_up = [s.number for s in self.slots if s.done and not self.burst]
        if given_up:
            log.error("supervisor: every worker slot was given up; exiting %d", EXIT_GAVE_UP)
            return EXIT_GAVE_UP
        log.info("supervisor: every worker finished its burst")
        return 0

    def _start(self, slot: Slot) -> None:
        env = dict(self.env if self.env is not None else os.environ)
        env["MOOCH_WORKER_SLOT"] = str(slot.number)
        env["MOOCH_SUPERVISOR_PID"] = str(os.getpid())
        slot.process = subprocess.Popen(self.command, env=env, stdin=subprocess.DEVNULL)
        slot.started_at = self.clock()
        slot.starts += 1
        log.info("supervisor: slot %d started worker pid=%d", slot.number, slot.process.pid)

    def _reap(self, slot: Slot, now: float) -> None:
        assert slot.process is not None
        code, pid = slot.process.returncode, slot.process.pid
        slot.process = None
        if self.on_exit is not None:
            self.on_exit(pid)
        lived = now - slot.started_at
        if code == 0:
            slot.guard.exited_cleanly()
            if self.burst:
                slot.done = True
                log.info("supervisor: slot %d worker pid=%d finished", slot.number, pid)
            else:
                log.info(
                    "supervisor: slot %d worker pid=%d exited 0 after %.1fs (limit reached);"
                    " replacing it",
                    slot.number,
                    pid,
                    lived,
                )
                slot.start_at = now
            return
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"
        delay = slot.guard.died(now)
        if delay is None:
            slot.done = True
            log.error(
                "supervisor: slot %d is flapping: its worker died %d times within %.0fs"
                " (last pid=%d, %s); giving up on it",
                slot.number,
                slot.guard.limit,
                slot.guard.window,
                pid,
                how,
            )
            return
        slot.start_at = now + delay
        log.warning(
            "supervisor: slot %d worker pid=%d died (%s) after %.1fs; restarting in %.1fs",
            slot.number,
            pid,
            how,
            lived,
            delay,
        )

    def _stop_children(self) -> None:
        """SIGTERM every live child (each finishes or gives back its job within its
        grace period), wait, and kill what is left after grace + margin."""
        live = [s.process for s in self.slots if s.process is not None]
        for process in live:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = self.clock() + self.grace + STOP_MARGIN
        for process in live:
            try:
                process.wait(timeout=max(deadline - self.clock(), 0))
            except subprocess.TimeoutExpired:
                log.error("supervisor: worker pid=%d did not stop in time; killing it", process.pid)
                process.kill()
                process.wait()
        for slot in self.slots:
            slot.process = None
