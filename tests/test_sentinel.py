"""Redis with automatic failover (issue 13, part 1): real processes on loopback, one
master, one replica and three sentinels (redis-server --sentinel), a real worker
process and the test as the web side, both finding the master through the sentinels
(REDIS_SENTINELS, REDIS_SENTINEL_MASTER).

The master is SIGKILLed under load: the web side keeps committing (rows wait
`pending` while there is no master), the worker reconnects to the promoted replica,
and every notification is delivered exactly once afterwards: the relay covers what
the old master held and never passed on."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from redis import Redis
from redis.exceptions import RedisError

from app.accounts import service as accounts
from app.models import utcnow
from devtools.redis_server import HOST, RedisServer, SentinelServer
from tests.processes import (
    each_sent_once,
    listening,
    rows,
    wait_for_mail,
    wait_until,
)

pytestmark = pytest.mark.slow

MASTER = "mooch"
# What the issue allows from the master's death to mail flowing through the new one.
RECONNECT_BUDGET = 30.0


@dataclass
class Failover:
    master: RedisServer
    replica: RedisServer
    sentinels: list[SentinelServer]

    @property
    def setting(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in (s.address for s in self.sentinels))

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            try:
                with Redis(port=sentinel.port, socket_timeout=1) as client:
                    return int(client.sentinel_get_master_addr_by_name(MASTER)[1])
            except (RedisError, TypeError):
                continue
        return None

    def ready(self) -> bool:
        """The replica in sync, and every sentinel knowing it and the two others."""
        with Redis(port=self.replica.port, socket_timeout=1) as client:
            if client.info("replication").get("master_link_status") != "up":
                return False
        for sentinel in self.sentinels:
            with Redis(port=sentinel.port, socket_timeout=1) as client:
                seen = client.sentinel_master(MASTER)
                if seen.get("num-other-sentinels") != 2 or seen.get("num-slaves") != 1:
                    return False
        return True


@pytest.fixture
def failover(settings, tmp_path):
    """The servers, and the test's settings pointed at the sentinels. REDIS_URL names
    a host that does not exist: with sentinels it gives only the database number, so
    a client that used its host would fail."""
    master = RedisServer(directory=tmp_path / "master").start()
    replica = RedisServer(
        directory=tmp_path / "replica", args=["--replicaof", HOST, str(master.port)]
    ).start()
    sentinels = [
        SentinelServer(MASTER, (HOST, master.port), directory=tmp_path / f"sentinel-{n}").start()
        for n in range(3)
    ]
    servers = Failover(master, replica, sentinels)
    try:
        wait_until(servers.ready, "the replica and three sentinels to see each other")
        settings.update(
            REDIS_URL="redis://no-such-host.invalid:1/0",
            REDIS_SENTINELS=[s.address for s in sentinels],
            REDIS_SENTINEL_MASTER=MASTER,
        )
        yield servers
    finally:
        for server in [*sentinels, replica, master]:
            server.close()


def test_a_master_killed_under_load_fails_over_and_every_mail_goes_once(
    failover, app, mail_server, workers, capsys
):
    worker = workers.start(
        "--concurrency",
        "4",
        REDIS_SENTINELS=failover.setting,
        REDIS_SENTINEL_MASTER=MASTER,
        REDIS_URL="redis://no-such-host.invalid:1/0",
    )
    listening(worker)
    old_master = failover.master.port
    count = 0

    def commit() -> None:
        nonlocal count
        count += 1
        # Not tests.processes.sign_up, which expects the row still pending: the worker
        # may have sent it already.
        accounts.sign_up(f"user{count}@example.com", f"User {count}")

    for _ in range(10):
        commit()
    wait_for_mail(mail_server, 10, workers)  # the worker found the master through them

    failover.master.kill()
    died = utcnow()
    # The web side keeps committing while there is no master: each commit succeeds,
    # its row waits pending, its enqueue fails fast (refused, not a hang).
    during = 0
    started = time.monotonic()
    while failover.master_port() in (old_master, None):
        before = time.monotonic()
        commit()
        assert time.monotonic() - before < 3.0, "a commit hung on the dead master"
        during += 1
        assert time.monotonic() - started < RECONNECT_BUDGET, "no failover"
        time.sleep(0.1)
    assert failover.master_port() == failover.replica.port
    assert during > 0, "the failover happened before any commit could see it"

    for _ in range(10):
        commit()
    # The rate limits' storage shares the client: it reaches the new master too.
    limiter = app.extensions["limiter"]
    wait_until(limiter.storage.check, "the rate limits to reach the new master")
    assert app.test_client().post("/login", data={}).status_code < 500
    sent = each_sent_once(mail_server, workers, count)

    after = [r for r in sent if r.created_at >= died]
    first = min(r.sent_at for r in after)
    took = (first - died).total_seconds()
    assert took < RECONNECT_BUDGET, [(r.id, r.created_at, r.sent_at) for r in after]
    with capsys.disabled():
        print(
            f"\nfailover: master killed -> first mail delivered through the new master in "
            f"{took:.1f}s ({during} commits while there was no master, {count} mails in all)"
        )
    assert len(rows()) == count
