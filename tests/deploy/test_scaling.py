"""deploy/kubernetes/ and the systemd template unit: the autoscaling example scales on
metrics Mooch really exports, and runs the worker with options it really has."""

from __future__ import annotations

import re
import shlex

import yaml

from tests.deploy.support import ROOT, worker_help_parses, worker_options
from tests.deploy.systemd import unit, value

KEDA = ROOT / "deploy" / "kubernetes" / "mooch-worker-keda.yaml"


def documents() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(KEDA.read_text())}


def exported() -> set[str]:
    """Every metric name app/metrics.py declares."""
    return set(re.findall(r'"(mooch_[a-z_]+)"', (ROOT / "app" / "metrics.py").read_text()))


def test_the_scaler_reads_metrics_mooch_exports():
    scaled = documents()["ScaledObject"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == documents()["Deployment"]["metadata"]["name"]
    assert scaled["minReplicaCount"] >= 1  # the relay, loan clock and digests run in workers
    names = exported()
    for trigger in scaled["triggers"]:
        used = set(re.findall(r"mooch_[a-z_]+", trigger["metadata"]["query"]))
        assert used and used <= names, used - names
        assert float(trigger["metadata"]["threshold"]) > 0


def test_the_deployment_runs_worker_py_with_options_it_has(tmp_path):
    [container] = documents()["Deployment"]["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:2] == ["python", "worker.py"]
    assert {w for w in command if w.startswith("--")} <= worker_options()
    worker_help_parses(command[1:], tmp_path)
    port = command[command.index("--metrics-port") + 1]
    assert {p["containerPort"] for p in container["ports"]} == {int(port)}


def test_each_template_instance_serves_metrics_on_a_port_of_its_own():
    words = shlex.split(value(unit("mooch-worker@.service"), "Service", "ExecStart"))
    assert {w for w in words if w.startswith("--")} <= worker_options()
    ports = {words[words.index("--metrics-port") + 1].replace("%i", str(n)) for n in range(1, 10)}
    assert len(ports) == 9 and all(1024 < int(p) < 65536 for p in ports)
