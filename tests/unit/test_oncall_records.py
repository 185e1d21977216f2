"""What the alert monitor accepts from risk-alerts and pipeline-metrics (pure parsers)."""

import json

import pytest

from lepton_stream.config import Settings
from lepton_stream.oncall.records import (
    EXCERPT_CHARS,
    MAX_ID_CHARS,
    MAX_RECORD_BYTES,
    REASONS,
    Malformed,
    MonitorAlert,
    RuleCount,
    TaskSummary,
    cap,
    excerpt,
    parse_alert,
    parse_metrics,
)
from lepton_stream.pipeline.metrics import MAX_RULE_HITS, MetricsStage

TS = 1_760_000_000_000


def _alert(**over) -> bytes:
    a = {"tx_id": "t1", "card_id": "c1", "terminal_id": "T1", "merchant_id": "M1", "amount": 12.5,
         "fraud_score": 0.93, "credit_score": 0.1, "severity": "high", "reasons": [], "model_version": "f:1,c:1",
         "event_ts": TS - 50, "alert_ts": TS, "schema_version": 1}
    a.update(over)
    return json.dumps({k: v for k, v in a.items() if v is not ...}).encode()


def _metrics(**over) -> bytes:
    r = {"task_id": "scoring/host/1", "window_start": TS - 10_000, "window_end": TS, "events_in": 100, "scored": 98,
         "alerts": 3, "dlq": 2, "labels": 0, "latency_ms": {"p50": 5.0, "p95": 9.5, "p99": 12.25},
         "batches": 4, "batch_size": {"mean": 25.0, "max": 40}, "lag": {"transactions/0": 5, "transactions/1": 7},
         "stage_s": {"score": 0.1}, "schema_version": 1}
    r.update(over)
    return json.dumps({k: v for k, v in r.items() if v is not ...}).encode()


def _reason(fn, value) -> tuple[str, str]:
    with pytest.raises(Malformed) as err:
        fn(value)
    assert err.value.reason in REASONS
    return err.value.reason, err.value.field


def test_a_valid_alert_is_what_the_monitor_counts():
    assert parse_alert(_alert()) == MonitorAlert(TS, "high", 0.93, "T1", "M1")
    # Older alerts have no merchant; an empty or missing id counts as "unknown".
    assert parse_alert(_alert(merchant_id=..., terminal_id="")) == MonitorAlert(TS, "high", 0.93, "unknown", "unknown")
    assert parse_alert(_alert(alert_ts=float(TS), fraud_score=1)).alert_ts == TS
    assert parse_alert(_alert(terminal_id=42)).terminal_id == "42"


@pytest.mark.parametrize(("value", "reason", "field"), [
    (b"\xff\xfe not json", "not_json", ""),
    (b"{\"severity\": ", "not_json", ""),
    (b"[" * 50_000, "not_json", ""),  # deep nesting: a RecursionError, not a crash
    (b"[1, 2]", "not_object", ""),
    (b"null", "not_object", ""),
    (b"\"high\"", "not_object", ""),
    (_alert(alert_ts="abc"), "bad_type", "alert_ts"),
    (_alert(alert_ts=None), "bad_type", "alert_ts"),
    (_alert(alert_ts=[TS]), "bad_type", "alert_ts"),
    (_alert(alert_ts=True), "bad_type", "alert_ts"),
    (_alert(alert_ts=TS + 0.5), "bad_type", "alert_ts"),
    (_alert(alert_ts=...), "missing_field", "alert_ts"),
    (_alert(alert_ts=-1), "out_of_range", "alert_ts"),
    (_alert(alert_ts=10**30), "out_of_range", "alert_ts"),
    (_alert(alert_ts=float("inf")), "out_of_range", "alert_ts"),
    (_alert(fraud_score="0.9"), "bad_type", "fraud_score"),
    (_alert(fraud_score=float("nan")), "out_of_range", "fraud_score"),
    (_alert(fraud_score=7), "out_of_range", "fraud_score"),
    (_alert(fraud_score=...), "missing_field", "fraud_score"),
    (_alert(severity=...), "missing_field", "severity"),
    (_alert(severity=["high"]), "bad_type", "severity"),
    (_alert(severity="<script>alert(1)</script>"), "out_of_range", "severity"),
    (_alert(terminal_id={"a": 1}), "bad_type", "terminal_id"),
    (_alert(merchant_id="M" * (MAX_ID_CHARS + 1)), "too_long", "merchant_id"),
    (_alert(reasons="x" * MAX_RECORD_BYTES), "too_large", ""),
    (None, "bad_type", ""),  # a tombstone
])
def test_a_malformed_alert_says_why(value, reason, field):
    assert _reason(parse_alert, value) == (reason, field)


def test_a_valid_metrics_record_is_summarised():
    assert parse_metrics(_metrics()) == TaskSummary("scoring/host/1", TS, 100, 98, 3, 2, 12.25, 12,
                                                    {"transactions/0": 5, "transactions/1": 7})
    # A task with no traffic yet has no latencies and no lag: nulls, not errors.
    quiet = parse_metrics(_metrics(latency_ms=None, lag=None, dlq=...))
    assert (quiet.p99_ms, quiet.lag, quiet.lag_total, quiet.dlq) == (None, {}, 0, None)
    assert parse_metrics(_metrics()).to_dict()["lag_total"] == 12


@pytest.mark.parametrize(("value", "reason", "field"), [
    (b"not json", "not_json", ""),
    (b"42", "not_object", ""),
    (_metrics(task_id=...), "missing_field", "task_id"),
    (_metrics(task_id=""), "missing_field", "task_id"),
    (_metrics(task_id=["a"]), "bad_type", "task_id"),
    (_metrics(task_id="t" * 10_000), "too_long", "task_id"),
    (_metrics(events_in="<script>alert('pm')</script>"), "bad_type", "events_in"),
    (_metrics(scored=-1), "out_of_range", "scored"),
    (_metrics(alerts=1.5), "bad_type", "alerts"),
    (_metrics(dlq=False), "bad_type", "dlq"),
    (_metrics(window_end="soon"), "bad_type", "window_end"),
    (_metrics(latency_ms=[1, 2]), "bad_type", "latency_ms"),
    (_metrics(latency_ms={"p99": "<b>"}), "bad_type", "p99"),
    (_metrics(latency_ms={"p99": 1e300}), "out_of_range", "p99"),
    (_metrics(lag=[1]), "bad_type", "lag"),
    (_metrics(lag={"transactions/0": "many"}), "bad_type", "lag"),
    (_metrics(lag={f"t/{i}": 1 for i in range(2000)}), "too_long", "lag"),
    (_metrics(lag={"t" * 300: 1}), "too_long", "lag"),
])
def test_a_malformed_metrics_record_says_why(value, reason, field):
    assert _reason(parse_metrics, value) == (reason, field)


RULE = {"id": "big-ecom", "version": 3, "action": "alert", "severity": "high", "hits": 12}


def test_rule_hits_of_a_metrics_record():
    allow = {"id": "allow.payroll_1", "version": 1, "action": "suppress", "severity": None, "hits": 0}
    task = parse_metrics(_metrics(rule_hits=[RULE, allow]))
    assert task.rule_hits == (RuleCount("big-ecom", 3, "alert", "high", 12),
                              RuleCount("allow.payroll_1", 1, "suppress", None, 0))
    assert "rule_hits" not in task.to_dict()  # counted in the rules tables, not kept per task
    # An older job's records and a feature-store report have none: no rules, not zero hits.
    assert parse_metrics(_metrics()).rule_hits == () == parse_metrics(_metrics(rule_hits=None)).rule_hits


@pytest.mark.parametrize(("rule_hits", "reason"), [
    ({"big-ecom": 12}, "bad_type"),
    ([RULE, "x"], "bad_type"),
    ([{**RULE, "hits": "12"}], "bad_type"),
    ([{**RULE, "hits": -1}], "out_of_range"),
    ([{**RULE, "version": 1.5}], "bad_type"),
    ([{k: v for k, v in RULE.items() if k != "id"}], "missing_field"),
    ([{**RULE, "id": "<script>alert(1)</script>"}], "out_of_range"),  # not what a rule id can be
    ([{**RULE, "id": "4111111111111111"}], "out_of_range"),  # a card number is never a rule id
    ([{**RULE, "id": "r" * (MAX_ID_CHARS + 1)}], "too_long"),
    ([{**RULE, "action": "block"}], "out_of_range"),
    ([{**RULE, "severity": ["high"]}], "out_of_range"),
    ([RULE, RULE], "out_of_range"),  # one rule twice
    ([{**RULE, "id": f"r{i}"} for i in range(MAX_RULE_HITS + 1)], "too_long"),
])
def test_malformed_rule_hits_make_the_record_malformed(rule_hits, reason):
    assert _reason(parse_metrics, _metrics(rule_hits=rule_hits)) == (reason, "rule_hits")


def test_the_job_never_writes_more_rules_than_the_monitor_reads():
    stage = MetricsStage(Settings(), lag=lambda offsets: {f"transactions/{p}": 10**9 for p in range(64)})
    # More rules than a record lists, with the longest ids and numbers: the ones with the most hits.
    stage.rule_hits = {f"{i:03d}" + "r" * 61: (2**31 - 1, "alert", "medium", 2**40 + i) for i in range(300)}
    stage.batch_sizes = [1]
    record = stage._record(0.0)
    assert len(record) < 0.75 * MAX_RECORD_BYTES  # room to spare for the rest of the record
    task = parse_metrics(record)
    assert len(task.rule_hits) == MAX_RULE_HITS and task.rule_hits[0].id.startswith("299")
    assert min(r.hits for r in task.rule_hits) == 2**40 + 300 - MAX_RULE_HITS


def test_a_bad_record_is_logged_by_an_excerpt_without_card_numbers():
    value = json.dumps({"card": "4111111111111111", "pad": "x" * 10_000}).encode()
    text = excerpt(value)
    assert len(text) <= EXCERPT_CHARS + 3 and "4111111111111111" not in text and text.endswith("...")
    assert excerpt(b"\xff<b>") == "\ufffd<b>" and excerpt(None) == "None"


def test_cap_cuts_long_strings_and_says_so():
    assert cap("T1") == "T1"
    assert len(cap("x" * 1000)) == MAX_ID_CHARS and cap("x" * 1000).endswith("\u2026")
