"""Each real service on its own: Kafka round trip, Redis feature store, Triton inference."""

import time
import uuid

import numpy as np
import pytest
import redis
import tritonclient.grpc as grpcclient

from lepton_stream.feature_store import RedisWindowStore, TxFacts
from lepton_stream.feature_store.redis_cluster import redis_client
from lepton_stream.features import CREDIT_FEATURES, FRAUD_FEATURES, TERMINAL_WINDOWS
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import consumer, producer, read_to_end
from lepton_stream.scoring.onnx_local import OnnxModel
from lepton_stream.scoring.triton_client import TritonScorer

pytestmark = pytest.mark.integration


def test_kafka_produce_consume_round_trip(stack):
    topic = f"roundtrip-{uuid.uuid4().hex[:6]}"
    assert create_topics(stack.kafka_bootstrap, [topic], partitions=2) == [topic]
    wait_topics_ready(stack.kafka_bootstrap, [topic])
    p = producer(stack.kafka_bootstrap)
    sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(200)}
    for k, v in sent.items():
        p.produce(topic, key=k, value=v)
    assert p.flush(30) == 0
    c = consumer(stack.kafka_bootstrap, f"g-{topic}")
    c.subscribe([topic])
    got = {}
    for _ in range(60):
        for m in c.consume(500, timeout=0.5):
            assert m.error() is None
            got[m.key()] = m.value()
        if len(got) == len(sent):
            break
    c.close()
    assert got == sent


def _dump(r: redis.Redis, key: bytes) -> tuple:
    kind = r.type(key)
    readers = {b"hash": r.hgetall, b"zset": lambda k: r.zrange(k, 0, -1, withscores=True), b"string": r.get}
    return kind, readers[kind](key)


def test_read_to_end_sees_committed_records_and_stops_before_an_open_transaction(stack):
    """What every test, `rules list` and the views read a topic with: read_committed
    up to where the topic stands, ended by each partition's end, not by a quiet spell."""
    topic = f"toend-{uuid.uuid4().hex[:6]}"
    create_topics(stack.kafka_bootstrap, [topic], partitions=2)
    wait_topics_ready(stack.kafka_bootstrap, [topic])
    tx = producer(stack.kafka_bootstrap, **{"transactional.id": f"t-{topic}"})
    tx.init_transactions(30)

    def batch(values: list[str], partition: int) -> None:
        tx.begin_transaction()
        for v in values:
            tx.produce(topic, value=v.encode(), partition=partition)
        tx.flush(30)

    batch(["a0", "a1"], 0)
    tx.commit_transaction(30)
    batch(["gone"], 1)
    tx.abort_transaction(30)
    batch(["b0"], 1)
    tx.commit_transaction(30)
    batch(["open"], 0)  # left open: a read_committed reader stops before it
    try:
        t0 = time.monotonic()
        got = sorted(m.value().decode() for m in read_to_end(stack.kafka_bootstrap, topic, stall_s=30))
        assert got == ["a0", "a1", "b0"]
        assert time.monotonic() - t0 < 15, "ended by the stall timeout, not by each partition's end"
        # An empty topic ends at once too.
        empty = f"{topic}-empty"
        create_topics(stack.kafka_bootstrap, [empty], partitions=2)
        wait_topics_ready(stack.kafka_bootstrap, [empty])
        assert read_to_end(stack.kafka_bootstrap, empty, stall_s=30) == []
    finally:
        tx.abort_transaction(30)
    assert sorted(m.value().decode() for m in read_to_end(stack.kafka_bootstrap, topic)) == ["a0", "a1", "b0"]


def test_redis_update_is_idempotent_by_tx_id(stack):
    store = RedisWindowStore.from_settings(stack)
    run = uuid.uuid4().hex[:8]
    txs = [TxFacts(f"{run}-{i}", f"{run}-card", f"{run}-term", 1_700_000_000_000 + i * 1000, 1250, 1.0, 2.0)
           for i in range(2)]
    first = store.apply_transactions(txs)
    r = redis_client(stack)  # on a cluster, SCAN runs on every master
    keys = sorted(r.scan_iter(f"lepton:*{run}*"))
    before = {k: _dump(r, k) for k in keys}
    again = store.apply_transactions(txs[:1])  # the same event twice
    after = {k: _dump(r, k) for k in keys}
    assert first.card_count[:, 0].tolist() == [1, 2]
    assert again.card_count[0].tolist() == first.card_count[0].tolist()
    assert after == before and sorted(r.scan_iter(f"lepton:*{run}*")) == keys
    assert all(0 < r.ttl(k) <= TERMINAL_WINDOWS.ttl_s for k in keys)


def test_triton_grpc_matches_onnxruntime(stack):
    rng = np.random.default_rng(3)
    fx = (rng.normal(size=(5000, len(FRAUD_FEATURES))) * [50, 1, 1, *[5] * 18]).astype(np.float32)
    cx = np.abs(rng.normal(size=(5000, len(CREDIT_FEATURES))) * 100).astype(np.float32)
    scorer = TritonScorer(stack.triton_grpc, max_batch=2048)  # 3 requests per model
    remote = scorer.score(fx, cx)
    local_f = OnnxModel(stack.endpoints.model_repo / "fraud_scorer" / remote.fraud_version / "model.onnx").predict(fx)
    local_c = OnnxModel(stack.endpoints.model_repo / "credit_scorer" / remote.credit_version / "model.onnx").predict(cx)
    np.testing.assert_allclose(remote.fraud, local_f, atol=1e-5, rtol=0)
    np.testing.assert_allclose(remote.credit, local_c, atol=1e-5, rtol=0)
    # The ensemble returns both scores for one request.
    client = grpcclient.InferenceServerClient(stack.triton_grpc)
    inputs = [grpcclient.InferInput("fraud_features", [100, fx.shape[1]], "FP32"),
              grpcclient.InferInput("credit_features", [100, cx.shape[1]], "FP32")]
    inputs[0].set_data_from_numpy(fx[:100])
    inputs[1].set_data_from_numpy(cx[:100])
    res = client.infer("risk_scorer", inputs)
    np.testing.assert_allclose(res.as_numpy("fraud_score").ravel(), local_f[:100], atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.as_numpy("credit_score").ravel(), local_c[:100], atol=1e-5, rtol=0)
