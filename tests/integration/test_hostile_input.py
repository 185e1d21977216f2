"""Hostile input against the running stack: the Flink job (and the consumer loop, and the
alert monitor behind them) on the real broker, Redis and Triton.

One stream mixes valid transactions with poison records (tombstones, empty, huge,
binary, absurd values, duplicates) and with card numbers planted in every field,
key and encoding. Then: every valid event is scored once and on time, every poison
record is in the DLQ with its reason, no card is poisoned, and no card number is in
anything the job, the loop or the monitor wrote (topics, keys, headers, logs, metrics).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from lepton_stream.config import Settings, Topics
from lepton_stream.feature_store.redis_windows import RedisWindowStore
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import consumer, producer
from lepton_stream.stack.job_process import start_job, start_loop, stop_job
from lepton_stream.stack.monitor_process import start_monitor, stop_monitor, wait_monitor
from lepton_stream.stack.processes import last_line
from producers.simple import SimpleGenerator
from tests.integration.conftest import read_json, read_topic

pytestmark = pytest.mark.integration

# Luhn-valid numbers of several networks, each planted in some written form.
PANS = ["4020088328208957", "5500000000000004", "378282246310005", "6011000990139424", "4111111111111111",
        "3530111333300000", "4917610000000000", "5105105105105100", "4000056655665556", "2223003122003222",
        "6200000000000005", "4242424242424242", "4012888888881881"]


def _spaced(pan: str, sep: str = " ") -> str:
    return sep.join(pan[i:i + 4] for i in range(0, len(pan), 4))


@dataclass
class World:
    s: Settings
    loop_s: Settings
    now: int
    valid: list[dict] = field(default_factory=list)
    poison: dict[str, str] = field(default_factory=dict)  # poison tx_id or label -> expected error_code
    poison_count: Counter = field(default_factory=Counter)  # expected DLQ error codes
    logs: list[Path] = field(default_factory=list)
    http: list[str] = field(default_factory=list)  # what the job's workers and the monitor served
    watched_card: str = ""
    watched_terminal: str = ""
    first_duplicate: dict = field(default_factory=dict)


def _isolated(stack: Settings, run: str, tag: str) -> Settings:
    topics = Topics(**{name: f"{getattr(Topics(), name)}-{tag}-{run}" for name in Topics.__dataclass_fields__})
    return stack.replace(topics=topics, consumer_group=f"{tag}-{run}", monitor_app_id=f"monitor-{run}",
                         metrics_interval_s=1.0)


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode(errors="replace")
    except OSError:
        return ""


def _wait_scores(s: Settings, want: set[str], timeout_s: float, procs) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        scores = read_json(s.kafka_bootstrap, s.topics.scores)
        if want <= {x["tx_id"] for x in scores}:
            return scores
        for proc, log in procs:
            assert proc.poll() is None, f"{log.name} exited: {last_line(log)}"
        assert time.monotonic() < deadline, f"{len(want - {x['tx_id'] for x in scores})} valid events not scored"
        time.sleep(1)


def _hostile_stream(w: World) -> list[tuple[bytes | None, bytes | None, str]]:
    """(key, value, topic) in publication order."""
    s, now = w.s, w.now
    gen = SimpleGenerator(cards=20, fraud_share=0.2, seed=11, id_prefix=f"ok-{s.job.consumer_group}")
    good = [ev.event for ev in gen.stream(240, now, 1.0)]
    out: list[tuple[bytes | None, bytes | None, str]] = []
    tx, labels = s.topics.transactions, s.topics.fraud_labels

    def bad(value: bytes | None, code: str, key: bytes | None = b"k", topic: str = tx) -> None:
        out.append((key, value, topic))
        w.poison_count[code] += 1

    def ok(ev: dict, key: bytes | None = None) -> None:
        out.append((ev["card_id"].encode() if key is None else key, json.dumps(ev).encode(), tx))
        w.valid.append(ev)

    base = good[0]
    watched = {**base, "card_id": "card-watched", "terminal_id": "term-watched"}
    w.watched_card, w.watched_terminal = watched["card_id"], watched["terminal_id"]
    pans = iter(PANS)
    for i, ev in enumerate(good[:200]):
        ok(ev, key=None if i % 7 else next(pans, PANS[0]).encode())  # some keys are card numbers
        if i == 20:  # poison pills, each between valid events
            bad(None, "null_value")
            bad(None, "null_value", key=None)
            bad(b"", "empty_value")
            bad(b'{"tx_id": "huge", "pad": "' + b"\x01" * 900_000 + b'"}', "invalid_json")
            bad(bytes(range(256)) * 100 + f"card {PANS[0]}".encode("utf-16"), "invalid_json")
            bad(json.dumps(["not", "an", "object"]).encode(), "not_an_object")
            bad(json.dumps({**base, "tx_id": f"{base['tx_id']}-nested", "amount": {"v": 1}}).encode(), "wrong_type")
            bad(b"\x00" * 5000, "invalid_json")
            bad(None, "null_value", topic=labels)
            bad(b"{not json", "invalid_json", topic=labels)
        if i == 40:  # absurd values on the watched card, then normal events on it
            ok({**watched, "tx_id": f"{base['tx_id']}-w1", "ts": now + 10})
            bad(json.dumps({**watched, "tx_id": f"{base['tx_id']}-w2", "x": 1e308}).encode(), "location_out_of_range")
            bad(json.dumps({**watched, "tx_id": f"{base['tx_id']}-w3", "y": -1e39}).encode(), "location_out_of_range")
            bad(json.dumps({**watched, "tx_id": f"{base['tx_id']}-w4", "ts": 4_070_908_800_000}).encode(),
                "timestamp_in_future")  # 2099
            bad(json.dumps({**watched, "tx_id": f"{base['tx_id']}-w5", "ts": now + 86_400_000}).encode(),
                "timestamp_in_future")
            ok({**watched, "tx_id": f"{base['tx_id']}-w6", "ts": now + 20, "amount": 9000.0, "channel": "ecom"})
            ok({**watched, "tx_id": f"{base['tx_id']}-w7", "ts": now + 30})
        if i == 60:  # duplicates of an event scored earlier
            first = good[3]
            w.first_duplicate = first
            out.append((b"k", json.dumps(first, indent=1).encode(), tx))  # exact: no second score, no DLQ
            bad(json.dumps({**first, "amount": 8888.0, "terminal_id": "T-other"}).encode(), "conflicting_duplicate")
        if i == 80:  # card numbers in every field and encoding
            for name in ("card_id", "tx_id", "customer_id", "terminal_id", "merchant_id", "mcc"):
                pan = next(pans, PANS[1])
                code = "card_number_not_token" if name == "card_id" else "card_number_in_field"
                for form in (pan, _spaced(pan), _spaced(pan, "-")):
                    value = form if name != "tx_id" else f"tx-{form}"
                    bad(json.dumps({**ev, "tx_id": f"{ev['tx_id']}-{name}-{len(form)}", name: value}).encode(), code,
                        key=form.encode())
            pan = next(pans, PANS[2])
            bad(json.dumps({**ev, "tx_id": f"{ev['tx_id']}-cur", "currency": pan}).encode(), "unknown_currency")
            bad(json.dumps({**ev, "tx_id": f"{ev['tx_id']}-chan", "channel": _spaced(pan)}).encode(),
                "invalid_channel")
            bad(json.dumps({**ev, "tx_id": f"{ev['tx_id']}-amt", "amount": pan}).encode(), "amount_too_large")
            bad(json.dumps({**ev, "tx_id": f"{ev['tx_id']}-utf16"}).encode("utf-16"), "invalid_json")
            bad(b"\xff" + json.dumps({**ev, "card_id": pan}).encode(), "invalid_json", key=b"\xfe" + pan.encode())
            # Valid, with a card number in an unknown field: scored, and the field goes nowhere.
            ok({**ev, "tx_id": f"{ev['tx_id']}-note", "note": f"customer said {_spaced(pan)}"})
            bad(json.dumps({"tx_id": "lab-1", "card_id": pan, "terminal_id": "t", "is_fraud": True,
                            "labelled_at": now}).encode(), "card_number_not_token", topic=labels)
    return out


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory) -> World:
    run = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("hostile")
    s = _isolated(stack, run, "job")
    # The loop reads the job's input and writes topics of its own.
    loop_topics = _isolated(stack, run, "loop").topics
    loop_s = s.replace(consumer_group=f"loop-{run}", topics=Topics(**{
        **loop_topics.__dict__, "transactions": s.topics.transactions, "fraud_labels": s.topics.fraud_labels}))
    every = sorted(set(s.topics.all() + loop_s.topics.all()))
    create_topics(s.kafka_bootstrap, every, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, every)
    w = World(s, loop_s, now=int(time.time() * 1000))
    w.logs = [tmp / "job.log", tmp / "loop.log", tmp / "monitor.log"]
    p = producer(s.kafka_bootstrap)
    warm = {**next(SimpleGenerator(cards=1, seed=1, id_prefix=f"warm-{run}").stream(1, w.now)).event}
    p.produce(s.topics.transactions, key=b"warm", value=json.dumps(warm).encode())
    assert p.flush(10) == 0
    job = start_job(s, "earliest", w.logs[0])
    monitor = start_monitor(s, w.logs[2])
    # The plain consumer loop on the same input, writing its own topics, beside the job.
    loop = start_loop(loop_s, w.logs[1], batch_size=500, max_wait_ms=100, commit_interval_s=0.0)
    try:
        wait_monitor(s, monitor, w.logs[2])
        _wait_scores(s, {warm["tx_id"]}, 240, [(job, w.logs[0])])  # the job is up and scoring
        w.now = int(time.time() * 1000)
        stream = _hostile_stream(w)
        for key, value, topic in stream:
            p.produce(topic, key=key, value=value, headers=[("card", PANS[0].encode())])
            p.poll(0)
        assert p.flush(30) == 0
        w.valid.insert(0, warm)
        _wait_scores(s, {e["tx_id"] for e in w.valid}, 120, [(job, w.logs[0])])
        w.http += [_get(f"http://{s.endpoints.host}:{s.oncall.job_metrics_port + i}/metrics")
                   for i in range(s.oncall.metrics_port_span)]
        _wait_scores(loop_s, {e["tx_id"] for e in w.valid}, 180, [(loop, w.logs[1])])
        time.sleep(3)  # the monitor reads the alerts and metrics behind them
        w.http += [_get(f"http://{s.endpoints.host}:{s.oncall.monitor_port}{path}")
                   for path in ("/metrics", "/tables", "/ui")]
        w.http += [_get(f"http://{s.endpoints.host}:{loop_s.oncall.job_metrics_port + i}/metrics")
                   for i in range(loop_s.oncall.metrics_port_span)]
    finally:
        stop_job(loop)
        stop_job(job)
        stop_monitor(monitor)
    # The job's own Flink log (lepton_stream/stack/flink_logs.py) is written too.
    flink_logs = sorted((s.run_dir / "flink-logs").glob(f"{s.job.consumer_group}-*/*.log*"))
    assert flink_logs, "the job's Flink log was not found"
    w.logs += flink_logs
    return w


def test_every_valid_event_is_scored_once_and_on_time(world):
    s = world.s
    scores = read_json(s.kafka_bootstrap, s.topics.scores)
    assert Counter(x["tx_id"] for x in scores) == Counter(e["tx_id"] for e in world.valid)
    # Those published once the job was scoring (the warm-up event waited for its start).
    published = {e["tx_id"]: e["ts"] for e in world.valid[1:]}
    late = [x for x in scores if x["tx_id"] in published and x["scored_ts"] - published[x["tx_id"]] > 30_000]
    assert not late, f"{len(late)} valid events waited over 30 s behind the poison records"
    assert all(isinstance(x["fraud_score"], float) and 0 <= x["fraud_score"] <= 1 for x in scores)


def test_every_poison_record_is_in_the_dlq_with_its_reason(world):
    s = world.s
    dlq = read_json(s.kafka_bootstrap, s.topics.dlq)
    assert Counter(x["error_code"] for x in dlq) == world.poison_count
    for x in dlq:
        assert len(json.dumps(x)) < 512 * 1024 and x["error"]
    huge = [x for x in dlq if (x["original_size"] or 0) > 800_000]
    assert huge and huge[0]["original_truncated"]
    # The loop writes the same DLQ records.
    loop = read_json(s.kafka_bootstrap, world.loop_s.topics.dlq)
    assert Counter(x["error_code"] for x in loop) == world.poison_count


def test_no_card_is_poisoned(world):
    s = world.s
    scores = {x["tx_id"]: x for x in read_json(s.kafka_bootstrap, s.topics.scores)}
    big = next(e for e in world.valid if e["tx_id"].endswith("-w6"))
    assert scores[big["tx_id"]]["fraud_score"] is not None
    alerts = {x["tx_id"] for x in read_json(s.kafka_bootstrap, s.topics.risk_alerts)}
    assert big["tx_id"] in alerts, "a 9,000 EUR e-commerce transaction must still alert"
    # The watched card's windows count its three valid events, none of the absurd ones.
    got = RedisWindowStore(s.redis_url).describe(world.watched_card, world.watched_terminal, world.now + 60_000)
    watched = [e for e in world.valid if e["card_id"] == world.watched_card]
    cents = sum(round(e["amount"] * 100) for e in watched)
    assert len(watched) == 3
    assert got["card"]["windows"]["1d"] == got["card"]["windows"]["30d"] == {"c": 3, "s": cents}
    assert int(got["card"]["last"]["last_ts"]) == world.now + 30
    assert abs(float(got["card"]["last"]["last_x"])) <= 1000


def test_duplicates_keep_the_first_score(world):
    s = world.s
    scores = [x for x in read_json(s.kafka_bootstrap, s.topics.scores) if x["tx_id"] == world.first_duplicate["tx_id"]]
    assert len(scores) == 1
    dlq = [x for x in read_json(s.kafka_bootstrap, s.topics.dlq) if x["error_code"] == "conflicting_duplicate"]
    assert len(dlq) == 1 and json.loads(dlq[0]["original"])["amount"] == 8888.0


def _everything_written(world: World) -> list[bytes]:
    s = world.s
    run = s.job.consumer_group.split("-")[-1]
    names = [t for t in AdminClient({"bootstrap.servers": s.kafka_bootstrap}).list_topics(timeout=10).topics
             if run in t and t not in (s.topics.transactions, s.topics.fraud_labels)]
    assert len(names) >= 8, names  # both runners' outputs and the monitor's changelogs
    blobs: list[bytes] = []
    for topic in names:
        # read_uncommitted too: aborted transactions' records are on the log as well. Read up
        # to each partition's end as it stood when the scan began (no idle wait per topic).
        c = consumer(s.kafka_bootstrap, f"scan-{uuid.uuid4().hex[:6]}", **{"isolation.level": "read_uncommitted"})
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.0:  # a transaction marker may end a partition
            got = [m for m in c.consume(5000, timeout=0.2) if m.error() is None]
            if got:
                idle_since = time.monotonic()
            for m in got:
                blobs += [m.key() or b"", m.value() or b""] + [v or b"" for _, v in (m.headers() or [])]
            done = c.position([TopicPartition(topic, p) for p in parts])
            if all(ends[tp.partition] == 0 or tp.offset >= ends[tp.partition] for tp in done):
                break
        c.close()
    for blob in list(blobs):  # what the DLQ keeps as base64 too
        if blob.startswith(b"{") and b"original_b64" in blob:
            b64 = json.loads(blob).get("original_b64")
            if b64:
                blobs.append(base64.b64decode(b64))
    blobs += [p.read_bytes() for p in world.logs]
    blobs += [h.encode() for h in world.http]
    return blobs


def test_no_card_number_in_anything_written(world):
    blobs = _everything_written(world)
    assert sum(len(b) for b in blobs) > 100_000
    assert any(b"lepton_scores" in b for b in blobs), "the job's /metrics was scanned"

    def flat(blob: bytes) -> bytes:
        return blob.replace(b" ", b"").replace(b"-", b"").replace(b"\x00", b"")

    everything = flat(b"\n".join(blobs))  # one search per number; the blob is found only on failure
    for pan in PANS:
        if pan.encode() in everything:
            blob = next(b for b in blobs if pan.encode() in flat(b))
            pytest.fail(f"card number {pan} in {blob[:200]!r}")


def test_dlq_keys_are_masked_or_digested(world):
    keys = [m.key() or b"" for m in read_topic(world.s.kafka_bootstrap, world.s.topics.dlq)]
    assert any(k.startswith(b"sha256:") for k in keys)
    assert any(b"*" in k for k in keys)
