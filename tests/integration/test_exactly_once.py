"""Exactly-once through a crash: SIGKILL the job mid-stream, restart it, and every valid
transaction still has exactly one score (read_committed) computed from features that
counted nothing twice."""

import json
import os
import signal
import threading
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.offline import offline_aggregates
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.schemas import parse_transaction
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import assert_exactly_once, publish, read_json

pytestmark = pytest.mark.integration


# Once on one Redis, once on a Redis Cluster of three masters (LEPTON_REDIS_CLUSTER).
@pytest.mark.parametrize("stack_fixture", ["stack", "cluster_stack"])
def test_sigkill_mid_stream_then_restart_scores_each_event_exactly_once(stack_fixture, request, tmp_path):
    stack = request.getfixturevalue(stack_fixture)
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", fraud_labels=f"labels-{run}")
    s = stack.replace(topics=topics, consumer_group=f"eo-{run}", checkpoint_interval_ms=1000,
                      transaction_timeout_ms=30_000)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    events = [ev.event for ev in SimpleGenerator(cards=40, seed=8, id_prefix=run).stream(4000, 1_700_000_000_000,
                                                                                         500.0)]
    p = producer(s.kafka_bootstrap)
    publish(p, topics.transactions, events[:2000])
    job = start_job(s, "group", tmp_path / "job1.log")
    try:
        deadline = time.monotonic() + 180
        while len(read_json(s.kafka_bootstrap, topics.scores)) < 500:  # committed output exists: mid-stream
            assert job.poll() is None, last_line(tmp_path / "job1.log")
            assert time.monotonic() < deadline, "no scores from the first run"
        # Kill while it works through a stream still arriving (checkpoints every second).
        killer = threading.Timer(1.2, os.killpg, (job.pid, signal.SIGKILL))  # JVM and Python workers, no goodbye
        killer.start()
        publish(p, topics.transactions, events[2000:3000], rate=500)
        killer.join()
        job.wait(timeout=30)
    finally:
        stop_job(job)
    first_run = len({x["tx_id"] for x in read_json(s.kafka_bootstrap, topics.scores)})
    assert first_run < 3000, "the first run should not have finished everything before the kill"

    publish(p, topics.transactions, events[3000:])
    job = start_job(s, "group", tmp_path / "job2.log")
    try:
        deadline = time.monotonic() + 240
        while len({x["tx_id"] for x in read_json(s.kafka_bootstrap, topics.scores)}) < len(events):
            assert job.poll() is None, last_line(tmp_path / "job2.log")
            assert time.monotonic() < deadline, "not every event scored after the restart"
    finally:
        stop_job(job)

    assert_exactly_once(s, events)

    # Redis holds what a clean run would: each card's windows count each event once.
    txs = [parse_transaction(json.dumps(e)) for e in events]
    df = pd.DataFrame([{"tx_id": t.tx_id, "card_id": t.card_id, "terminal_id": t.terminal_id, "ts_ms": t.ts_ms,
                        "amount_cents": t.amount_cents, "x": t.x, "y": t.y} for t in txs])
    clean = offline_aggregates(df)
    last = ~df["card_id"].duplicated(keep="last").to_numpy()
    store = RedisWindowStore.from_settings(s)
    for i in np.flatnonzero(last):
        at = int(df["ts_ms"].iat[i])
        counted = store.describe(card_id=df["card_id"].iat[i], at_ms=at)["card"]["windows"]["30d"].get("c", 0)
        assert counted == clean.card_count[i, 2]
