"""A reader for systemd unit files, strict enough to be a check: the sections and
settings of a unit (systemd.syntax(7)), and the time spans, memory sizes and CPU
quotas its values are written in."""

from __future__ import annotations

import math
import re
from pathlib import Path

from tests.deploy.support import ROOT

SYSTEMD = ROOT / "deploy" / "systemd"
SERVICES = ("mooch-web.service", "mooch-worker.service")
UNIT_FILES = sorted(
    p.name for p in SYSTEMD.iterdir() if p.suffix in {".service", ".target", ".timer"}
)


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file: sections, each a list of (key, value) in order (a key may
    repeat, as ExecStart= does in a oneshot). Comments, blank lines and backslash
    continuations as systemd.syntax(7) has them; anything else is an error."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    pending = ""
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            assert current not in sections, f"{path.name}:{number}: [{current}] twice"
            sections[current] = []
            continue
        assert current is not None, f"{path.name}:{number}: a setting outside any section"
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()), (
            f"{path.name}:{number}: not Key=value: {raw!r}"
        )
        sections[current].append((key.strip(), value.strip()))
    assert not pending, f"{path.name}: ends in a continuation"
    return sections


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    return parse_unit(SYSTEMD / name)


def values(sections, section: str, key: str) -> list[str]:
    return [v for k, v in sections.get(section, []) if k == key]


def value(sections, section: str, key: str) -> str:
    found = values(sections, section, key)
    assert found, f"no {key}= in [{section}]"
    return found[-1]


TIME_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}


def seconds(span: str) -> float:
    """A systemd time span (systemd.time(7)): "300", "10s", "5min", "1min 30s", "2h"."""
    if span == "infinity":
        return math.inf
    parts = re.findall(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)", span)
    assert parts and "".join(n + u for n, u in parts) == span.replace(" ", ""), (
        f"not a time span: {span!r}"
    )
    total = 0.0
    for number, unit_name in parts:
        assert unit_name in TIME_UNITS, f"unknown time unit in {span!r}"
        total += float(number) * TIME_UNITS[unit_name]
    return total


def megabytes(size: str) -> float:
    """A systemd memory size (systemd.resource-control(5)): bytes, or K/M/G/T (base 1024)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", size)
    assert match, f"not a memory size: {size!r}"
    number, suffix = float(match[1]), match[2]
    return number * 1024 ** "BKMGT".index(suffix or "B") / 1024**2


def percent(quota: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)%", quota)
    assert match, f"not a percentage: {quota!r}"
    return float(match[1])


def exec_lines(sections) -> list[str]:
    return [
        v.lstrip("-@:+!")
        for k, v in sections.get("Service", [])
        if k in {"ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop"}
    ]


def restart_delays(sections, count: int, backoff: bool) -> list[float]:
    """systemd's delay before each automatic restart: RestartSec, growing geometrically
    over RestartSteps to RestartMaxDelaySec (systemd >= 254; older ones: RestartSec)."""
    base = seconds(value(sections, "Service", "RestartSec"))
    if not backoff:
        return [base] * count
    steps = int(value(sections, "Service", "RestartSteps"))
    top = seconds(value(sections, "Service", "RestartMaxDelaySec"))
    return [base * (top / base) ** (min(n, steps) / steps) for n in range(count)]
