"""The local stack's metrics exporter: a small long-running part that `lepton-stream up`
starts beside Kafka, Redis and Triton (by PID, like them).

Redis and Kafka have no native Prometheus endpoint (their exporters are
separate programs, not installed here), so this process probes each part
with the same health check the stack manager uses and exports
`lepton_component_up{component}` plus Redis memory and key count. Triton's
own :8002 metrics are scraped directly. It also reads the scoring job's Flink
REST API (`lepton_job_*`): a job whose checkpoints stall keeps scoring, and its
workers' metrics look healthy, while nothing it writes becomes readable.
Run: `python -m lepton_stream.stack.health_exporter`.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import urllib.request

from lepton_stream import logs
from lepton_stream.config import Settings
from lepton_stream.observability import metrics as m
from lepton_stream.observability.metrics_http import start_exporter
from lepton_stream.stack.kafka_broker import KafkaBroker
from lepton_stream.stack.redis_server import RedisServer
from lepton_stream.stack.service import Service
from lepton_stream.stack.triton_server import TritonServer

PROBE_INTERVAL_S = 2.0


# The parts the exporter probes (the stack manager starts the exporter after them).
PROBED: tuple[Service, ...] = (KafkaBroker(), RedisServer(), TritonServer())


def probe_once(s: Settings) -> dict[str, bool]:
    out = {}
    for svc in PROBED:
        t0 = time.perf_counter()
        try:
            up = bool(svc.ready(s))
        except Exception:
            up = False
        m.COMPONENT_PROBE_SECONDS.labels(svc.name).set(time.perf_counter() - t0)
        m.COMPONENT_UP.labels(svc.name).set(1 if up else 0)
        out[svc.name] = up
    if out.get("redis"):
        _redis_stats(s)
    probe_job(s)
    return out


def probe_job(s: Settings) -> dict | None:
    """The scoring job's state, restarts and last checkpoint, from its REST API. A job
    that is not running here is not a failure of the stack (it may be started later,
    or run elsewhere): its gauges are NaN then, and no rule fires on NaN."""
    from lepton_stream.stack.flink_rest import job_address, job_health

    try:
        job = job_health(job_address(s), time.time_ns() // 1_000_000)
    except Exception:  # nothing answers, or not Flink
        job = None
    m.JOB_UP.set(1 if job is not None and job["state"] == "RUNNING" else 0)
    if job is None:
        for gauge in (m.JOB_CHECKPOINT_AGE, m.JOB_CHECKPOINT_INTERVAL, m.JOB_RESTARTS):
            gauge.set(float("nan"))
        return None
    ck = job["checkpoints"]
    m.JOB_CHECKPOINT_AGE.set(job["uptime_s"] if ck["last_completed_age_s"] is None else ck["last_completed_age_s"])
    m.JOB_CHECKPOINT_INTERVAL.set(float("nan") if ck["interval_ms"] is None else ck["interval_ms"] / 1000)
    m.JOB_RESTARTS.set(job["restarts"])
    return job


def _redis_stats(s: Settings) -> None:
    from lepton_stream.feature_store.redis_cluster import memory_and_keys

    try:
        memory, keys = memory_and_keys(s)
        m.REDIS_MEMORY.set(memory)
        m.REDIS_KEYS.set(keys)
    except Exception:  # gone between the probe and now: the next probe says so
        pass


class StackExporter:
    """The exporter as a part of the stack (lepton_stream.stack.service.Service)."""

    name = "exporter"
    ready_timeout_s = 20.0

    def ports(self, s: Settings) -> list[int]:
        return [s.oncall.stack_metrics_port]

    def prepare(self, s: Settings) -> None:
        pass

    def command(self, s: Settings) -> list[str]:
        return [sys.executable, "-m", "lepton_stream.stack.health_exporter"]

    def env(self, s: Settings) -> dict[str, str] | None:
        import os

        return {**os.environ, **s.to_env()}

    def _metrics(self, s: Settings) -> str:
        url = f"http://{s.endpoints.host}:{s.oncall.stack_metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode()

    def ready(self, s: Settings) -> bool:
        return "lepton_component_up" in self._metrics(s)

    def health(self, s: Settings) -> str:
        ups = [ln for ln in self._metrics(s).splitlines() if ln.startswith("lepton_component_up{")]
        parts = [(ln.split('"')[1], "up" if ln.endswith(" 1.0") else "DOWN") for ln in ups]
        return f"serving :{s.oncall.stack_metrics_port}/metrics; " + ", ".join(f"{n} {state}" for n, state in parts)


def main() -> int:
    logs.configure()
    s = Settings.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    probe_once(s)  # before serving: the first scrape already has every part
    if start_exporter(s, "stack", s.oncall.stack_metrics_port, span=1) is None:
        return 1
    while not stop.wait(PROBE_INTERVAL_S):
        probe_once(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
