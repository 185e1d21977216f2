"""The load generator against the real broker: what it reports is what the broker holds."""

import json
import uuid
from collections import Counter

import pytest

from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.schemas import InvalidEvent, Transaction, parse_transaction
from producers.load import LoadOptions, run_load
from producers.simulator.labels import DAY_MS
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.integration


def _topics(stack, *names):
    run = uuid.uuid4().hex[:6]
    topics = [f"{n}-{run}" for n in names]
    create_topics(stack.kafka_bootstrap, topics, 2)
    wait_topics_ready(stack.kafka_bootstrap, topics)
    return topics


def test_fixed_rate_produce_consume_round_trip(stack):
    (topic,) = _topics(stack, "load")
    opts = LoadOptions(rate=4000, duration_s=1.5, cards=300, malformed_share=0.05, run_id="rt")
    report = run_load(stack.kafka_bootstrap, topic, opts)
    assert (report.sent, report.delivered, report.errors) == (6000, 6000, 0)
    assert report.achieved_rate == pytest.approx(4000, rel=0.1) and not report.fell_behind
    assert report.delivery_latency_ms_p50 > 0
    msgs = read_topic(stack.kafka_bootstrap, topic)
    parsed = [parse_transaction(m.value()) for m in msgs]
    assert len(msgs) == 6000
    assert sum(isinstance(p, InvalidEvent) for p in parsed) == report.malformed > 0
    valid = [p for p in parsed if isinstance(p, Transaction)]
    assert len({p.tx_id for p in valid}) == len(valid)
    assert all(m.key() == p.card_id.encode() for m, p in zip(msgs, parsed, strict=True) if isinstance(p, Transaction))


def test_replay_publishes_labels_after_their_delay(stack):
    tx_topic, label_topic = _topics(stack, "replay", "labels")
    opts = LoadOptions(replay=True, speedup=86_400 * 2, days=2, cards=300, labels=True, label_delay_days=0.5)
    report = run_load(stack.kafka_bootstrap, tx_topic, opts, labels_topic=label_topic)
    assert report.errors == 0 and report.labels > 0
    txs = {json.loads(m.value())["tx_id"]: json.loads(m.value()) for m in read_topic(stack.kafka_bootstrap, tx_topic)}
    labels = [json.loads(m.value()) for m in read_topic(stack.kafka_bootstrap, label_topic)]
    assert len(labels) == report.labels
    assert Counter(lab["is_fraud"] for lab in labels) == {True: len(labels)}
    for lab in labels:
        assert lab["labelled_at"] - txs[lab["tx_id"]]["ts"] == DAY_MS // 2
        assert lab["card_id"] == txs[lab["tx_id"]]["card_id"]
