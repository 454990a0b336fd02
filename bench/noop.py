"""The empty job of the RQ ceiling (bench.pipeline): imported by `rq worker`, so it
imports nothing."""


def noop() -> None:
    return None
