"""The scoring job as a child process of the CLI (demo, tests): started and stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.stack import processes


def start_job(s: Settings, startup: str, log_path: Path, bounded: bool = False) -> subprocess.Popen:
    env = {**os.environ, **s.to_env()}
    cmd = [sys.executable, "-m", "stream_jobs.scoring_job", "--startup", startup] + (["--bounded"] if bounded else [])
    return processes.start("job", cmd, log_path, env=env, cwd=REPO_ROOT)


def stop_job(proc: subprocess.Popen, timeout_s: float = 20.0) -> None:
    if proc.poll() is None:
        processes.stop(proc.pid, timeout_s)
    proc.wait(timeout=5)


def wait_job(proc: subprocess.Popen, timeout_s: float) -> int | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return proc.returncode
        time.sleep(0.2)
    return None
