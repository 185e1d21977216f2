"""The few calls of Flink's REST API that job control needs: the running job, its
vertices, and stop with a savepoint (docs/deploy.md "Rescaling")."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lepton_stream.config import Settings
from lepton_stream.stack.processes import StackError

PART = "flink job"


@dataclass(frozen=True)
class Vertex:
    id: str
    name: str
    parallelism: int


def call(rest: str, path: str, body: dict | None = None, timeout_s: float = 5.0) -> dict:
    """GET (or POST `body`) http://<rest><path> as JSON. OSError when nothing answers."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{rest}{path}", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise StackError(PART, f"{req.get_method()} {path} answered {exc.code}: {detail}") from None


def running_job(rest: str) -> str:
    """The id of the one RUNNING job at `rest`; StackError saying why there is none."""
    try:
        jobs = call(rest, "/jobs/overview")["jobs"]
    except OSError as exc:
        raise StackError(PART, f"no job is running: nothing answers at http://{rest} "
                               f"({getattr(exc, 'reason', exc)}); "
                               "start it with `lepton-stream run`, or set LEPTON_FLINK_REST_PORT "
                               "to the running job's port") from None
    running = [j["jid"] for j in jobs if j["state"] == "RUNNING"]
    if len(running) != 1:
        states = ", ".join(f"{j['name']} {j['state']}" for j in jobs) or "none"
        raise StackError(PART, f"expected one RUNNING job at http://{rest}, found {len(running)} (jobs: {states})")
    return running[0]


def local_address(s: Settings) -> str:
    """host:port of the local job's REST API (`flink_rest_port`, pinned by the job)."""
    return f"{s.endpoints.host}:{s.job.flink_rest_port}"


def job_address(s: Settings) -> str:
    """Where the scoring job's REST API is watched (`LEPTON_JOB_REST_ADDRESS`, else the
    local job's)."""
    return s.oncall.job_rest_address or local_address(s)


def job_health(rest: str, now_ms: int, name: str = "lepton-scoring") -> dict | None:
    """The running (or restarting, failing) job called `name` at `rest`: its state,
    uptime, tasks, restarts and checkpoint counts; None when there is none. OSError
    when nothing answers."""
    jobs = [j for j in call(rest, "/jobs/overview", timeout_s=2.0)["jobs"]
            if j.get("name") == name and j.get("state") not in ("FINISHED", "CANCELED", "FAILED")]
    if not jobs:
        return None
    job = max(jobs, key=lambda j: j.get("start-time", 0))
    jid = job["jid"]
    metrics = {m["id"]: m["value"] for m in call(rest, f"/jobs/{jid}/metrics?get=numRestarts", timeout_s=2.0)}
    ck = call(rest, f"/jobs/{jid}/checkpoints", timeout_s=2.0)
    interval = call(rest, f"/jobs/{jid}/checkpoints/config", timeout_s=2.0).get("interval")
    counts = ck.get("counts") or {}
    done = (ck.get("latest") or {}).get("completed") or {}
    acked = done.get("latest_ack_timestamp")
    tasks = job.get("tasks") or {}
    return {"name": name, "job_id": jid, "state": job["state"],
            "uptime_s": max(0.0, (now_ms - job.get("start-time", now_ms)) / 1000),
            "tasks_running": tasks.get("running", 0), "tasks_total": tasks.get("total", 0),
            "restarts": int(metrics.get("numRestarts", 0)),
            "checkpoints": {"completed": counts.get("completed", 0), "failed": counts.get("failed", 0),
                            "last_completed_age_s": None if not acked else max(0.0, (now_ms - acked) / 1000),
                            "last_duration_ms": done.get("end_to_end_duration"),
                            "interval_ms": interval if isinstance(interval, int) and interval > 0 else None}}


def vertices(rest: str, job_id: str) -> list[Vertex]:
    return [Vertex(v["id"], v["name"], int(v["parallelism"])) for v in call(rest, f"/jobs/{job_id}")["vertices"]]


def job_state(rest: str, job_id: str) -> tuple[str, int]:
    """The job's state and how many of its subtasks are RUNNING."""
    job = call(rest, f"/jobs/{job_id}")
    return job["state"], sum(v["tasks"].get("RUNNING", 0) for v in job["vertices"])


def restored_from(rest: str, job_id: str) -> str | None:
    """The savepoint or checkpoint the job's state was restored from, if any."""
    restored = (call(rest, f"/jobs/{job_id}/checkpoints").get("latest") or {}).get("restored")
    return restored["external_path"] if restored else None


def stop_with_savepoint(rest: str, job_id: str, target: Path, timeout_s: float = 120.0) -> str:
    """Stop the job with a savepoint into the empty folder `target` (drain false: no
    end-of-input, so event-time state and the sources resume as they were) and
    return the savepoint's path. The job finishes once the savepoint is taken."""
    target.mkdir(parents=True, exist_ok=True)
    trigger = call(rest, f"/jobs/{job_id}/stop", {"targetDirectory": target.as_uri(), "drain": False})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = call(rest, f"/jobs/{job_id}/savepoints/{trigger['request-id']}")
        except OSError:
            # A local job's process exits with its job, REST API included, possibly
            # between two polls: the savepoint is then the one in its own folder.
            written = sorted(target.glob("savepoint-*/_metadata"))
            if len(written) == 1:
                return f"file:{written[0].parent.resolve()}"  # as Flink writes a location
            time.sleep(0.2)
            continue
        if status["status"]["id"] == "COMPLETED":
            op = status["operation"]
            if "failure-cause" in op:  # the job keeps running when its savepoint fails
                cause = (op["failure-cause"].get("stack-trace") or "").strip().splitlines()
                raise StackError(PART, f"savepoint failed, the job goes on: {cause[0] if cause else op}")
            return op["location"]
        time.sleep(0.2)
    raise StackError(PART, f"no savepoint after {timeout_s:.0f} s (folder {target})")
