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

from lepton_stream.config import Settings
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.offline import offline_aggregates
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.schemas import parse_transaction
from lepton_stream.stack import manager
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import assert_exactly_once, publish, read_json, run_killed_mid_stream_then_restarted

pytestmark = pytest.mark.integration


def own_run(stack: Settings, group: str, seed: int, n: int) -> tuple[Settings, list[dict]]:
    """Topics and a consumer group of this run's own, checkpoints every second, and `n`
    transactions on cards of its own."""
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(transactions=f"tx-{run}", scores=f"scores-{run}", risk_alerts=f"alerts-{run}",
                                    dlq=f"dlq-{run}", fraud_labels=f"labels-{run}")
    s = stack.replace(topics=topics, consumer_group=f"{group}-{run}", checkpoint_interval_ms=1000,
                      transaction_timeout_ms=30_000)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    return s, [ev.event for ev in SimpleGenerator(cards=40, seed=seed, id_prefix=run).stream(n, 1_700_000_000_000,
                                                                                             500.0)]


# Once on one Redis, once on a Redis Cluster of three masters (LEPTON_REDIS_CLUSTER).
@pytest.mark.parametrize("stack_fixture", ["stack", "cluster_stack"])
def test_sigkill_mid_stream_then_restart_scores_each_event_exactly_once(stack_fixture, request, tmp_path):
    s, events = own_run(request.getfixturevalue(stack_fixture), "eo", 8, 4000)
    run_killed_mid_stream_then_restarted(s, events, tmp_path)

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


def test_the_broker_sigkilled_mid_stream_and_restarted_loses_nothing(stack, tmp_path):
    """The broker is the other part a paced stream runs through: SIGKILL it while the job
    scores, start it again from its data, and every transaction still has exactly one
    score (the job and the publisher wait for it; nothing is restarted by hand but it)."""
    s, events = own_run(stack, "bk", 9, 2000)
    topics = s.topics
    scored = lambda: len({x["tx_id"] for x in read_json(s.kafka_bootstrap, topics.scores)})  # noqa: E731
    p = producer(s.kafka_bootstrap)
    publish(p, topics.transactions, events[:500])
    log = tmp_path / "job.log"
    job = start_job(s, "group", log)
    try:
        deadline = time.monotonic() + 180
        while scored() < 300:
            assert job.poll() is None, last_line(log)
            assert time.monotonic() < deadline, "no scores before the kill"
            time.sleep(0.5)
        # The stream goes on arriving: the publisher's client buffers while the broker is away.
        unsent: list[int] = []

        def send_paced() -> None:
            q = producer(s.kafka_bootstrap)
            for i, e in enumerate(events[500:1500]):
                q.produce(topics.transactions, key=e["card_id"].encode(), value=json.dumps(e).encode())
                q.poll(0)
                time.sleep(max(0.0, 0.005 * (i + 1) - (time.monotonic() - t0)))
            unsent.append(q.flush(180))

        t0 = time.monotonic()
        sender = threading.Thread(target=send_paced)
        sender.start()
        time.sleep(1.5)
        (broker,) = [part.pid for part in manager.status(stack) if part.name == "kafka"]
        assert broker is not None
        os.kill(broker, signal.SIGKILL)
        time.sleep(2)
        assert manager.up(stack, only=["kafka"]) == ["kafka"]
        sender.join(timeout=240)
        assert unsent == [0], "the publisher's records were not all acknowledged after the broker came back"
        publish(p, topics.transactions, events[1500:])
        deadline = time.monotonic() + 240
        while scored() < len(events):
            assert job.poll() is None, last_line(log)
            assert time.monotonic() < deadline, f"{scored()} of {len(events)} scored after the broker came back"
            time.sleep(0.5)
    finally:
        stop_job(job)
        manager.up(stack, only=["kafka"])  # for the tests after this one, whatever happened here
    assert_exactly_once(s, events)
