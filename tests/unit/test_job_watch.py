"""Watching the scoring job through its Flink REST API (`lepton-stream status`, the
stack exporter's `lepton_job_*`), against an in-process stand-in for that API: a job
whose checkpoints stopped completing while it runs. The real job:
tests/integration/test_scoring_job.py."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from lepton_stream.config import Settings, SettingsError
from lepton_stream.observability import metrics as m
from lepton_stream.stack.flink_rest import job_address, job_health
from lepton_stream.stack.health_exporter import probe_job
from lepton_stream.stack.processes import free_ports
from lepton_stream.views.status import job_part
from tests.unit.http_stub import serve

JOB = "f00d" * 8


class StalledJob(BaseHTTPRequestHandler):
    """A RUNNING job, started 10 minutes ago, 2 restarts, checkpoints every 200 ms, the
    last of which completed a minute ago."""

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass

    def do_GET(self) -> None:  # noqa: N802
        now = int(time.time() * 1000)
        body: object = {
            "/jobs/overview": {"jobs": [
                {"jid": "old" * 10, "name": "lepton-scoring", "state": "CANCELED", "start-time": now - 9e6},
                {"jid": JOB, "name": "lepton-scoring", "state": "RUNNING", "start-time": now - 600_000,
                 "tasks": {"running": 6, "total": 6}}]},
            f"/jobs/{JOB}/metrics?get=numRestarts": [{"id": "numRestarts", "value": "2"}],
            f"/jobs/{JOB}/checkpoints": {"counts": {"completed": 2900, "failed": 4},
                                        "latest": {"completed": {"latest_ack_timestamp": now - 60_000,
                                                                 "end_to_end_duration": 12}}},
            f"/jobs/{JOB}/checkpoints/config": {"mode": "exactly_once", "interval": 200},
        }.get(self.path)
        data = json.dumps(body).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stalled() -> Iterator[str]:
    with serve(StalledJob) as address:
        yield address


def test_a_running_job_whose_checkpoints_stopped_is_unhealthy(stalled):
    s = Settings().replace(job_rest_address=stalled)
    assert job_address(s) == stalled
    job = job_health(stalled, int(time.time() * 1000))
    assert job is not None and job["job_id"] == JOB and job["restarts"] == 2
    assert 59 <= job["checkpoints"]["last_completed_age_s"] <= 70 and job["checkpoints"]["interval_ms"] == 200
    part, _ = job_part(s, int(time.time() * 1000))
    assert part.state == "running, unhealthy" and not part.healthy and part.pid is None
    assert "no checkpoint for over 10 s" in part.detail and "2 restart(s)" in part.detail
    probe_job(s)
    assert m.JOB_UP._value.get() == 1 and m.JOB_RESTARTS._value.get() == 2
    assert 59 <= m.JOB_CHECKPOINT_AGE._value.get() <= 70 and m.JOB_CHECKPOINT_INTERVAL._value.get() == 0.2


def test_no_job_is_not_running_and_its_gauges_are_nan():
    s = Settings().replace(job_rest_address=f"127.0.0.1:{free_ports(1)[0]}")  # nothing listens there
    part, job = job_part(s, int(time.time() * 1000))
    assert job is None and part.state == "not running" and not part.required
    assert probe_job(s) is None
    assert m.JOB_UP._value.get() == 0
    assert math.isnan(m.JOB_CHECKPOINT_AGE._value.get()) and math.isnan(m.JOB_RESTARTS._value.get())


@pytest.mark.parametrize("bad", ["jm", "jm:", "jm:0", "jm:70000", "http://jm:8081", "jm:8081/x", ":8081"])
def test_a_rest_address_must_be_host_and_port(bad):
    with pytest.raises(SettingsError, match="LEPTON_JOB_REST_ADDRESS"):
        Settings().replace(job_rest_address=bad)
    assert Settings().replace(job_rest_address="scoring-job-rest:8081").oncall.job_rest_address
