"""The scoring job as a child process of the CLI (demo, tests): started and stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.stack import processes

# The job's entry point and arguments, defined once: the local runs (this module,
# `lepton-stream run`) and the deployments (docker-compose.yml, k8s FlinkDeployment,
# checked by tests/deploy) all start exactly this.
JOB_MODULE = "stream_jobs.scoring_job"
JOB_SCRIPT = "stream_jobs/scoring_job.py"  # the same module as a file, for `flink run -py`
DEPLOYED_STARTUP = "group"  # a long-running deployment resumes from its committed offsets


def job_args(startup: str = DEPLOYED_STARTUP, bounded: bool = False) -> list[str]:
    return ["--startup", startup] + (["--bounded"] if bounded else [])


def start_job(s: Settings, startup: str, log_path: Path, bounded: bool = False) -> subprocess.Popen:
    # Its Python workers (own processes, their stderr discarded by Flink) log here too.
    env = {**os.environ, **s.to_env(), "LEPTON_LOG_FILE": str(log_path)}
    cmd = [sys.executable, "-m", JOB_MODULE, *job_args(startup, bounded)]
    return processes.start("job", cmd, log_path, env=env, cwd=REPO_ROOT)


def start_loop(s: Settings, log_path: Path, batch_size: int, max_wait_ms: float,
               commit_interval_s: float) -> subprocess.Popen:
    """The plain consumer loop (`stream_jobs/consumer_loop.py`) as a process, for comparisons."""
    env = {**os.environ, **s.to_env(), "LEPTON_LOG_FILE": str(log_path)}
    cmd = [sys.executable, "-m", "stream_jobs.consumer_loop", "--batch-size", str(batch_size),
           "--max-wait-ms", str(max_wait_ms), "--commit-interval-s", str(commit_interval_s)]
    return processes.start("loop", cmd, log_path, env=env, cwd=REPO_ROOT)


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
