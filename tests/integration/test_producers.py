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


def test_publish_sends_a_files_valid_lines_keyed_by_card_and_reports_the_rest(stack, tmp_path):
    """`lepton-stream publish FILE`, as a user runs it, against the real broker."""
    import os
    import subprocess
    import sys

    from lepton_stream.config import REPO_ROOT
    from producers.malformed import malformed
    from producers.simple import SimpleGenerator

    (topic,) = _topics(stack, "publish")
    s = stack.replace(topics=stack.topics.__class__(transactions=topic))
    good = [ev.event for ev in SimpleGenerator(cards=20, seed=4, id_prefix="pub").stream(300, 1_700_000_000_000)]
    bad = [malformed("card_number", good[0] | {"tx_id": "pub-bad-1"}), b"{truncated"]
    f = tmp_path / "mine.jsonl"
    f.write_bytes(b"\n".join([json.dumps(e).encode() for e in good[:150]] + bad
                             + [json.dumps(e).encode() for e in good[150:]]) + b"\n")
    cmd = [sys.executable, "-m", "lepton_stream.cli", "publish", str(f), "--json"]
    done = subprocess.run(cmd, env={**os.environ, **s.to_env()}, cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]  # two lines the job would reject: not OK
    report = json.loads(done.stdout)
    assert (report["lines"], report["sent"], report["delivered"], report["invalid"]) == (302, 300, 300, 2)
    assert report["invalid_by_reason"] == {"card_number_not_token": 1, "invalid_json": 1}
    assert report["invalid_samples"][0].startswith(f"{f}:151: card_number_not_token")
    assert b"4111111111111111" not in done.stdout + done.stderr
    msgs = read_topic(stack.kafka_bootstrap, topic)
    assert sorted(m.value() for m in msgs) == sorted(json.dumps(e).encode() for e in good)
    assert all(m.key() == json.loads(m.value())["card_id"].encode() for m in msgs)
    # Fixed, the file goes again: every line accepted, exit 0 (the job drops what it saw already).
    f.write_bytes(b"\n".join(json.dumps(e).encode() for e in good))
    again = subprocess.run(cmd, env={**os.environ, **s.to_env()}, cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout)["ok"] is True
