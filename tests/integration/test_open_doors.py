"""No open doors on the local stack: every listening socket of the stack, the job (Flink
and its Python workers) and the alert monitor is on the configured host; Flink's REST
API takes no jars; Triton loads models only for the holder of its key (docs/security.md)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.models import triton_key
from lepton_stream.models.repository import PublishError, publish, versions
from lepton_stream.scoring.triton_client import TritonScorer
from lepton_stream.stack import manager
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.monitor_process import start_monitor, stop_monitor, wait_monitor
from lepton_stream.stack.processes import free_ports, last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import Address, listening_sockets, read_json
from tests.integration.test_model_publish import _training_output

pytestmark = pytest.mark.integration


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _topics(s, run: str):
    return s.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                              dlq=f"dlq-{run}", pipeline_metrics=f"metrics-{run}")


def _produce(s, run: str, n: int = 200) -> int:
    create_topics(s.kafka_bootstrap, s.topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, s.topics.all())
    p = producer(s.kafka_bootstrap)
    for ev in SimpleGenerator(cards=20, seed=3, id_prefix=run).stream(n, 1_700_000_000_000, 500.0):
        p.produce(s.topics.transactions, key=ev.event["card_id"].encode(), value=ev.to_bytes())
    assert p.flush(30) == 0
    return n


# --- the stack with Prometheus, the job (process mode) and the monitor, all running ---

@dataclass
class Running:
    s: object
    roots: dict[str, int]  # part -> PID that leads it
    sockets: dict[str, dict[int, set[Address]]]  # part -> PID -> listening addresses
    worker: int  # a Python worker of the job
    events: int  # produced to the job's input topic


@pytest.fixture(scope="module")
def running(stack, tmp_path_factory):
    run = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("open-doors")
    (rest_port,) = free_ports(1)
    s = stack.replace(topics=_topics(stack, run), consumer_group=f"doors-{run}", monitor_app_id=f"monitor-{run}",
                      flink_rest_port=rest_port, python_worker_mode="process")
    events = _produce(s, run)

    started_prometheus = manager.up(s, only=["prometheus"])
    job = start_job(s, "earliest", tmp / "job.log")
    monitor = start_monitor(s, tmp / "monitor.log")
    try:
        wait_monitor(s, monitor, tmp / "monitor.log")
        state = json.loads((s.run_dir / "stack.json").read_text())
        roots = {name: entry["pid"] for name, entry in state.items()} | {"job": job.pid, "monitor": monitor.pid}
        # The job is complete once a Python worker serves its metrics (it has opened its pipeline).
        deadline, worker = time.monotonic() + 240, None
        while worker is None:
            assert job.poll() is None, f"job exited {job.returncode}: {last_line(tmp / 'job.log')}"
            assert time.monotonic() < deadline, f"no Python worker listening: {last_line(tmp / 'job.log')}"
            worker = next((pid for pid in listening_sockets(job.pid) if "beam_boot" in _cmdline(pid)), None)
            time.sleep(1)
        yield Running(s, roots, {name: listening_sockets(pid) for name, pid in roots.items()}, worker, events)
    finally:
        stop_monitor(monitor)
        stop_job(job)
        manager.down_parts(s, started_prometheus)


def test_every_listening_socket_is_on_the_configured_host(running):
    s = running.s
    assert s.endpoints.host == "127.0.0.1"
    assert set(running.roots) >= {"kafka", "redis", "triton", "exporter", "prometheus", "job", "monitor"}
    for part, by_pid in running.sockets.items():
        assert by_pid, f"{part}: no listening socket found (the listing sees nothing)"
        wrong = {(pid, _cmdline(pid)[:80]): sorted(a for a in addrs if a[0] != s.endpoints.host)
                 for pid, addrs in by_pid.items() if any(a[0] != s.endpoints.host for a in addrs)}
        assert wrong == {}, f"{part} listens beyond {s.endpoints.host}"
    # Each part's own ports are among them: the listing is of the right processes.
    ports = {part: {port for addrs in by_pid.values() for _, port in addrs} for part, by_pid in running.sockets.items()}
    assert ports["kafka"] == {s.endpoints.kafka_port, s.endpoints.kafka_controller_port}
    assert ports["redis"] == {s.endpoints.redis_port}
    e = s.endpoints
    assert ports["triton"] == {e.triton_http_port, e.triton_grpc_port, e.triton_metrics_port}
    assert ports["prometheus"] == {s.oncall.prometheus_port}
    assert ports["exporter"] == {s.oncall.stack_metrics_port} and ports["monitor"] == {s.oncall.monitor_port}
    # The job: its driver (py4j callback server), the Flink JVM (REST, blob server, py4j
    # gateway, the Beam servers of the Python operator) and the Python worker (metrics).
    job = running.sockets["job"]
    jvm = [pid for pid in job if Path(_cmdline(pid).split(" ", 1)[0]).name == "java"]
    assert len(jvm) == 1 and s.job.flink_rest_port in {port for _, port in job[jvm[0]]}
    assert len(job[jvm[0]]) >= 8, job[jvm[0]]  # REST, blob, py4j, 6 Beam servers (control, data, state, ...)
    assert running.roots["job"] in job
    first = s.oncall.job_metrics_port
    assert first <= min(port for _, port in job[running.worker]) < first + s.oncall.metrics_port_span


def test_the_job_behind_closed_doors_still_scores_every_event(running):
    s, deadline, scores = running.s, time.monotonic() + 180, []
    while len(scores) < running.events and time.monotonic() < deadline:
        scores = read_json(s.kafka_bootstrap, s.topics.scores)
        time.sleep(0.5)
    assert len({x["tx_id"] for x in scores}) == running.events


def test_loopback_workers_listen_on_loopback_only_and_score(stack, tmp_path):
    """The other worker mode: Python workers inside the driver, served by its worker pool."""
    run = uuid.uuid4().hex[:6]
    s = stack.replace(topics=_topics(stack, run), consumer_group=f"loop-{run}", python_worker_mode="loopback")
    events = _produce(s, run)
    job = start_job(s, "earliest", tmp_path / "job.log", bounded=True)
    seen: dict[int, set[Address]] = {}
    try:
        deadline = time.monotonic() + 300
        while job.poll() is None and time.monotonic() < deadline:
            for pid, addrs in listening_sockets(job.pid).items():
                seen.setdefault(pid, set()).update(addrs)
            time.sleep(0.5)
    finally:
        stop_job(job)
    assert job.returncode == 0, f"job exited {job.returncode}: {last_line(tmp_path / 'job.log')}"
    # The driver: py4j callback server, worker pool, metrics; the JVM as in process mode.
    assert len(seen.get(job.pid, ())) >= 3 and len(seen) >= 2, seen
    # Flink's gateway reserves its port with a ServerSocket on every interface
    # (NetUtils.getAvailablePort, PythonEnvUtils.startGatewayServer) for the moment it
    # takes to bind py4j's gateway to that port on the host address; a poll that falls in
    # that moment sees it. Only that is let pass: the same port, the same process, on the host.
    on_host = {(pid, port) for pid, addrs in seen.items() for address, port in addrs if address == s.endpoints.host}
    assert {(pid, a) for pid, addrs in seen.items() for a in addrs
            if a[0] != s.endpoints.host and (pid, a[1]) not in on_host} == set(), seen
    assert len({x["tx_id"] for x in read_json(s.kafka_bootstrap, s.topics.scores)}) == events


def _rest(s, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{s.endpoints.host}:{s.job.flink_rest_port}{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_flink_rest_takes_no_jars_but_serves_job_status(running, tmp_path):
    s = running.s
    status, body = _rest(s, "GET", "/jobs/overview")
    assert status == 200
    jobs = json.loads(body)["jobs"]
    assert [(j["name"], j["state"]) for j in jobs] == [("lepton-scoring", "RUNNING")]
    assert _rest(s, "GET", "/jars")[0] in (404, 405)
    boundary = uuid.uuid4().hex
    upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"x.jar\"\r\n"
              f"Content-Type: application/x-java-archive\r\n\r\nPK\x05\x06" + "\0" * 18 + f"\r\n--{boundary}--\r\n")
    status, body = _rest(s, "POST", "/jars/upload", upload.encode(),
                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    # Flink's upload handler turns a file away before routing when no handler takes files:
    # 400 "POST request not allowed" (with web submission on: 200 and where it stored the jar).
    assert status in (404, 405) or (status == 400 and b"not allowed" in body), (status, body[:200])
    assert _rest(s, "POST", "/jars/x.jar/run?entry-class=Evil", b"{}")[0] in (404, 405)
    # Still the same one job, still running.
    assert [j["state"] for j in json.loads(_rest(s, "GET", "/jobs/overview")[1])["jobs"]] == ["RUNNING"]


# --- Triton: model control only with the key, inference open -------------------------

def _http(s, method: str, path: str, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(f"{s.triton_http}{path}", method=method, data=b"{}" if method == "POST" else None,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_triton_loads_models_only_with_the_key_and_serves_everyone(stack):
    key_file = stack.triton_api_key_path
    assert key_file.stat().st_mode & 0o777 == 0o600 and key_file.parent.stat().st_mode & 0o777 == 0o700
    key = triton_key.read_key(stack)
    wrong = "w" * len(key)
    for headers in ({}, {triton_key.HEADER: wrong}):
        for path in ("/v2/repository/models/fraud_scorer/load", "/v2/repository/models/fraud_scorer/unload",
                     "/v2/repository/index"):
            status, body = _http(stack, "POST", path, headers)
            assert status == 403 and "restricted" in body, (path, headers.keys(), status, body)
    client = grpcclient.InferenceServerClient(stack.triton_grpc)
    try:
        # Over gRPC Triton expects the header with its own prefix.
        for headers in (None, {triton_key.HEADER: key}, {f"triton-grpc-protocol-{triton_key.HEADER}": wrong}):
            for call in (lambda h: client.load_model("fraud_scorer", headers=h),
                         lambda h: client.unload_model("fraud_scorer", headers=h),
                         lambda h: client.get_model_repository_index(headers=h)):
                with pytest.raises(InferenceServerException, match="restricted"):
                    call(headers)
        assert client.is_model_ready("fraud_scorer") and client.is_model_ready("credit_scorer")
        # With the key both protocols load (the same version again: nothing changes).
        client.load_model("credit_scorer", headers={f"triton-grpc-protocol-{triton_key.HEADER}": key})
        assert _http(stack, "POST", "/v2/repository/models/credit_scorer/load", {triton_key.HEADER: key})[0] == 200
    finally:
        client.close()
    # Inference, health and metadata stay open: the job needs them.
    scores = TritonScorer(stack.triton_grpc).score(np.ones((8, len(FRAUD_FEATURES)), np.float32),
                                                    np.ones((8, len(CREDIT_FEATURES)), np.float32))
    assert scores.fraud.shape == (8,) and np.all((scores.fraud >= 0) & (scores.fraud <= 1))
    assert _http(stack, "GET", "/v2/health/ready")[0] == 200
    assert _http(stack, "GET", "/v2/models/fraud_scorer")[0] == 200


def test_publish_with_another_key_is_refused_and_the_serving_version_stays(stack, tmp_path):
    before = versions(stack.endpoints.model_repo, "fraud_scorer")
    scorer = TritonScorer(stack.triton_grpc, refresh_s=0.0)
    fx, cx = np.ones((4, len(FRAUD_FEATURES)), np.float32), np.ones((4, len(CREDIT_FEATURES)), np.float32)
    serving = scorer.score(fx, cx).fraud_version
    other = tmp_path / "other-key"
    other.write_text("o" * 43 + "\n")
    with pytest.raises(PublishError, match="restricted"):
        # Forced past the quality gate: what is tested is the key, whatever serves now.
        publish(_training_output(stack, tmp_path / "out"), stack.replace(triton_api_key_file=str(other)), force=True)
    assert versions(stack.endpoints.model_repo, "fraud_scorer") == before  # the new version was taken out again
    assert scorer.score(fx, cx).fraud_version == serving
    with pytest.raises(PublishError, match="no key for Triton"):
        publish(_training_output(stack, tmp_path / "out2"), stack.replace(triton_api_key_file=str(tmp_path / "none")),
                force=True)
    assert versions(stack.endpoints.model_repo, "fraud_scorer") == before
