"""Each real service on its own: Kafka round trip, Redis feature store, Triton inference."""

import uuid

import numpy as np
import pandas as pd
import pytest
import redis

from lepton_stream.feature_store import RedisFeatureStore, WindowUpdate
from lepton_stream.features import CARD_ACTIVITY, MODEL_FEATURES
from lepton_stream.features.offline import bucketed_window
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import consumer, producer
from lepton_stream.schemas import parse_transaction
from lepton_stream.scoring.onnx_local import OnnxScorer
from lepton_stream.scoring.triton_client import TritonScorer
from producers.simple import SimpleGenerator

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


def test_redis_update_is_idempotent_by_tx_id(stack):
    store = RedisFeatureStore(stack.redis_url)
    card = f"card_{uuid.uuid4().hex[:8]}"
    first = store.update_and_read(CARD_ACTIVITY, [WindowUpdate(card, "t1", 1_700_000_000_000, 1250),
                                                  WindowUpdate(card, "t2", 1_700_000_030_000, 50)])
    r = redis.Redis.from_url(stack.redis_url)
    before = r.hgetall(store.window_key(CARD_ACTIVITY, card))
    again = store.update_and_read(CARD_ACTIVITY, [WindowUpdate(card, "t1", 1_700_000_000_000, 1250)])
    assert first == [(1, 1250), (2, 1300)]
    assert again == [(2, 1300)]
    assert r.hgetall(store.window_key(CARD_ACTIVITY, card)) == before
    assert 0 < r.ttl(store.window_key(CARD_ACTIVITY, card)) <= CARD_ACTIVITY.ttl_s
    assert 0 < r.ttl(store.marker_key(card, "t1")) <= CARD_ACTIVITY.ttl_s


def test_redis_store_matches_the_offline_definition(stack):
    rows = []
    for ev in SimpleGenerator(cards=30, seed=21, id_prefix=uuid.uuid4().hex[:6]).stream(2000, 1_700_000_000_000,
                                                                                           4000.0):
        tx = parse_transaction(ev.to_bytes())
        rows.append((tx.card_id, tx.tx_id, tx.ts_ms, tx.amount_cents))
    df = pd.DataFrame(rows, columns=["card_id", "tx_id", "ts_ms", "amount_cents"])
    store = RedisFeatureStore(stack.redis_url)
    online = []
    for start in range(0, len(rows), 250):
        online += store.update_and_read(CARD_ACTIVITY, [WindowUpdate(*r) for r in rows[start : start + 250]])
    offline = bucketed_window(df, CARD_ACTIVITY)
    assert [c for c, _ in online] == offline[CARD_ACTIVITY.count_feature].tolist()
    assert [s for _, s in online] == offline["sum_cents"].tolist()


def test_triton_grpc_matches_onnxruntime(stack):
    x = np.random.default_rng(3).normal(size=(5000, len(MODEL_FEATURES))).astype(np.float32) * 50
    version = stack.model_repo / "risk_scorer" / "1"
    local = OnnxScorer(version / "model.onnx").score(x)
    scorer = TritonScorer(stack.triton_grpc, "risk_scorer", max_batch=2048)  # 3 requests
    remote = scorer.score(x)
    np.testing.assert_allclose(remote.fraud, local.fraud, atol=1e-5, rtol=0)
    np.testing.assert_allclose(remote.credit, local.credit, atol=1e-5, rtol=0)
    assert remote.model_version == "1"
