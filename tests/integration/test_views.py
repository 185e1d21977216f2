"""The on-call CLI views against the real broker: status, dlq show, alerts tail."""

import json
import threading
import time
import uuid

import pytest

from lepton_stream.cli import main
from lepton_stream.config import Topics
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.schemas.outputs import DlqRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def s(stack, monkeypatch):
    run = uuid.uuid4().hex[:6]
    topics = Topics(**{name: f"{getattr(Topics(), name)}-{run}" for name in Topics.__dataclass_fields__})
    s = stack.replace(topics=topics, consumer_group=f"views-{run}")
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    monkeypatch.setattr("lepton_stream.cli._settings", lambda args: s)
    return s


def _alert(sev: str, card: str, score: float) -> bytes:
    now = int(time.time() * 1000)
    return json.dumps({"tx_id": uuid.uuid4().hex, "card_id": card, "terminal_id": "T7", "amount": 99.5,
                       "fraud_score": score, "credit_score": 0.2, "severity": sev,
                       "reasons": [{"feature": "amount", "value": 99.5, "z": 3.1}],
                       "model_version": "fraud_scorer:1,credit_scorer:1", "event_ts": now - 40,
                       "alert_ts": now}).encode()


def test_status_shows_parts_lag_throughput_p99_and_alert_rate(s, capsys):
    p = producer(s.kafka_bootstrap)
    p.produce(s.topics.transactions, key=b"c", value=b"{}")
    now = int(time.time() * 1000)
    rec = {"task_id": "scoring/host/42", "window_start": now - 5000, "window_end": now, "events_in": 2500,
           "scored": 2400, "alerts": 25, "dlq": 3, "labels": 0, "latency_ms": {"p50": 120.0, "p95": 300.0,
           "p99": 456.0}, "batches": 3, "batch_size": {"mean": 833.0, "max": 1000},
           "lag": {f"{s.topics.transactions}/0": 17}, "schema_version": 1}
    p.produce(s.topics.pipeline_metrics, key=b"scoring/host/42", value=json.dumps(rec).encode())
    assert p.flush(10) == 0
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    for text in ("kafka", "redis", "triton", "exporter", "risk_scorer v1 ready", "lag per partition",
                 "scoring/host/42", "456", "throughput 500 events/s", "alert rate 300.0/min"):
        assert text in out, text


def test_status_json_counts_current_tasks_only_and_names_the_job(s, capsys):
    # Task "fresh" wrote a window just now; task "gone" last wrote two minutes ago (it has
    # counted nothing since, or its worker is gone): its rate is history, not throughput.
    now = int(time.time() * 1000)
    p = producer(s.kafka_bootstrap)
    for task, end, events in (("scoring/h/1", now, 1000), ("scoring/h/2", now - 120_000, 4000)):
        rec = {"task_id": task, "window_start": end - 5000, "window_end": end, "events_in": events,
               "scored": events, "alerts": 5, "dlq": 0, "labels": 0, "latency_ms": {"p50": 50.0, "p99": 90.0},
               "batches": 2, "lag": {}, "schema_version": 1}
        p.produce(s.topics.pipeline_metrics, key=task.encode(), value=json.dumps(rec).encode())
    # What another writer got wrong is shown as it is and counts nothing.
    p.produce(s.topics.pipeline_metrics, key=b"x", value=b'{"task_id": "odd", "window_end": "soon"}')
    assert p.flush(10) == 0
    assert main(["status", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["healthy"] is True
    parts = {x["name"]: x for x in st["parts"]}
    assert {"kafka", "redis", "triton", "exporter", "monitor", "prometheus", "scoring job"} <= set(parts)
    assert "ours: " in parts["kafka"]["detail"] and s.topics.dlq in parts["kafka"]["detail"]
    assert parts["scoring job"]["required"] is False
    tasks = {t["task_id"]: t for t in st["tasks"]}
    assert set(tasks) == {"scoring/h/1", "scoring/h/2"}
    assert tasks["scoring/h/1"]["current"] and not tasks["scoring/h/2"]["current"]
    assert tasks["scoring/h/2"]["age_s"] >= 119
    assert st["summary"]["events_per_s"] == 200.0 and st["summary"]["tasks_reporting"] == 1
    assert st["summary"]["alerts_per_min"] == 60.0 and st["summary"]["tasks_seen"] == 2
    assert {r["topic"] for r in st["lag"]} == {s.topics.transactions, s.topics.fraud_labels}


def test_status_says_the_job_is_idle_when_no_task_has_counted_lately(s, capsys):
    old = int(time.time() * 1000) - 300_000
    rec = {"task_id": "scoring/h/9", "window_start": old - 5000, "window_end": old, "events_in": 50, "scored": 50,
           "alerts": 0, "dlq": 0, "latency_ms": {"p50": 10.0, "p99": 20.0}, "batches": 1, "lag": {}}
    p = producer(s.kafka_bootstrap)
    p.produce(s.topics.pipeline_metrics, key=b"scoring/h/9", value=json.dumps(rec).encode())
    assert p.flush(10) == 0
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "no events counted since" in out and "throughput 0 events/s" in out and "scoring job" in out


def test_dlq_show_lists_reasons(s, capsys):
    p = producer(s.kafka_bootstrap)
    for i, code in enumerate(["invalid_json", "unknown_currency", "invalid_json"]):
        rec = DlqRecord(code, f"bad {code}", None if code == "invalid_json" else "currency", s.topics.transactions,
                        0, i, b'{"currency": "XXX"}', int(time.time() * 1000))
        p.produce(s.topics.dlq, key=b"k", value=rec.to_json())
    assert p.flush(10) == 0
    assert main(["dlq", "show", "--limit", "10"]) == 0
    out = capsys.readouterr().out
    assert "3 rejected events" in out and "unknown_currency" in out and "bad invalid_json" in out
    assert main(["dlq", "show", "--reason", "unknown_currency"]) == 0
    assert "1 rejected events (unknown_currency)" in capsys.readouterr().out


def test_alerts_tail_filters_and_follows_live(s, capsys):
    p = producer(s.kafka_bootstrap)
    p.produce(s.topics.risk_alerts, key=b"old", value=_alert("high", "card-old", 0.97))
    p.produce(s.topics.risk_alerts, key=b"low", value=_alert("low", "card-low", 0.55))
    assert p.flush(10) == 0
    assert main(["alerts", "tail", "--from-beginning", "--severity", "high,medium", "--limit", "1",
                 "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "card-old" in out and "card-low" not in out and "amount=99.5" in out
    # For pipes: one JSON line per matching alert, nothing else on stdout.
    assert main(["alerts", "tail", "--json", "--from-beginning", "--severity", "high", "--limit", "1",
                 "--timeout", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["card_id"] for x in lines] == ["card-old"]

    # Live: only what is committed after the tail starts.
    done = threading.Thread(target=main, args=(["alerts", "tail", "--card", "card-new", "--limit", "1",
                                                "--timeout", "30"],))
    done.start()
    time.sleep(3)
    p.produce(s.topics.risk_alerts, key=b"new", value=_alert("medium", "card-new", 0.8))
    assert p.flush(10) == 0
    done.join(40)
    out = capsys.readouterr().out
    assert "card-new" in out and "card-old" not in out and "matched 1" in out
