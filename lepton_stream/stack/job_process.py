"""The scoring job as a child process of the CLI (demo, tests): started and stopped by PID,
and rescaled through a savepoint (docs/deploy.md "Rescaling")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lepton_stream import logs
from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.stack import flink_rest, processes
from lepton_stream.stack.processes import StackError

# The job's entry point and arguments, defined once: the local runs (this module,
# `lepton-stream run`) and the deployments (docker-compose.yml, k8s FlinkDeployment,
# checked by tests/deploy) all start exactly this.
JOB_MODULE = "stream_jobs.scoring_job"
JOB_SCRIPT = "stream_jobs/scoring_job.py"  # the same module as a file, for `flink run -py`
DEPLOYED_STARTUP = "group"  # a long-running deployment resumes from its committed offsets

log = logs.get("lepton.job")


def job_args(startup: str = DEPLOYED_STARTUP, bounded: bool = False, from_savepoint: str | None = None) -> list[str]:
    return (["--startup", startup] + (["--bounded"] if bounded else [])
            + (["--from-savepoint", from_savepoint] if from_savepoint else []))


def start_job(s: Settings, startup: str, log_path: Path, bounded: bool = False,
              from_savepoint: str | None = None) -> subprocess.Popen:
    # Its Python workers (own processes, their stderr discarded by Flink) log here too.
    env = {**os.environ, **s.to_env(), "LEPTON_LOG_FILE": str(log_path)}
    cmd = [sys.executable, "-m", JOB_MODULE, *job_args(startup, bounded, from_savepoint)]
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


# --- Rescaling: stop with a savepoint, start again with another parallelism from it. ---

Say = Callable[[str], None]  # one line per step: print for the CLI, a log line for tests and the demo


def job_rest(s: Settings) -> str:
    """host:port of the local job's REST API."""
    return flink_rest.local_address(s)


def check_parallelism(s: Settings, parallelism: int, say: Say) -> None:
    if parallelism < 1:
        raise StackError(flink_rest.PART, f"parallelism must be at least 1, not {parallelism}")
    if parallelism > s.endpoints.partitions:
        say(f"note: {parallelism - s.endpoints.partitions} of {parallelism} subtasks will idle: "
            f"{s.topics.transactions} has {s.endpoints.partitions} partitions (LEPTON_PARTITIONS)")


def stop_with_savepoint(s: Settings, exited: Callable[[float], bool] | None, say: Say,
                        timeout_s: float = 60.0) -> str:
    """Stop the running local job with a savepoint under `<home>/savepoints` and wait
    until its process is gone: `exited(timeout_s)` (for a child of ours) and its REST
    port free again, which the next job binds. Returns the savepoint's path."""
    rest = job_rest(s)
    job_id = flink_rest.running_job(rest)
    target = s.endpoints.home / "savepoints" / f"{time.strftime('%Y%m%d-%H%M%S')}-{job_id[:8]}"
    path = flink_rest.stop_with_savepoint(rest, job_id, target)
    say(f"savepoint {path}")
    deadline = time.monotonic() + timeout_s
    gone = exited(timeout_s) if exited else True
    while gone and not processes.port_free(s.endpoints.host, s.job.flink_rest_port):
        gone = time.monotonic() < deadline
        time.sleep(0.2)
    if not gone:
        raise StackError(flink_rest.PART, f"job {job_id} took savepoint {path} but its process did not exit "
                                          f"within {timeout_s:.0f} s")
    say(f"old job {job_id} stopped")
    return path


def running_with(s: Settings, parallelism: int) -> str | None:
    """The local job's id once every subtask runs, each vertex at `parallelism`; else None."""
    rest = job_rest(s)
    try:
        job_id = flink_rest.running_job(rest)
        state, running = flink_rest.job_state(rest, job_id)
        verts = flink_rest.vertices(rest, job_id)
    except (OSError, StackError, KeyError):
        return None
    ok = state == "RUNNING" and running == parallelism * len(verts) and {v.parallelism for v in verts} == {parallelism}
    return job_id if ok else None


def rescale_job(s: Settings, proc: subprocess.Popen, parallelism: int, log_path: Path, startup: str = "group",
                bounded: bool = False, say: Say | None = None, timeout_s: float = 240.0) -> subprocess.Popen:
    """Rescale the job running as `proc` (a child, from `start_job`): stop it with a
    savepoint, wait for its exit, start it again with `parallelism` from that savepoint
    and wait until each subtask runs. Returns the new job's process."""
    say = say or log.info
    check_parallelism(s, parallelism, say)
    path = stop_with_savepoint(s, lambda t: wait_job(proc, t) is not None, say)
    new = start_job(s.replace(parallelism=parallelism), startup, log_path, bounded, from_savepoint=path)
    found = {"job": ""}

    def running() -> bool:
        found["job"] = running_with(s, parallelism) or ""
        return bool(found["job"])

    try:
        processes.wait_ready("job", new, log_path, running, timeout_s)
    except StackError as exc:
        stop_job(new)
        raise StackError(flink_rest.PART, f"not running with parallelism {parallelism} from savepoint {path} "
                                          f"(start it again with --from-savepoint): {exc}") from None
    except BaseException:
        stop_job(new)
        raise
    say(started_line(found["job"], parallelism, path))
    return new


def started_line(job_id: str, parallelism: int, savepoint: str) -> str:
    return f"new job {job_id} started with parallelism {parallelism} from {savepoint}"


def announce_started(s: Settings, parallelism: int, savepoint: str, say: Say, timeout_s: float = 300.0) -> None:
    """For a job starting in this very process (`lepton-stream run --rescale`, in a
    thread beside it): say so once each of its subtasks runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job_id = running_with(s, parallelism)
        if job_id:
            say(started_line(job_id, parallelism, savepoint))
            return
        time.sleep(0.5)

