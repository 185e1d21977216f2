"""Triton stops mid-stream: the job waits and retries with backoff (visible in its log),
and once Triton is back every event is scored exactly once; nothing dropped."""

import json
import time
import uuid
from collections import Counter

import pytest

from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.stack import manager
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import read_json

pytestmark = pytest.mark.integration


def test_job_waits_for_triton_and_loses_nothing(stack, tmp_path):
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", fraud_labels=f"labels-{run}", pipeline_metrics=f"m-{run}")
    s = stack.replace(topics=topics, consumer_group=f"outage-{run}", retry_base_s=0.5, retry_attempts=10)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    events = [ev.event for ev in SimpleGenerator(cards=30, seed=9, id_prefix=run).stream(3000, 1_700_000_000_000)]
    p = producer(s.kafka_bootstrap)

    def publish(part):
        for e in part:
            p.produce(topics.transactions, key=e["card_id"].encode(), value=json.dumps(e).encode())
        assert p.flush(30) == 0

    def _tx_ids(s, topic):
        return Counter(x["tx_id"] for x in read_json(s.kafka_bootstrap, topic))

    publish(events[:1000])
    log = tmp_path / "job.log"
    job = start_job(s, "group", log)
    try:
        deadline = time.monotonic() + 180
        while sum(_tx_ids(s, topics.scores).values()) < 1000:
            assert job.poll() is None, last_line(log)
            assert time.monotonic() < deadline, "the job did not start scoring"
            time.sleep(0.5)
        manager.down_parts(stack, ["triton"])
        publish(events[1000:])  # arrives while Triton is down
        time.sleep(8)
        assert sum(_tx_ids(s, topics.scores).values()) == 1000  # nothing scored without Triton...
        assert job.poll() is None  # ...and the job waits instead of failing
        manager.up(stack, only=["triton"])
        deadline = time.monotonic() + 180
        while sum(_tx_ids(s, topics.scores).values()) < len(events):
            assert job.poll() is None, last_line(log)
            assert time.monotonic() < deadline, "not every event scored after Triton came back"
            time.sleep(0.5)
    finally:
        stop_job(job)
        manager.up(stack, only=["triton"])  # whatever happened, leave the stack whole
    counts = _tx_ids(s, topics.scores)
    assert set(counts) == {e["tx_id"] for e in events} and max(counts.values()) == 1
    retries = [json.loads(line) for line in log.read_text().splitlines()
               if line.startswith("{") and '"call failed, retrying"' in line]
    assert retries and all(r["call"] == "triton" for r in retries)
