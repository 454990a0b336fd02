"""deploy/systemd/: units that parse, carry the watch rules, run what exists and fit
the worker's own limits; `systemd-analyze verify` when it is installed."""

from __future__ import annotations

import math
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import (
    INSTALL_ROOT,
    ROOT,
    in_repo,
    names_a_real_target,
    read_by_code,
    runs_in_checkout,
    source_text,
    worker_help_parses,
    worker_options,
)
from tests.deploy.systemd import (
    SERVICES,
    SYSTEMD,
    UNIT_FILES,
    exec_lines,
    megabytes,
    percent,
    restart_delays,
    seconds,
    unit,
    value,
    values,
)


@pytest.mark.parametrize("name", UNIT_FILES)
def test_unit_files_parse(name):
    sections = unit(name)
    assert "Unit" in sections and value(sections, "Unit", "Description")


@pytest.mark.parametrize("name", SERVICES)
def test_services_have_the_watch_rules(name):
    sections = unit(name)
    # Flapping: a 6th start within 5 minutes is refused. These are [Unit] settings;
    # in [Service] current systemd ignores them.
    assert seconds(value(sections, "Unit", "StartLimitIntervalSec")) == 300
    assert int(value(sections, "Unit", "StartLimitBurst")) == 5
    assert not values(sections, "Service", "StartLimitIntervalSec")
    assert value(sections, "Unit", "OnFailure") == "mooch-retry@%n.service"

    assert value(sections, "Service", "Restart") == "always"
    assert seconds(value(sections, "Service", "RestartSec")) == 10
    assert seconds(value(sections, "Service", "RestartMaxDelaySec")) >= 10
    assert int(value(sections, "Service", "RestartSteps")) >= 1
    assert value(sections, "Service", "KillSignal") == "SIGTERM"
    assert value(sections, "Service", "KillMode") == "mixed"
    assert 0 < seconds(value(sections, "Service", "TimeoutStopSec")) < math.inf
    assert megabytes(value(sections, "Service", "MemoryHigh")) < megabytes(
        value(sections, "Service", "MemoryMax")
    )
    assert 0 < percent(value(sections, "Service", "CPUQuota")) <= 100
    assert value(sections, "Service", "User") != "root"
    assert value(sections, "Service", "WorkingDirectory") == INSTALL_ROOT
    assert value(sections, "Service", "EnvironmentFile").startswith("/")


@pytest.mark.parametrize("name", UNIT_FILES)
def test_unit_values_are_well_formed(name):
    for section, settings in unit(name).items():
        for key, text in settings:
            if key.endswith("Sec"):
                seconds(text)
            elif key in {"MemoryMax", "MemoryHigh", "MemoryLow", "MemoryMin"}:
                megabytes(text)
            elif key == "CPUQuota":
                percent(text)
            elif key in {"StartLimitBurst", "RestartSteps"}:
                assert text.isdigit(), f"{name} [{section}] {key}={text}"
            elif key in {"Restart"}:
                assert text in {"no", "always", "on-success", "on-failure", "on-abnormal"}
            elif key in {"KillMode"}:
                assert text in {"control-group", "mixed", "process", "none"}
            elif key in {"Type"}:
                assert text in {"simple", "exec", "forking", "oneshot", "notify", "idle"}
            elif key in {"NoNewPrivileges", "PrivateTmp", "RemainAfterExit"}:
                assert text in {"yes", "no", "true", "false"}


@pytest.mark.parametrize("name", [n for n in UNIT_FILES if n.endswith(".service")])
def test_exec_lines_run_what_exists(name):
    """Commands under /srv/mooch name this checkout's venv and files; other programs
    are absolute paths (systemd does not search a PATH of ours)."""
    for command in exec_lines(unit(name)):
        program = shlex.split(command)[0]
        assert program.startswith("/"), f"{name}: {program} is not an absolute path"
        if program.startswith(INSTALL_ROOT + "/"):
            names_a_real_target(command)


def worker_exec_start() -> list[str]:
    return shlex.split(value(unit("mooch-worker.service"), "Service", "ExecStart"))


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def test_worker_unit_starts_worker_py_with_options_it_has():
    words = worker_exec_start()
    assert words[0] == f"{INSTALL_ROOT}/.venv/bin/python"
    assert words[1] == "worker.py"
    unknown = {w for w in words if w.startswith("--")} - worker_options()
    assert not unknown, f"options worker.py does not have: {unknown}"


def test_worker_unit_options_parse(tmp_path):
    """The unit's command line, with --help: argparse checks every option before it."""
    worker_help_parses(worker_exec_start()[1:], tmp_path)


def test_worker_unit_limits_fit_the_workers_own():
    sections = unit("mooch-worker.service")
    words = worker_exec_start()
    processes = int(option(words, "--processes"))
    per_worker = float(option(words, "--max-memory-mb"))
    grace = float(option(words, "--grace"))
    # More than one process: the supervisor handles the memory and job caps inside the
    # unit, so a cap is not a start that counts against the start limit.
    assert processes > 1
    assert per_worker == 100  # god: memory_usage above 100 MB
    # Every worker at its cap, plus a job's worth over it and the supervisor.
    assert megabytes(value(sections, "Service", "MemoryHigh")) >= processes * per_worker + 50
    assert megabytes(value(sections, "Service", "MemoryMax")) >= processes * per_worker + 100
    assert percent(value(sections, "Service", "CPUQuota")) == 50  # god: cpu_usage 50 %
    # The supervisor kills a worker 5 s after its grace; systemd waits for both.
    assert seconds(value(sections, "Service", "TimeoutStopSec")) > grace + 5


def test_web_unit_serves_wsgi_app_and_stops_within_its_timeout():
    sections = unit("mooch-web.service")
    words = shlex.split(value(sections, "Service", "ExecStart"))
    assert words[0] == f"{INSTALL_ROOT}/.venv/bin/gunicorn" and words[-1] == "wsgi:app"
    graceful = float(option(words, "--graceful-timeout"))
    assert seconds(value(sections, "Service", "TimeoutStopSec")) > graceful


def test_web_unit_command_loads_the_app(tmp_path):
    """The unit's gunicorn command line, run from this checkout with --check-config."""
    words = shlex.split(value(unit("mooch-web.service"), "Service", "ExecStart"))
    runs_in_checkout([str(in_repo(words[0])), *words[1:], "--check-config"], tmp_path)


@pytest.mark.parametrize("backoff", [True, False], ids=["systemd>=254", "older"])
@pytest.mark.parametrize("name", SERVICES)
def test_a_crash_loop_still_hits_the_start_limit(name, backoff):
    """A process that dies at once: the start after StartLimitBurst falls inside
    StartLimitIntervalSec, so the unit ends failed (god: flapping -> unmonitored)
    instead of restarting forever, backoff or not."""
    sections = unit(name)
    burst = int(value(sections, "Unit", "StartLimitBurst"))
    interval = seconds(value(sections, "Unit", "StartLimitIntervalSec"))
    refused_start_at = sum(restart_delays(sections, burst, backoff))
    assert refused_start_at < interval


def test_retry_unit_waits_ten_minutes_and_retries_five_times_in_two_hours():
    sections = unit("mooch-retry@.service")
    assert seconds(value(sections, "Unit", "StartLimitIntervalSec")) == 2 * 3600
    assert int(value(sections, "Unit", "StartLimitBurst")) == 5
    assert value(sections, "Service", "Type") == "oneshot"
    commands = [shlex.split(c) for c in exec_lines(sections)]
    assert Path(commands[0][0]).name == "sleep" and seconds(commands[0][1]) == 600
    assert Path(commands[-1][0]).name == "systemctl" and commands[-1][1] == "start"
    assert commands[-1][-1] == "%i"
    assert seconds(value(sections, "Service", "TimeoutStartSec")) > 600


def test_units_only_name_units_that_are_shipped_or_systemds_own():
    shipped = set(UNIT_FILES)
    for name in UNIT_FILES:
        for section in unit(name).values():
            for key, text in section:
                if key not in {"Wants", "Requires", "After", "Before", "PartOf", "OnFailure"}:
                    continue
                for other in text.split():
                    if not other.startswith("mooch"):
                        continue
                    template = re.sub(r"@.+\.service$", "@.service", other)
                    assert other in shipped or template in shipped, f"{name}: {other}"


def test_the_target_starts_everything():
    wants = set(" ".join(values(unit("mooch.target"), "Unit", "Wants")).split())
    assert wants == {
        "mooch-release.service",
        "mooch-web.service",
        "mooch-worker.service",
        "mooch-check.timer",
    }
    assert value(unit("mooch.target"), "Install", "WantedBy") == "multi-user.target"


def test_the_check_runs_worker_status():
    words = shlex.split(value(unit("mooch-check.service"), "Service", "ExecStart"))
    assert words[1:3] == ["worker.py", "status"]
    assert seconds(value(unit("mooch-check.timer"), "Timer", "OnUnitActiveSec")) <= 60


def test_environment_file_example_sets_only_variables_the_code_reads():
    text = source_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", (SYSTEMD / "mooch.env.example").read_text(), re.M)
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "BASE_URL", "MAIL_SERVER"} <= set(names)
    unread = [name for name in names if not read_by_code(name, text)]
    assert unread == [], f"mooch.env.example sets variables no code reads: {unread}"


def systemd_version() -> int:
    done = subprocess.run(
        ["systemd-analyze", "--version"], capture_output=True, text=True, timeout=30
    )
    match = re.search(r"systemd (\d+)", done.stdout)
    return int(match[1]) if match else 0


def test_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # The units as installed, but pointing at this checkout, so that verify finds
    # the programs they run.
    for path in SYSTEMD.iterdir():
        text = path.read_text().replace(INSTALL_ROOT, str(ROOT))
        text = text.replace("/etc/mooch/mooch.env", str(tmp_path / "mooch.env"))
        (tmp_path / path.name).write_text(text)
    (tmp_path / "mooch.env").write_text((SYSTEMD / "mooch.env.example").read_text())
    names = [n for n in UNIT_FILES if "@." not in n] + ["mooch-retry@mooch-worker.service.service"]
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (done.stdout + done.stderr).splitlines()
    allowed = []
    if systemd_version() < 254:
        allowed = [re.compile(r"Unknown key (name )?'(RestartSteps|RestartMaxDelaySec)'")]
    problems = [
        line
        for line in output
        if line.strip() and "mooch" in line and not any(p.search(line) for p in allowed)
    ]
    assert done.returncode == 0, "\n".join(output)
    assert problems == [], "\n".join(problems)
