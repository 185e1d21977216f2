"""The plain consumer loop the benchmark compares against does the same, correct work."""

import uuid
from collections import Counter

import pytest

from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from producers.simple import SimpleGenerator, malformed
from stream_jobs.consumer_loop import main, run_loop
from tests.integration.conftest import read_json

pytestmark = pytest.mark.integration


# 0: a transaction per batch; 30: every batch in one transaction, committed when idle,
# run as the benchmark runs it, from its command line with the settings in the environment.
@pytest.mark.parametrize("how,commit_interval_s", [("call", 0.0), ("cli", 30.0)])
def test_consumer_loop_scores_each_event_once_and_rejects_bad_ones(stack, monkeypatch, how, commit_interval_s):
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", fraud_labels=f"labels-{run}", pipeline_metrics=f"m-{run}")
    s = stack.replace(topics=topics, consumer_group=f"loop-{run}")
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    p = producer(s.kafka_bootstrap)
    valid = []
    for i, ev in enumerate(SimpleGenerator(cards=20, seed=12, id_prefix=run).stream(300, 1_700_000_000_000)):
        bad = i % 30 == 0
        p.produce(topics.transactions, key=ev.event["card_id"].encode(),
                  value=malformed("negative_amount", ev.event) if bad else ev.to_bytes())
        if not bad:
            valid.append(ev.event["tx_id"])
    assert p.flush(30) == 0
    if how == "call":
        summary = run_loop(s, batch_size=100, commit_interval_s=commit_interval_s, idle_stop_s=2.0)
        assert summary["events"] == 300 and summary["stage_seconds"]["FeatureStage"] > 0
    else:
        for k, v in s.to_env().items():
            monkeypatch.setenv(k, v)
        assert main(["--batch-size", "100", "--max-wait-ms", "50", "--commit-interval-s", str(commit_interval_s),
                     "--idle-stop-s", "2"]) == 0

    assert Counter(x["tx_id"] for x in read_json(s.kafka_bootstrap, topics.scores)) == Counter(valid)
    assert [d["error_code"] for d in read_json(s.kafka_bootstrap, topics.dlq)] == ["amount_not_positive"] * 10
