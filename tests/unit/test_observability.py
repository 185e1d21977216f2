"""Prometheus metrics: one definition each, conventional names, fed by the pipeline."""

import json
import re

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from lepton_stream.config import Settings
from lepton_stream.observability import metrics as m
from lepton_stream.pipeline import RawRecord, ScoringPipeline
from lepton_stream.pipeline.metrics import MetricsStage
from lepton_stream.pipeline.retry import with_retry
from producers.simple import SimpleGenerator
from tests.fakes import FirstSightStore
from tests.unit.test_pipeline import _pipeline


def _value(name: str, **labels: str) -> float:
    return m.REGISTRY.get_sample_value(name, labels) or 0.0


def test_observe_many_equals_one_observe_per_value():
    reg = CollectorRegistry()
    a = Histogram("a_seconds", "a", buckets=(0.1, 1.0), registry=reg)
    b = Histogram("b_seconds", "b", buckets=(0.1, 1.0), registry=reg)
    values = [0.05, 0.1, 0.5, 1.0, 3.0, 0.0]
    for v in values:
        a.observe(v)
    m.observe_many(b, values)
    m.observe_many(b, [])
    text = generate_latest(reg).decode()
    samples = lambda p: sorted(ln.split(" ", 1)[1] for ln in text.splitlines() if ln.startswith(p))  # noqa: E731
    assert samples("a_seconds_bucket") == samples("b_seconds_bucket")
    assert samples("a_seconds_sum") == samples("b_seconds_sum")


def test_names_follow_the_conventions():
    names = m.metric_names()
    assert "lepton_events_in_total" in names and "lepton_event_to_score_latency_seconds_bucket" in names
    counters = [c for c in m.REGISTRY._collector_to_names if type(c).__name__ == "Counter"
                and c._name.startswith("lepton_")]
    assert counters and all(f"{c._name}_total" in names for c in counters)
    units = ("_seconds", "_bytes", "_messages", "_events", "_ratio", "_per_minute", "_per_second", "_info",
             "_total", "_up", "_keys", "_version")
    for c in m.REGISTRY._collector_to_names:
        name = getattr(c, "_name", "")
        if name.startswith("lepton_") and type(c).__name__ in ("Gauge", "Histogram"):
            assert name.endswith(units), name
    # No label can carry a card, terminal or transaction id.
    for c in m.REGISTRY._collector_to_names:
        for label in getattr(c, "_labelnames", ()):
            assert not re.search(r"card|terminal|tx|customer|merchant", label), (c._name, label)


def test_the_metrics_stage_feeds_prometheus():
    s = Settings()
    before = {k: _value(k, **lab) for k, lab in [
        ("lepton_scores_total", {}), ("lepton_dlq_total", {"reason": "invalid_json"}),
        ("lepton_events_in_total", {"topic": s.topics.transactions}),
        ("lepton_event_to_score_latency_seconds_count", {}), ("lepton_batch_size_events_count", {})]}
    metrics = MetricsStage(s, lag=lambda offsets: {"transactions/0": 7}, interval_s=0.0)
    pipe = ScoringPipeline([*_pipeline(s, FirstSightStore()).stages, metrics])
    events = [ev.event for ev in SimpleGenerator(cards=5, seed=2).stream(5, 1_700_000_000_000)]
    events[0]["amount"] = 50000.0  # fraud score 0.98: a high alert
    records = [RawRecord(b"k", json.dumps(e).encode(), s.topics.transactions, 0, i) for i, e in enumerate(events)]
    records.append(RawRecord(b"k", b"not json", s.topics.transactions, 1, 40))
    pipe.process(records)
    assert _value("lepton_scores_total") - before["lepton_scores_total"] == 5
    assert _value("lepton_dlq_total", reason="invalid_json") - before["lepton_dlq_total"] == 1
    assert _value("lepton_events_in_total", topic=s.topics.transactions) - \
        before["lepton_events_in_total"] == 6
    assert _value("lepton_event_to_score_latency_seconds_count") - \
        before["lepton_event_to_score_latency_seconds_count"] == 5
    assert _value("lepton_batch_size_events_count") - before["lepton_batch_size_events_count"] == 1
    assert _value("lepton_alerts_total", severity="high") >= 1
    assert _value("lepton_consumer_lag_messages", topic="transactions", partition="0") == 7
    assert _value("lepton_model_info", model="fraud_scorer", version="7") == 1
    assert _value("lepton_model_version", model="credit_scorer") == 3
    assert _value("lepton_stage_seconds_count", stage="FeatureStage") >= 1


def test_retries_and_call_time_are_counted():
    calls = iter([RuntimeError("down"), RuntimeError("down"), 42])

    def flaky() -> int:
        v = next(calls)
        if isinstance(v, Exception):
            raise v
        return v

    before = _value("lepton_retries_total", call="unit"), _value("lepton_call_seconds_count", call="unit")
    assert with_retry(flaky, what="unit", attempts=3, base_s=0.0) == 42
    assert _value("lepton_retries_total", call="unit") - before[0] == 2
    assert _value("lepton_call_seconds_count", call="unit") - before[1] == 1
    with pytest.raises(RuntimeError):
        with_retry(lambda: (_ for _ in ()).throw(RuntimeError("x")), what="unit", attempts=1, base_s=0.0)
    assert _value("lepton_call_failures_total", call="unit") == 1


def test_exporter_takes_the_next_port_when_its_base_is_taken(tmp_path):
    import socket
    import urllib.request

    from lepton_stream.observability import metrics_http as exporter
    from lepton_stream.stack.processes import free_ports

    base = free_ports(1)[0]
    s = Settings().replace(home=tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base))
        blocker.listen()
        port = exporter.start_exporter(s, "unit-test", base, span=4)
    assert port is not None and base < port < base + 4
    assert exporter.start_exporter(s, "unit-test", base, span=4) == port  # once per process
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'lepton_process_info{pid=' in body
    (target,) = exporter.targets_dir(s).glob("unit-test-*.json")
    assert json.loads(target.read_text())[0]["targets"] == [f"127.0.0.1:{port}"]
    assert np.isfinite(_value("lepton_process_info", role="unit-test", pid=str(__import__("os").getpid())))


def test_pipelines_opening_at_once_start_one_exporter(tmp_path, monkeypatch):
    # The job's copies of its batch step open on threads of their own at the same time.
    import threading
    import time

    from lepton_stream.observability import metrics_http as exporter

    started = []

    def slow_start(port, addr):  # a server that takes a moment to bind, as a loaded machine's does
        time.sleep(0.05)
        started.append(port)

    monkeypatch.setattr(exporter, "start_http_server", slow_start)
    monkeypatch.setattr(exporter, "_started", {})
    s = Settings().replace(home=tmp_path)
    ports: list = []
    threads = [threading.Thread(target=lambda: ports.append(exporter.start_exporter(s, "race", 40_000, span=8)))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1 and ports == [started[0]] * 5


def test_the_producer_meter_adds_only_what_is_new():
    from types import SimpleNamespace

    from lepton_stream.observability.producer import ProducerMeter

    meter = ProducerMeter("unit-topic")
    before = _value("lepton_producer_delivered_total"), _value("lepton_producer_ack_latency_seconds_count")
    report = SimpleNamespace(sent=10, delivered=8, errors=0, target_rate=100.0)
    latencies = [0.001] * 8
    meter.update(report, latencies)
    report.sent, report.delivered = 20, 18
    latencies += [0.002] * 10
    meter.update(report, latencies)
    assert _value("lepton_producer_sent_total", topic="unit-topic") == 20
    assert _value("lepton_producer_delivered_total") - before[0] == 18
    assert _value("lepton_producer_ack_latency_seconds_count") - before[1] == 18
    assert _value("lepton_producer_target_rate_events_per_second") == 100.0


def test_field_reads_compact_and_other_json():
    from lepton_stream.observability.pipeline import _field

    assert _field(b'{"a":1,"severity":"high","x":"y"}', "severity") == "high"
    assert _field(b'{"severity": "low"}', "severity") == "low"  # spaces: parsed instead
    assert _field(b"not json", "severity") == "unknown" and _field(b"{}", "error_code") == "unknown"


def test_worker_ports_skip_the_other_processes_ports():
    from lepton_stream.observability.metrics_http import candidate_ports

    s = Settings()
    assert candidate_ports(s, 9250, 4) == [9250, 9253, 9254, 9255]
    assert candidate_ports(s, 9251, 1) == [9251]
