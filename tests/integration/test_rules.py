"""Live rules against the real broker, Redis, Triton and the Flink job: a rule
published mid-stream fires on the next matching transactions and not on earlier
ones, a deleted rule stops firing, a bad rule is refused by the CLI and, sent raw
to the topic, lands in the DLQ; every transaction still has exactly one score."""

from __future__ import annotations

import json
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
    s = stack.replace(topics=topics, consumer_group=f"rules-{run}", checkpoint_interval_ms=1000)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    events = [ev.event for ev in SimpleGenerator(cards=50, seed=31, id_prefix=run).stream(900, 1_700_000_000_000)]
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
