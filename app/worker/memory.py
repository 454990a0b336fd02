"""The worker's memory: how many malloc arenas its threads share.

glibc gives a thread that allocates an arena of its own whenever the others are in
use, up to eight per core, and memory freed in one arena serves only that arena. With
WORKER_CONCURRENCY sending threads (16 by default), each building messages, every
thread soon has one, and their free space adds up. On this 2-core machine a worker
went from 70 MiB idle to 86 MiB after 2,000 mails, and to 80 MiB with two arenas, at
the same rate of mail (two full `make bench` runs, P5). The threads mostly wait on
SMTP, so two arenas are enough to share.
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

ARENAS = 2
M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap this process's malloc arenas, unless MALLOC_ARENA_MAX already chose (glibc
    reads it at start). Call it before starting threads. False where the C library is
    not glibc or does not take the option."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library Python runs on
        if not hasattr(libc, "gnu_get_libc_version"):
            return False  # not glibc (musl has mallopt, but no arenas to cap)
        return libc.mallopt(M_ARENA_MAX, arenas) == 1
    except (OSError, AttributeError, TypeError) as exc:
        log.debug("malloc arenas not capped: %s", exc)
        return False
