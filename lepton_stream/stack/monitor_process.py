"""The Faust alert monitor as a child process (tests, `lepton-stream monitor --background`): by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.stack import processes


def start_monitor(s: Settings, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, **s.to_env()}
    return processes.start("monitor", [sys.executable, "-m", "stream_jobs.alert_monitor"], log_path, env=env,
                           cwd=REPO_ROOT)


def monitor_ready(s: Settings) -> bool:
    """Faust serves HTTP only once its tables are recovered: /health answering means ready."""
    with urllib.request.urlopen(f"http://{s.endpoints.host}:{s.oncall.monitor_port}/health", timeout=2) as resp:
        return resp.status == 200


def wait_monitor(s: Settings, proc: subprocess.Popen, log_path: Path, timeout_s: float = 90.0) -> None:
    processes.wait_ready("monitor", proc, log_path, lambda: monitor_ready(s), timeout_s)


def stop_monitor(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    if proc.poll() is None:
        processes.stop(proc.pid, timeout_s)
    proc.wait(timeout=5)
