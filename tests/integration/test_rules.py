"""Live rules against the real broker, Redis, Triton and the Flink job: a rule
published mid-stream fires on the next matching transactions and not on earlier
ones, a deleted rule stops firing, a bad rule is refused by the CLI and, sent raw
to the topic, lands in the DLQ; every transaction still has exactly one score.
Then `rules backtest` over that stream, with fraud labels published, against
counts the test makes from the events, the labels and the job's scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.rules import admin
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import assert_exactly_once, publish, read_json

pytestmark = pytest.mark.integration

# Longer than a worker takes to apply a change (the contract says within 5 s).
APPLY_S = 6.0
MARK = "merch_rules_test"


def wait_scored(s, n: int, job, log, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while len({x["tx_id"] for x in read_json(s.kafka_bootstrap, s.topics.scores)}) < n:
        assert job.poll() is None, last_line(log)
        assert time.monotonic() < deadline, f"fewer than {n} events scored in {timeout_s:.0f} s"
        time.sleep(0.5)


def test_a_rule_published_mid_stream_fires_on_later_transactions_only(stack, tmp_path):
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(**{f: f"{getattr(stack.topics, f)}-rules-{run}"
                                       for f in stack.topics.__dataclass_fields__})
    s = stack.replace(topics=topics, consumer_group=f"rules-{run}")
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    labelled = list(SimpleGenerator(cards=50, seed=31, id_prefix=run).stream(900, 1_700_000_000_000))
    events = [ev.event for ev in labelled]
    for e in events[::3]:
        e["merchant_id"] = MARK  # a third of each part would match the rule
    parts = events[:300], events[300:600], events[600:]
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(f"id: marked-merchant\nversion: 1\ndescription: the test's merchant\nowner: tests\n"
                         f"condition: merchant_id == \"{MARK}\" && amount > 0\naction: alert\nseverity: high\n")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "bad", "version": 1, "description": "", "owner": "tests",
                               "condition": "amount > \"x\"", "action": "alert", "severity": "high"}))

    p = producer(s.kafka_bootstrap)
    publish(p, topics.transactions, parts[0])
    log = tmp_path / "job.log"
    job = start_job(s, "group", log)
    try:
        wait_scored(s, 300, job, log)
        with pytest.raises(admin.RuleRefused, match="compares numbers"):
            admin.add(s, bad)  # refused before anything is published
        rule = admin.add(s, rule_file)
        assert (rule.id, rule.version) == ("marked-merchant", 1)
        # A malformed record that reaches the topic anyway: to the DLQ, and the job goes on.
        p.produce(topics.rules, b"{not json", b"broken")
        assert p.flush(30) == 0
        time.sleep(APPLY_S)
        publish(p, topics.transactions, parts[1])
        wait_scored(s, 600, job, log)
        admin.delete(s, rule.id)
        time.sleep(APPLY_S)
        publish(p, topics.transactions, parts[2])
        wait_scored(s, 900, job, log)
    finally:
        stop_job(job)
    assert_exactly_once(s, events)
    scores = {x["tx_id"]: x for x in read_json(s.kafka_bootstrap, topics.scores)}
    alerts = {x["tx_id"]: x for x in read_json(s.kafka_bootstrap, topics.risk_alerts)}
    for k, part in enumerate(parts):
        marked = [e["tx_id"] for e in part if e["merchant_id"] == MARK]
        fired = [t for t in marked if scores[t]["rules"] == ["marked-merchant:1"]]
        if k == 1:  # while the rule is live: every marked transaction, and an alert naming it
            assert fired == marked
            for t in marked:
                assert {"id": "marked-merchant", "version": 1, "severity": "high"} in alerts[t]["rules"]
                assert alerts[t]["severity"] == "high"
            unmarked = [e["tx_id"] for e in part if e["merchant_id"] != MARK]
            assert all(scores[t]["rules"] == [] for t in unmarked)
        else:  # before it was published, and after it was deleted
            assert fired == [], k
            assert all(not alerts.get(t, {}).get("rules") for t in marked)
    dlq = [x for x in read_json(s.kafka_bootstrap, topics.dlq) if x["source_topic"] == topics.rules]
    assert [x["error_code"] for x in dlq] == ["invalid_rule"], dlq

    backtest_the_stream(s, labelled, rule_file, tmp_path)


def _backtest(s, rule_file, *extra: str) -> str:
    done = subprocess.run([sys.executable, "-m", "lepton_stream.cli", "rules", "backtest", str(rule_file),
                           "--since", "1h", *extra], env={**os.environ, **s.to_env()}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def backtest_the_stream(s, labelled, rule_file, tmp_path) -> None:
    """The stream's known frauds labelled, then the marked-merchant rule and a rule on a
    card window over the whole stream (the backtest ignores when the rule was live)."""
    events = [ev.event for ev in labelled]
    frauds = {ev.event["tx_id"] for ev in labelled if ev.is_fraud}
    assert len(frauds) > 5
    publish(producer(s.kafka_bootstrap), s.topics.fraud_labels,
            [{"tx_id": e["tx_id"], "card_id": e["card_id"], "terminal_id": e["terminal_id"], "is_fraud": True,
              "labelled_at": e["ts"] + 7 * 86_400_000} for e in events if e["tx_id"] in frauds])
    scores = {x["tx_id"]: x["fraud_score"] for x in read_json(s.kafka_bootstrap, s.topics.scores)}

    report = json.loads(_backtest(s, rule_file, "--json"))
    marked = {e["tx_id"] for e in events if e["merchant_id"] == MARK}
    assert (report["transactions"], report["invalid"], report["unscored"]) == (len(events), 0, 0)
    assert (report["matched"], report["matches"]) == (len(marked), len(marked))
    assert (report["known_frauds"], report["caught"]) == (len(frauds), len(frauds & marked))
    assert report["model_alerted"] == sum(1 for t in marked if scores[t] >= s.models.alert_threshold)
    assert report["precision"] == round(len(frauds & marked) / len(marked), 4)

    # The stream spans under a minute of one hour: a card's 1-day count is 1 + its earlier events.
    seen: dict[str, int] = {}
    want = set()
    for e in sorted(events, key=lambda e: e["ts"]):
        seen[e["card_id"]] = seen.get(e["card_id"], 0) + 1
        if seen[e["card_id"]] >= 12 and e["channel"] != "pos":
            want.add(e["tx_id"])
    assert 0 < len(want) < len(events) // 4
    window_rule = tmp_path / "window.json"
    window_rule.write_text(json.dumps({"id": "busy-card", "version": 1, "description": "", "owner": "tests",
                                       "condition": 'card_nb_tx_1d >= 12 && channel != "pos"', "action": "alert",
                                       "severity": "low"}))
    out = _backtest(s, window_rule)
    assert f"would alert   {len(want):,} transactions" in out, out
    assert f"caught {len(want & frauds):,}" in out, out
    assert not any(e["card_id"] in out for e in events)
