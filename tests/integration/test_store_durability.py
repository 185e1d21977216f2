"""The feature store through a loss durability cannot cover: flushed, then rebuilt from Kafka.

Each test runs its own redis-server, configured as the stack's is
(`lepton_stream/stack/redis_server.py`), started and stopped by PID, with the
shared stack's Kafka and Triton and a real Flink job."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
import redis

from lepton_stream.config import Settings
from lepton_stream.feature_store.profiles import publish_profiles
from lepton_stream.feature_store.rebuild import rebuild
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.features.definitions import CARD_WINDOWS, PROFILE_FIELDS, TERMINAL_WINDOWS
from lepton_stream.features.offline import offline_aggregates
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.schemas import parse_transaction
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.processes import free_ports, last_line
from lepton_stream.stack.redis_server import RedisServer
from producers.simple import SimpleGenerator
from tests.integration.conftest import assert_exactly_once, publish, read_json

pytestmark = pytest.mark.integration

# The whole test stream spans less than the job's 24 h skew bound
# (`LEPTON_MAX_AHEAD_OF_STREAM_MS`): two partitions read out of step can put one
# far behind the other, and a longer stream would then meet the guard.
STREAM_SPAN_MS = 20 * 3_600_000


class OwnRedis:
    """A redis-server on its own port and data directory, killed and restarted by PID."""

    def __init__(self, s: Settings) -> None:
        self.s, self.server = s, RedisServer()
        self.server.prepare(s)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.server.command(self.s), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.server.ready(self.s):
                    return
            except redis.RedisError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown, no final fsync
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@contextmanager
def own_run(stack: Settings, tmp_path, name: str) -> Iterator[tuple[Settings, OwnRedis]]:
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(**{f: f"{getattr(stack.topics, f)}-{name}-{run}"
                                       for f in stack.topics.__dataclass_fields__})
    (port,) = free_ports(1)
    s = stack.replace(topics=topics, consumer_group=f"{name}-{run}", redis_port=port, home=tmp_path / "home",
                      checkpoint_interval_ms=1000, transaction_timeout_ms=30_000)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    server = OwnRedis(s)
    server.start()
    try:
        yield s, server
    finally:
        server.stop()


def frame(events: list[dict]) -> pd.DataFrame:
    txs = [parse_transaction(json.dumps(e)) for e in events]
    return pd.DataFrame([{"tx_id": t.tx_id, "card_id": t.card_id, "terminal_id": t.terminal_id, "ts_ms": t.ts_ms,
                          "amount_cents": t.amount_cents, "x": t.x, "y": t.y} for t in txs])


def assert_store_is_the_definition(s: Settings, events: list[dict]) -> None:
    """Every card's and terminal's windows, as the store answers them at its last event,
    equal the offline definition over every event: nothing lost, nothing counted twice."""
    df = frame(events)
    clean = offline_aggregates(df)
    store = RedisWindowStore(s.redis_url)
    for entity, view, count in (("card_id", CARD_WINDOWS, clean.card_count),
                                ("terminal_id", TERMINAL_WINDOWS, clean.terminal_count)):
        last = np.flatnonzero(~df[entity].duplicated(keep="last").to_numpy())
        for i in last:
            at = int(df["ts_ms"].iat[i])
            got = store.describe(**{"card_id" if entity == "card_id" else "terminal_id": df[entity].iat[i]},
                                 at_ms=at)["card" if entity == "card_id" else "terminal"]["windows"]
            want = [int(c) for c in count[i]]
            assert [got[f"{d}d"].get("c", 0) for d in view.windows_days] == want, (entity, df[entity].iat[i])


def wait_scored(s: Settings, n: int, job, log, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while len({x["tx_id"] for x in read_json(s.kafka_bootstrap, s.topics.scores)}) < n:
        assert job.poll() is None, last_line(log)
        if time.monotonic() > deadline:
            rejected = [x["error_code"] for x in read_json(s.kafka_bootstrap, s.topics.dlq)]
            pytest.fail(f"fewer than {n} events scored in {timeout_s:.0f} s; rejected: {rejected[:5]}")
        time.sleep(0.5)


def test_redis_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(stack, tmp_path):
    with own_run(stack, tmp_path, "rkill") as (s, server):
        events = [ev.event for ev in SimpleGenerator(cards=300, seed=21, id_prefix=s.job.consumer_group).stream(
            5000, 1_700_000_000_000, STREAM_SPAN_MS / 5000)]
        p = producer(s.kafka_bootstrap)
        publish(p, s.topics.transactions, events[:1000])
        log = tmp_path / "job.log"
        job = start_job(s, "group", log)
        try:
            wait_scored(s, 300, job, log)
            # A paced stream is being scored when Redis dies without a goodbye and is back 2 s later.
            feeder = threading.Thread(target=publish, args=(p, s.topics.transactions, events[1000:], 1000.0))
            feeder.start()
            time.sleep(1.5)
            server.kill()
            time.sleep(2.0)
            server.start()
            feeder.join()
            wait_scored(s, len(events), job, log)
        finally:
            stop_job(job)
        assert "feature store lost" not in log.read_text(), "a durable Redis came back with its state"
        assert_exactly_once(s, events)
        assert_store_is_the_definition(s, events)


def test_a_flushed_store_pauses_the_job_until_rebuilt_from_kafka(stack, tmp_path):
    with own_run(stack, tmp_path, "rlost") as (s, _server):
        events = [ev.event for ev in SimpleGenerator(cards=200, seed=22, id_prefix=s.job.consumer_group).stream(
            3000, 1_700_000_000_000, STREAM_SPAN_MS / 3000)]
        cards = sorted({e["card_id"] for e in events})
        rows = np.tile(np.arange(1, len(PROFILE_FIELDS) + 1, dtype=float), (len(cards), 1)) * 7
        publish_profiles(s, cards, rows)
        p = producer(s.kafka_bootstrap)
        publish(p, s.topics.transactions, events[:1500])
        log = tmp_path / "job.log"
        job = start_job(s, "group", log)
        store = RedisWindowStore(s.redis_url)
        try:
            wait_scored(s, 1500, job, log)
            _, missing = store.profiles(cards)
            assert not missing.any(), "the job applies credit-profiles"
            store._redis.flushall()  # an operator's mistake: durability cannot help
            publish(p, s.topics.transactions, events[1500:])
            deadline = time.monotonic() + 60
            while not (lost := [m for m in read_json(s.kafka_bootstrap, s.topics.pipeline_metrics)
                                if m.get("feature_store") == "lost"]):
                assert job.poll() is None, last_line(log)
                assert time.monotonic() < deadline, "the job did not report the store lost"
                time.sleep(0.5)
            assert "marker" in lost[-1]["feature_store_reason"]
            time.sleep(3)  # paused, not only slow: the new transactions stay unscored
            scored = {x["tx_id"] for x in read_json(s.kafka_bootstrap, s.topics.scores)}
            assert len(scored) < len(events), "the job must not score on an emptied store"
            report = rebuild(s, store, since_ms=0)
            assert report.transactions >= 1500 and report.profiles == len(cards)
            wait_scored(s, len(events), job, log)
        finally:
            stop_job(job)
        assert_exactly_once(s, events)
        assert_store_is_the_definition(s, events)
        _, missing = store.profiles(cards)
        assert not missing.any(), "profiles come back from credit-profiles"
