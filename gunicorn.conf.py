"""gunicorn reads this file from the directory it starts in (the Procfile's and the
systemd unit's): the command line sets the rest.

With METRICS_TOKEN set, the web's workers count their metrics into files of one
directory (prometheus_client's multiprocess mode), so that /metrics, answered by any
one of them, sums all of them. The directory is PROMETHEUS_MULTIPROC_DIR if set (it
is emptied at start), else a fresh temporary one.
"""

import os
import shutil
import tempfile


def on_starting(server):
    if not os.environ.get("METRICS_TOKEN", "").strip():
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mooch-web-metrics-")


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
