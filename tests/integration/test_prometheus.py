"""A real Prometheus (Debian package) scrapes the local stack: every target up, rules loaded."""

import json
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from lepton_stream.config import REPO_ROOT
from lepton_stream.observability.metrics_http import start_exporter
from lepton_stream.pipeline import RawRecord, ScoringPipeline
from lepton_stream.pipeline.metrics import MetricsStage
from lepton_stream.stack import processes
from lepton_stream.stack.monitor_process import start_monitor, stop_monitor, wait_monitor
from lepton_stream.stack.prometheus_server import PrometheusServer

pytestmark = pytest.mark.integration


def _query(s, promql: str) -> list[dict]:
    url = (f"http://{s.endpoints.host}:{s.oncall.prometheus_port}/api/v1/query?"
           + urllib.parse.urlencode({"query": promql}))
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())["data"]["result"]


def test_prometheus_scrapes_every_part_and_loads_the_rules(stack, tmp_path):
    s = stack.replace(monitor_app_id=f"monitor-{uuid.uuid4().hex[:6]}")
    # This test process stands for a scoring worker: it exports the pipeline's metrics.
    assert start_exporter(s, "job", s.oncall.job_metrics_port) is not None
    pipe = ScoringPipeline([MetricsStage(s, interval_s=60.0)])
    pipe.run([RawRecord(b"k", b"{}", s.topics.transactions, 0, 1)])
    monitor = start_monitor(s, tmp_path / "monitor.log")
    prom = PrometheusServer()
    proc = None
    try:
        wait_monitor(s, monitor, tmp_path / "monitor.log")
        prom.prepare(s)
        log = tmp_path / "prometheus.log"
        proc = processes.start("prometheus", prom.command(s), log)
        processes.wait_ready("prometheus", proc, log, lambda: prom.ready(s), prom.ready_timeout_s)
        deadline = time.monotonic() + 40
        while True:
            targets = prom.targets(s)
            health = {(t["labels"]["job"], t["scrapeUrl"]): t["health"] for t in targets}
            if {"lepton-job", "lepton-monitor", "lepton-stack", "triton"} <= {j for j, _ in health} \
                    and all(h == "up" for h in health.values()):
                break
            assert time.monotonic() < deadline, f"targets not all up: {health}"
            time.sleep(1)
        assert {r["metric"]["component"]: r["value"][1] for r in _query(s, "lepton_component_up")} == \
            {"kafka": "1", "redis": "1", "triton": "1"}
        # >= 1: other tests in this process may have counted events too.
        assert float(_query(s, 'lepton_events_in_total{job="lepton-job"}')[0]["value"][1]) >= 1
        assert _query(s, "nv_inference_count")  # Triton's own metrics
        # Every Grafana panel query is valid PromQL for this Prometheus (an error is a 400).
        dash = json.loads((REPO_ROOT / "monitoring/grafana/dashboards/lepton.json").read_text())
        for panel in dash["panels"]:
            for target in panel["targets"]:
                _query(s, target["expr"].replace("$__rate_interval", "1m"))
        rules = f"http://{s.endpoints.host}:{s.oncall.prometheus_port}/api/v1/rules"
        with urllib.request.urlopen(rules, timeout=5) as resp:
            groups = json.loads(resp.read())["data"]["groups"]
        assert sum(len(g["rules"]) for g in groups) >= 12
    finally:
        if proc is not None:
            processes.stop(proc.pid)
        stop_monitor(monitor)
