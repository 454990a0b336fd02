"""The worker caps its malloc arenas (app.worker.memory): its sending threads share
two instead of taking one each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.worker.memory import ARENAS, limit_malloc_arenas

ROOT = Path(__file__).resolve().parents[1]

# Eight threads allocating at once (blocks over pymalloc's 512 bytes go to malloc),
# then glibc's own count of its arenas: malloc_stats() writes one "Arena N:" each.
THREADS_ALLOCATING = """
import ctypes, sys, threading
from app.worker.memory import limit_malloc_arenas
if sys.argv[1] == "capped":
    assert limit_malloc_arenas()
start = threading.Barrier(8)
def allocate():
    start.wait()
    for _ in range(20000):
        blocks = [bytes(4096) for _ in range(8)]
        del blocks
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _glibc() -> bool:
    import ctypes

    return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")


def arenas(mode: str, **env) -> int:
    done = subprocess.run(
        [sys.executable, "-c", THREADS_ALLOCATING, mode],
        cwd=ROOT,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(not _glibc(), reason="malloc arenas are glibc's")
def test_threads_allocating_at_once_share_two_arenas():
    assert arenas("uncapped", MALLOC_ARENA_MAX=None) > ARENAS  # what it prevents
    assert arenas("capped", MALLOC_ARENA_MAX=None) <= ARENAS


def test_a_deployers_malloc_arena_max_is_left_as_it_is(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
