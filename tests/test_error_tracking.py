"""SENTRY_DSN (issue 13, part 6): the web's unhandled errors and a mail's final
failure in a real worker process reach Sentry. "Sentry" is a local HTTP server that
takes sentry-sdk's envelopes as sentry.io would; sentry-sdk runs only in child
processes, so this test process stays as the other tests expect it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.processes import ROOT, listening, one_row, sign_up, wait_until

pytestmark = pytest.mark.slow


class Ingest(ThreadingHTTPServer):
    """Keeps every event sentry-sdk posts (envelope items of type "event")."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: list[dict] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server_address[1]}/42"

    def texts(self) -> list[str]:
        """Each event as one string: its message or log line, and its exceptions."""
        with self.lock:
            events = list(self.events)
        found = []
        for event in events:
            parts = [str(event.get("logentry", {}).get("message", "")), event.get("level", "")]
            for exc in event.get("exception", {}).get("values", []):
                parts.append(f"{exc.get('type')}: {exc.get('value')}")
            parts.append(str(event.get("request", {}).get("url", "")))
            parts.append(json.dumps(event.get("logentry", {}).get("params", [])))
            found.append(" | ".join(parts))
        return found


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        lines = body.split(b"\n")
        events = []
        # An envelope: a header line, then (item header, payload) pairs.
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if header.strip() and json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
        with self.server.lock:
            self.server.paths.append(self.path)
            self.server.events.extend(events)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def ingest():
    server = Ingest()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


WEB = """
import json, sys
import sentry_sdk
from app import create_app

app = create_app(json.loads(sys.argv[1]))

@app.get("/boom-for-the-test")
def boom():
    raise RuntimeError("an error the test raised")

print(app.test_client().get("/boom-for-the-test").status_code)
sentry_sdk.flush(10)
"""


def test_an_unhandled_error_in_a_request_reaches_sentry(settings, ingest):
    config = {**settings, "TESTING": False, "SENTRY_DSN": ingest.dsn}
    done = subprocess.run(
        [sys.executable, "-c", WEB, json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip().endswith("500"), done.stdout + done.stderr
    texts = wait_until(ingest.texts, "the error to reach Sentry")
    assert any("RuntimeError: an error the test raised" in t for t in texts), texts
    assert ingest.paths[0] == "/api/42/envelope/"


def test_without_a_dsn_nothing_is_sent_and_sentry_is_not_loaded(settings, ingest):
    config = {**settings, "TESTING": False}
    script = WEB.replace("import sentry_sdk\n", "").replace("sentry_sdk.flush(10)", "")
    script += "print('sentry_sdk' in sys.modules)\n"
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["500", "False"], done.stdout + done.stderr
    assert ingest.texts() == []


def test_a_mails_final_failure_in_the_worker_reaches_sentry_with_its_id(
    app, mail_server, workers, ingest
):
    mail_server.fail_always("550 5.1.1 No such mailbox")
    worker = workers.start(SENTRY_DSN=ingest.dsn)
    listening(worker)
    notification = sign_up()
    wait_until(lambda: one_row().status == "failed", "the mail to fail for good")
    wait_until(lambda: "outcome=failed" in worker.output(), "the failure's log line")

    def reported() -> list[dict]:
        with ingest.lock:
            return [
                e
                for e in ingest.events
                if e.get("logentry", {}).get("message", "").startswith("delivery notification=")
            ]

    [event] = wait_until(reported, "the failure to reach Sentry", details=worker.tail)
    assert event["level"] == "error"
    assert event["logentry"]["params"][0] == notification
    assert "outcome=failed" in event["logentry"]["formatted"], event["logentry"]
    assert "550" in event["logentry"]["formatted"]
