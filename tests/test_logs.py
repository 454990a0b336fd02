"""app/logs.py: text or JSON lines, one handler however often it is configured.

Every test logs through a logger and a stream of its own (configure_logging's
`logger=` and `stream=`), so nothing is left on the root logger; the root logger's
default is exercised in a subprocess.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.logs import TEXT_FORMAT, JsonFormatter, configure_logging

ROOT = Path(__file__).resolve().parent.parent

# What app/notifications/delivery.py logs for each delivery attempt.
DELIVERY_FIELDS = {
    "event": "delivery",
    "notification_id": 7,
    "notifier": "loan_requested",
    "domain": "example.com",
    "outcome": "sent",
    "ms": 12.3,
}


def log_delivery(log: logging.Logger) -> None:
    f = DELIVERY_FIELDS
    log.info(
        "delivery notification=%s notifier=%s domain=%s outcome=%s ms=%.1f",
        f["notification_id"],
        f["notifier"],
        f["domain"],
        f["outcome"],
        f["ms"],
        extra={"fields": dict(f)},
    )


@pytest.fixture
def logger():
    """A logger of this test's own, not propagating to the root, emptied afterwards."""
    log = logging.getLogger(f"tests.logs.{uuid.uuid4().hex}")
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    logging.Logger.manager.loggerDict.pop(log.name, None)


def ours(log: logging.Logger) -> list[logging.Handler]:
    """The handlers configure_logging installed (pytest adds capture handlers of its own)."""
    return [h for h in log.handlers if getattr(h, "_mooch_handler", False)]


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_line_has_time_level_logger_message_and_fields(logger):
    stream = io.StringIO()
    configure_logging("INFO", "json", logger=logger, stream=stream)
    before = datetime.now(UTC)

    log_delivery(logger)

    [line] = lines(stream)
    record = json.loads(line)
    assert record["level"] == "INFO"
    assert record["logger"] == logger.name
    assert record["message"] == (
        "delivery notification=7 notifier=loan_requested domain=example.com outcome=sent ms=12.3"
    )
    assert {k: record[k] for k in DELIVERY_FIELDS} == DELIVERY_FIELDS
    assert "exc" not in record
    # ISO 8601 in UTC, to the millisecond.
    assert record["time"].endswith("Z")
    when = datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
    assert when.utcoffset().total_seconds() == 0
    assert abs((when - before).total_seconds()) < 5


def test_json_line_carries_the_exception(logger):
    stream = io.StringIO()
    configure_logging("INFO", "json", logger=logger, stream=stream)

    try:
        raise ConnectionRefusedError("smtp.example.com:587 refused")
    except ConnectionRefusedError:
        logger.exception("delivery failed", extra={"fields": {"notification_id": 9}})

    [line] = lines(stream)  # the traceback stays inside the one line
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert record["notification_id"] == 9
    assert record["exc"].startswith("Traceback (most recent call last):")
    assert "ConnectionRefusedError: smtp.example.com:587 refused" in record["exc"]


def test_json_fields_never_hide_the_lines_own_keys_and_odd_values_become_text():
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    record.fields = {"message": "sneaky", "level": "DEBUG", "at": datetime(2025, 1, 2, tzinfo=UTC)}

    out = json.loads(formatter.format(record))

    assert out["message"] == "hello you"
    assert out["level"] == "WARNING"
    assert out["fields.message"] == "sneaky"
    assert out["fields.level"] == "DEBUG"
    assert out["at"] == "2025-01-02 00:00:00+00:00"


def test_a_record_without_fields_is_plain_json(logger):
    stream = io.StringIO()
    configure_logging("DEBUG", "json", logger=logger, stream=stream)

    logger.debug('quotes " and\nnewlines')

    [line] = lines(stream)
    assert set(json.loads(line)) == {"time", "level", "logger", "message"}
    assert json.loads(line)["message"] == 'quotes " and\nnewlines'


def test_text_format(logger):
    stream = io.StringIO()
    configure_logging("INFO", "text", logger=logger, stream=stream)

    log_delivery(logger)
    logger.debug("not shown below INFO")

    [line] = lines(stream)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO "
        + re.escape(logger.name)
        + r": delivery notification=7 notifier=loan_requested domain=example\.com"
        r" outcome=sent ms=12\.3",
        line,
    )
    assert ours(logger)[0].formatter._fmt == TEXT_FORMAT


def test_configuring_twice_keeps_one_handler_and_takes_the_new_settings(logger):
    stream = io.StringIO()
    first = configure_logging("INFO", "text", logger=logger, stream=stream)
    second = configure_logging("WARNING", "json", logger=logger)

    assert second is first
    assert ours(logger) == [first]
    assert logger.level == logging.WARNING
    logger.info("dropped")
    logger.warning("kept")
    [line] = lines(stream)  # once, as JSON, on the stream of the first call
    assert json.loads(line)["message"] == "kept"


def test_other_handlers_are_left_alone(logger):
    theirs = logging.StreamHandler(io.StringIO())
    logger.addHandler(theirs)

    mine = configure_logging("INFO", "text", logger=logger, stream=io.StringIO())
    configure_logging("INFO", "text", logger=logger)

    assert ours(logger) == [mine]
    assert theirs in logger.handlers


def test_log_format_and_level_come_from_the_environment(logger):
    environ = {"LOG_FORMAT": "JSON", "LOG_LEVEL": "warning"}
    stream = io.StringIO()
    configure_logging(logger=logger, stream=stream, environ=environ)

    logger.info("below the level")
    logger.warning("shown", extra={"fields": {"outcome": "sent"}})

    [line] = lines(stream)
    assert json.loads(line)["outcome"] == "sent"
    assert logger.level == logging.WARNING


def test_arguments_win_over_the_environment(logger):
    environ = {"LOG_FORMAT": "json", "LOG_LEVEL": "ERROR"}
    stream = io.StringIO()
    configure_logging("INFO", "text", logger=logger, stream=stream, environ=environ)

    logger.info("plain")

    [line] = lines(stream)
    assert line.endswith(f"INFO {logger.name}: plain")


def test_defaults_are_text_at_info(logger):
    stream = io.StringIO()
    configure_logging(logger=logger, stream=stream, environ={})

    logger.debug("hidden")
    logger.info("plain")

    [line] = lines(stream)
    assert line.endswith(f"INFO {logger.name}: plain")


@pytest.mark.parametrize(("fmt", "level"), [("xml", "INFO"), ("json", "LOUD")])
def test_a_bad_setting_is_an_error_and_installs_nothing(logger, fmt, level):
    with pytest.raises(ValueError, match="LOG_FORMAT" if fmt == "xml" else "LOG_LEVEL"):
        configure_logging(level, fmt, logger=logger, stream=io.StringIO())
    assert ours(logger) == []


def test_a_real_process_with_log_format_json_writes_json_lines(tmp_path):
    """The root logger, as the web (wsgi.py) and the worker configure it."""
    script = (
        "import logging\n"
        "from app.logs import configure_logging\n"
        "configure_logging()\n"
        "configure_logging()\n"  # idempotent: still one line per record
        "log = logging.getLogger('app.notifications.delivery')\n"
        f"fields = {DELIVERY_FIELDS!r}\n"
        "log.info('delivery notification=%s outcome=%s', 7, 'sent', extra={'fields': fields})\n"
        "log.debug('below INFO')\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    log.exception('boom')\n"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
    env.pop("LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # logs go to stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [r["message"] for r in records] == ["delivery notification=7 outcome=sent", "boom"]
    delivery, boom = records
    assert delivery["logger"] == "app.notifications.delivery"
    assert {k: delivery[k] for k in DELIVERY_FIELDS} == DELIVERY_FIELDS
    assert "ZeroDivisionError" in boom["exc"]


def test_transitions_does_not_narrate_each_loan_step(tmp_path):
    """transitions logs three INFO lines per event; at the default level a process's
    log has the app's own lines only, and transitions' warnings still show."""
    script = (
        "import logging\n"
        "from transitions import Machine\n"
        "from app.logs import configure_logging\n"
        "configure_logging()\n"
        "class Loan:\n"
        "    pass\n"
        "loan = Loan()\n"
        "Machine(loan, states=['requested', 'agreed'], initial='requested',\n"
        "        transitions=[['accept', 'requested', 'agreed']])\n"
        "loan.accept()\n"
        "logging.getLogger('app.lending').info('step accept')\n"
        "logging.getLogger('transitions.core').warning('kept')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LOG_LEVEL", None)
    env.pop("LOG_FORMAT", None)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert [line.split(" ", 3)[3] for line in lines] == [
        "app.lending: step accept",
        "transitions.core: kept",
    ], lines
