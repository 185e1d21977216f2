"""The Faust alert monitor against the real broker: tables, pages, HTTP, recovery after restart,
and hostile or malformed records (escaped, skipped and counted, never a crash)."""

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from lepton_stream.config import Topics
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.oncall.detection import minute_of
from lepton_stream.oncall.web import CONTENT_SECURITY_POLICY
from lepton_stream.stack.monitor_process import start_monitor, stop_monitor, wait_monitor
from tests.integration.conftest import read_json
from tests.unit.test_oncall_page import HOSTILE, parsed

pytestmark = pytest.mark.integration


def _fetch(s, path: str) -> tuple[dict[str, str], str]:
    try:
        with urllib.request.urlopen(f"http://{s.endpoints.host}:{s.oncall.monitor_port}{path}", timeout=5) as resp:
            return dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:  # a 404 (or a 503 while recovering) has headers too
        return dict(err.headers), err.read().decode()


def _get(s, path: str) -> str:
    return _fetch(s, path)[1]


def _isolated(stack):
    """Own app id (consumer group, changelog topics) and topics: a clean state, whatever ran before."""
    run = uuid.uuid4().hex[:6]
    topics = Topics(**{name: f"{getattr(Topics(), name)}-{run}" for name in Topics.__dataclass_fields__})
    s = stack.replace(monitor_app_id=f"monitor-{run}", topics=topics)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    return s


def _alert(ts: int, score: float, severity: str, i: int) -> dict:
    return {"tx_id": uuid.uuid4().hex, "card_id": f"card-{i % 11}", "terminal_id": f"T{i % 3}",
            "merchant_id": f"M{i % 2}", "amount": 12.5, "fraud_score": score, "credit_score": 0.1,
            "severity": severity, "reasons": [], "model_version": "fraud_scorer:1,credit_scorer:1",
            "event_ts": ts - 50, "alert_ts": ts, "schema_version": 1}


def _task_metrics(ts: int, rule_hits: list[tuple[str, int, str | None, int]]) -> dict:
    """A scoring task's pipeline-metrics record with these (id, version, severity, hits) rules."""
    return {"task_id": "scoring/h/1", "window_start": ts - 5_000, "window_end": ts, "events_in": 100, "scored": 100,
            "alerts": 1, "dlq": 0, "feature_store": "ok", "schema_version": 1,
            "rule_hits": [{"id": i, "version": v, "action": "alert" if sev else "suppress", "severity": sev, "hits": n}
                          for i, v, sev, n in rule_hits]}


def _counts(s) -> dict[int, int]:
    rows = json.loads(_get(s, "/tables"))["alerts_per_minute"]
    return {r["minute"]: r["total"] for r in rows if r["total"]}


def _committed(s, topic: str | None = None) -> int:
    """Offsets the monitor's consumer group committed on risk-alerts, or `topic` (one message an offset)."""
    topic = topic or s.topics.risk_alerts
    c = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": s.oncall.monitor_app_id, "log_level": 0})
    try:
        parts = c.list_topics(topic, timeout=5).topics[topic].partitions
        got = c.committed([TopicPartition(topic, p) for p in parts], timeout=5)
        return sum(max(tp.offset, 0) for tp in got)
    finally:
        c.close()


def _wait(cond, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"not true after {timeout_s} s: {cond}")


def test_monitor_pages_serves_its_tables_and_recovers_them(stack, tmp_path):
    s = _isolated(stack)
    log = tmp_path / "monitor.log"
    proc = start_monitor(s, log)
    try:
        wait_monitor(s, proc, log)
        now = int(time.time() * 1000)
        # A quiet baseline (2 low alerts a minute for 10 minutes) then a burst of 40 high ones.
        alerts = [_alert(now - back * 60_000, 0.62, "low", back * 2 + j) for back in range(10, 0, -1)
                  for j in range(2)]
        alerts += [_alert(now, 0.95, "high", 100 + i) for i in range(40)]
        # A task's rule hits: an alert rule at 1 a minute and an allowlist at 3, for 70 minutes; then
        # the alert rule matches 120 in this minute, and a rule added 2 minutes ago (in its grace) 200.
        metrics = [_task_metrics(now - back * 60_000, [("big-ecom", 2, "high", 1), ("allow-payroll", 1, None, 3)])
                   for back in range(70, 0, -1)]
        metrics += [_task_metrics(now - back * 60_000, [("new-rule", 1, "low", 0)]) for back in (2, 1)]
        metrics += [_task_metrics(now, [("big-ecom", 2, "high", 120), ("allow-payroll", 1, None, 3),
                                        ("new-rule", 1, "low", 200)])]
        p = producer(s.kafka_bootstrap)
        for a in alerts:
            p.produce(s.topics.risk_alerts, key=a["card_id"].encode(), value=json.dumps(a).encode())
        for r in metrics:
            p.produce(s.topics.pipeline_metrics, key=r["task_id"].encode(), value=json.dumps(r).encode())
        assert p.flush(10) == 0

        def pages_now():
            pages = [pg for pg in read_json(s.kafka_bootstrap, s.topics.oncall_pages) if pg["minute"] == minute_of(now)]
            return pages if len(_counts(s)) == 11 and len({pg["kind"] for pg in pages}) == 3 else None

        pages = _wait(pages_now)
        kinds = {pg["kind"] for pg in pages}
        assert kinds == {"alert_rate_spike", "score_drift", "rule_hits_spike"}
        spike = next(pg for pg in pages if pg["kind"] == "alert_rate_spike")
        assert spike["evidence"]["alerts"] >= 20 and spike["evidence"]["baseline_median"] <= 2
        (rule_page,) = [pg for pg in pages if pg["kind"] == "rule_hits_spike"]  # not new-rule: in its grace
        assert rule_page["subject"] == "big-ecom" and rule_page["evidence"]["hits"] >= 120
        assert "lepton-stream rules disable big-ecom" in rule_page["summary"]

        _wait(lambda: sum(_counts(s).values()) == 60)
        counts = _counts(s)
        assert counts[minute_of(now)] == 40
        tables = json.loads(_get(s, "/tables"))
        hist = tables["score_histogram"]  # "current" is the wall-clock minute: it may have moved on
        assert hist["current"][9] + hist["baseline"][9] == 40 and hist["baseline"][6] == 20
        assert {t["terminal_id"] for t in tables["top_terminals"]} == {"T0", "T1", "T2"}
        # The rule page came with the task's last record: the table has read every record by now.
        rules = {r["id"]: r for r in tables["rules"]}
        assert {(r["id"], r["version"], r["action"], r["severity"], r["state"]) for r in rules.values()} == {
            ("big-ecom", 2, "alert", "high", "spike"), ("allow-payroll", 1, "suppress", None, "ok"),
            ("new-rule", 1, "alert", "low", "grace")}
        assert rules["big-ecom"]["hits_window"] >= 120 and rules["big-ecom"]["baseline_per_min"] == 1.0
        assert 3 * 55 <= rules["allow-payroll"]["hits_last_hour"] <= 3 * 60 and rules["new-rule"]["hits_window"] == 200
        ui = _get(s, "/ui")
        assert "Lepton Stream" in ui and "alert_rate_spike" in ui and "rule_hits_spike" in ui and "big-ecom" in ui
        prom = _get(s, "/metrics")
        assert 'lepton_monitor_alerts_seen_total{severity="high"} 40.0' in prom
        assert "lepton_monitor_pages_total" in prom

        # Exactly-once: the consumed offsets commit with the changelog writes. Once every
        # alert's offset is committed, a restarted monitor reads nothing from risk-alerts
        # again: whatever its tables hold after the restart came from the changelogs. The same
        # for the rule hits on pipeline-metrics (and no transaction is left open by the stop).
        _wait(lambda: _committed(s) == len(alerts) and _committed(s, s.topics.pipeline_metrics) == len(metrics))
        stop_monitor(proc)
        proc = start_monitor(s, log)
        wait_monitor(s, proc, log)
        _wait(lambda: _counts(s) == counts, timeout_s=20)
        assert _committed(s) == len(alerts)
        assert {p["kind"] for p in json.loads(_get(s, "/tables"))["pages"]} == kinds
        recovered = {r["id"]: r for r in json.loads(_get(s, "/tables"))["rules"]}
        assert {k: (r["version"], r["first_seen"]) for k, r in recovered.items()} == {
            k: (r["version"], r["first_seen"]) for k, r in rules.items()}
        time.sleep(3)  # a restarted monitor does not page again for the same minute
        again = [pg for pg in read_json(s.kafka_bootstrap, s.topics.oncall_pages) if pg["minute"] == minute_of(now)]
        assert len(again) == len(pages)
    finally:
        stop_monitor(proc)


def _malformed(s) -> dict[tuple[str, str], float]:
    """lepton_monitor_malformed_records_total by (topic, reason), as the monitor's /metrics says."""
    return {(x.labels["topic"], x.labels["reason"]): x.value
            for fam in text_string_to_metric_families(_get(s, "/metrics")) for x in fam.samples
            if x.name == "lepton_monitor_malformed_records_total"}


def test_monitor_escapes_hostile_records_and_skips_malformed_ones(stack, tmp_path):
    s = _isolated(stack)
    log = tmp_path / "monitor.log"
    proc = start_monitor(s, log)
    try:
        wait_monitor(s, proc, log)
        now = int(time.time() * 1000)
        metrics_fields = ("task_id", "window_start", "window_end", "events_in", "scored", "alerts", "dlq", "labels",
                          "latency_ms", "batches", "batch_size", "lag", "stage_s", "schema_version")
        metrics = [json.dumps({f: bad for f in metrics_fields}).encode() for bad in HOSTILE]  # bad_type (events_in)
        metrics += [json.dumps({"task_id": bad, "window_end": now, "events_in": 10, "scored": 9, "alerts": 1,
                                "dlq": 1, "latency_ms": {"p99": 5.0}, "lag": {bad: 3}}).encode() for bad in HOSTILE]
        metrics += [HOSTILE[0].encode(), b"[1, 2]"]  # not_json, not_object
        metrics += [json.dumps({"task_id": "task-bad-rule", "window_end": now, "rule_hits": [  # out_of_range
            {"id": HOSTILE[0], "version": 1, "action": "alert", "severity": "high", "hits": 5}]}).encode()]
        metrics += [json.dumps({"task_id": "task-after-bad", "window_end": now, "events_in": 7}).encode()]

        alert = _alert(now, 0.95, "high", 1)
        alerts = [json.dumps({**alert, "alert_ts": bad}).encode() for bad in ("abc", None, [now])]  # bad_type
        alerts += [b"\xff\x00<script>alert('raw')</script>"]  # not_json
        alerts += [json.dumps({f: HOSTILE[1] for f in alert}).encode()]  # out_of_range (severity first)
        alerts += [json.dumps({**alert, "merchant_id": "M" * 70_000}).encode()]  # too_large
        # Hostile ids in otherwise valid alerts are counted, and shown as text.
        alerts += [json.dumps({**{f: bad for f in alert}, "severity": "high", "alert_ts": now, "fraud_score": 0.95})
                   .encode() for bad in HOSTILE]
        alerts += [json.dumps({**alert, "terminal_id": "T-after-bad"}).encode()]
        p = producer(s.kafka_bootstrap)
        for value in metrics:  # one key: one partition, so the last record is read after the bad ones
            p.produce(s.topics.pipeline_metrics, key=b"task", value=value)
        for value in alerts:
            p.produce(s.topics.risk_alerts, key=b"card-1", value=value)
        assert p.flush(10) == 0

        def settled():
            tables = json.loads(_get(s, "/tables"))
            tasks = {t["task_id"] for t in tables["pipeline"]}
            terms = {t["terminal_id"] for t in tables["top_terminals"]}
            return tables if "task-after-bad" in tasks and "T-after-bad" in terms else None

        tables = _wait(settled, timeout_s=90)
        assert proc.poll() is None  # alive: no bad record stopped an agent
        assert sum(_counts(s).values()) == len(HOSTILE) + 1
        assert {t["task_id"] for t in tables["pipeline"]} == {*HOSTILE, "task-after-bad"}
        assert tables["rules"] == []  # the record with a hostile rule id was skipped whole
        assert {t["terminal_id"] for t in tables["top_terminals"]} == {*HOSTILE, "T-after-bad"}

        headers, ui = _fetch(s, "/ui")
        tags = parsed(ui)
        # Each hostile string is text: no tag or attribute of the page came from a record.
        assert "<script" not in ui.lower() and "<img" not in ui.lower() and HOSTILE[1] not in ui
        assert not [name for _, attrs in tags.tags for name, _ in attrs if name.startswith("on")]
        assert {t for t, _ in tags.tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "table",
                                             "tr", "th", "td", "div", "span", "p", "a"}
        assert all(bad in tags.text for bad in HOSTILE)  # shown, as text
        for path in ("/ui", "/tables", "/health", "/metrics", "/no-such-page"):
            h = headers if path == "/ui" else _fetch(s, path)[0]
            assert h.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, path
            assert h.get("X-Content-Type-Options") == "nosniff", path

        ra, pm = s.topics.risk_alerts, s.topics.pipeline_metrics
        assert _malformed(s) == {(ra, "bad_type"): 3.0, (ra, "not_json"): 1.0, (ra, "out_of_range"): 1.0,
                                 (ra, "too_large"): 1.0, (pm, "bad_type"): 3.0, (pm, "not_json"): 1.0,
                                 (pm, "not_object"): 1.0, (pm, "out_of_range"): 1.0}
        lines = [json.loads(ln) for ln in log.read_text().splitlines() if "malformed record skipped" in ln]
        assert {(ln["topic"], ln["reason"]) for ln in lines} >= {(ra, "bad_type"), (ra, "too_large"), (pm, "not_json")}
        assert max(len(ln["excerpt"]) for ln in lines) < 200 and "M" * 1000 not in log.read_text()
    finally:
        stop_monitor(proc)
