"""Logging for every process (web, worker, CLI): one stderr handler, text or JSON.

`LOG_FORMAT=json` writes one JSON object a line, for a log shipper (Heroku's drains,
journald forwarding); the default, `text`, reads better in a terminal. A record's
`extra={"fields": {...}}` adds keys to its JSON object, so a line can be searched by
field (`notification_id`, `outcome`, ...) without parsing the message.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

# Marks the handler this module installed, so a second call replaces its settings
# instead of adding a second handler (and printing every line twice).
_MARK = "_mooch_handler"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, every key
    of the record's `fields`, and `exc` when there is an exception."""

    RESERVED = ("time", "level", "logger", "message", "exc", "stack")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                # A field never hides the line's own keys; it is kept under another name.
                line[f"fields.{key}" if key in self.RESERVED else str(key)] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a value json cannot write (a datetime, a Decimal) is written as
        # text rather than losing the whole line.
        return json.dumps(line, default=str)


def make_formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(
    level: str | int | None = None,
    fmt: str | None = None,
    *,
    logger: logging.Logger | None = None,
    stream: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Install one handler on `logger` (the root logger by default) writing to
    `stream` (stderr) in `fmt` (LOG_FORMAT: text or json) at `level` (LOG_LEVEL, INFO).

    Calling it again changes that handler instead of adding another. Other handlers
    on the logger are left alone. Returns the handler. `environ` (os.environ) is where
    LOG_FORMAT and LOG_LEVEL are read."""
    environ = os.environ if environ is None else environ
    fmt = (fmt or environ.get("LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    level = _level(level if level is not None else environ.get("LOG_LEVEL") or "INFO")
    target = logger if logger is not None else logging.getLogger()

    handler = next((h for h in target.handlers if getattr(h, _MARK, False)), None)
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stderr)
        setattr(handler, _MARK, True)
        target.addHandler(handler)
    elif stream is not None:
        handler.setStream(stream)
    handler.setFormatter(make_formatter(fmt))
    target.setLevel(level)
    if logger is None:
        # Alembic announces each of its plugins at INFO whenever an app is built: noise
        # in a worker's or web process's log (migrations run from `flask db`, not here).
        logging.getLogger("alembic.runtime.plugins").setLevel(max(level, logging.WARNING))
        # transitions narrates every event at INFO (three lines a loan step: "Finished
        # processing state … exit callbacks"); the app logs the step itself.
        logging.getLogger("transitions").setLevel(max(level, logging.WARNING))
    return handler


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name.isdigit():
        return int(name)
    known = logging.getLevelNamesMapping()
    if name not in known:
        raise ValueError(f"LOG_LEVEL must be a level name such as INFO or DEBUG, not {level!r}")
    return known[name]
