"""The worker's sending threads (app/worker/send_threads.py): the most recently idle
thread takes the next send, a thread is added only when none is idle, never more than
the size, and a send that raises does not lose its thread."""

from __future__ import annotations

import threading

import pytest

from app.worker.send_threads import SendThreads

WAIT = 10.0


def run_and_wait(pool: SendThreads, fn=lambda: None) -> str:
    """Submit one send, wait until its thread is idle again; that thread's name."""
    ran = []
    pool.submit(lambda: ran.append(threading.current_thread().name) or fn())
    wait_idle(pool, lambda idle: len(idle) == pool.started)
    return ran[0]


def wait_idle(pool: SendThreads, condition) -> None:
    """Until condition(names of the idle threads) holds."""
    pause = threading.Event()
    for _ in range(int(WAIT / 0.01)):
        with pool._lock:
            if condition([t.name for t in pool._idle]):
                return
        pause.wait(0.01)
    raise AssertionError("the threads did not go idle as expected")


@pytest.fixture
def pool():
    threads = SendThreads(4, name="test-send")
    yield threads
    threads.shutdown()


def test_one_send_at_a_time_runs_on_one_thread(pool):
    names = {run_and_wait(pool) for _ in range(20)}
    assert len(names) == 1
    assert pool.started == 1


def test_the_thread_that_finished_last_takes_the_next_send(pool):
    release = {n: threading.Event() for n in ("a", "b", "c")}
    started = threading.Barrier(4)
    ran: dict[str, str] = {}

    def send(key: str) -> None:
        ran[key] = threading.current_thread().name
        started.wait(WAIT)
        release[key].wait(WAIT)

    for key in release:
        pool.submit(send, key)
    started.wait(WAIT)  # three threads, each holding one send
    assert pool.started == 3
    for key in ("c", "a", "b"):  # b finishes last
        release[key].set()
        wait_idle(pool, lambda idle, key=key: ran[key] in idle)
    assert run_and_wait(pool) == ran["b"]
    assert pool.started == 3


def test_never_more_threads_than_its_size_a_submit_waits_for_one_to_be_free():
    pool = SendThreads(2, name="test-send")
    hold = threading.Event()
    both = threading.Barrier(3)

    def held() -> None:
        both.wait(WAIT)
        hold.wait(WAIT)

    pool.submit(held)
    pool.submit(held)
    both.wait(WAIT)
    third_ran = threading.Event()
    submitter = threading.Thread(target=pool.submit, args=(third_ran.set,))
    submitter.start()
    submitter.join(0.3)
    assert submitter.is_alive() and not third_ran.is_set()  # waiting for a free thread
    hold.set()
    submitter.join(WAIT)
    assert third_ran.wait(WAIT)
    assert pool.started == 2
    pool.shutdown()


def test_a_send_that_raises_keeps_its_thread(pool, caplog):
    def broken() -> None:
        raise RuntimeError("a bug in a send")

    first = run_and_wait(pool, broken)
    assert "a bug in a send" in caplog.text
    assert run_and_wait(pool) == first
    assert pool.started == 1


def test_shutdown_lets_the_sends_in_hand_finish():
    pool = SendThreads(3, name="test-send")
    finished = []
    go = threading.Event()

    def slow(n: int) -> None:
        go.wait(WAIT)
        finished.append(n)

    for n in range(3):
        pool.submit(slow, n)
    threading.Timer(0.2, go.set).start()
    pool.shutdown()
    assert sorted(finished) == [0, 1, 2]
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(slow, 4)
