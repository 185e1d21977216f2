"""One definition, two paths: the online Redis store and the offline pandas
computation give the same fraud features for every event of a simulated stream."""

import uuid

import numpy as np
import pytest

from lepton_stream.feature_store.backfill import backfill
from lepton_stream.feature_store.redis_windows import LabelFacts, RedisWindowStore, TxFacts
from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import FRAUD_FEATURES
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.features.offline import offline_aggregates
from producers.simulator import SimulationConfig, simulate
from producers.simulator.labels import fraud_labels

pytestmark = pytest.mark.integration


def _frame(seed: int, days: int = 50):
    tx = simulate(SimulationConfig(n_customers=200, n_terminals=400, nb_days=days, seed=seed)).transactions
    run = uuid.uuid4().hex[:6]  # fresh ids: the session's Redis is shared between tests
    tx["tx_id"] = run + tx["tx_id"]
    tx["card_id"] = run + tx["card_id"]
    tx["terminal_id"] = run + tx["terminal_id"]
    tx["amount_cents"] = np.round(tx["amount"].to_numpy() * 100).astype(np.int64)
    return tx


def test_every_fraud_feature_of_every_event_matches_offline(stack):
    tx = _frame(seed=5)
    labels = fraud_labels(tx, delay_days=7)
    assert len(tx) > 15_000 and len(labels) > 50
    online = backfill(RedisWindowStore(stack.redis_url), tx, labels, batch=400)
    offline = offline_aggregates(tx, set(labels["tx_id"]))
    for field in Aggregates.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(online, field), getattr(offline, field), err_msg=field)
    args = (tx["amount"], tx["ts_ms"], tx["channel"], tx["x"], tx["y"])
    on, off = fraud_feature_matrix(*args, online), fraud_feature_matrix(*args, offline)
    assert on.shape == (len(tx), len(FRAUD_FEATURES))
    np.testing.assert_allclose(on, off, rtol=0, atol=1e-6)
    # The windows really see something: terminal risk is informative on this stream.
    risk_30 = on[:, FRAUD_FEATURES.index("terminal_risk_30d")]
    assert risk_30[tx["fraud_scenario"].to_numpy() == 2].mean() > 5 * max(risk_30[tx["is_fraud"] == 0].mean(), 1e-3)


def test_replays_and_late_or_early_labels_count_once(stack):
    store = RedisWindowStore(stack.redis_url)
    run = uuid.uuid4().hex[:6]
    t = [TxFacts(f"{run}-{i}", f"{run}-card", f"{run}-term", 1_700_000_000_000 + i * 60_000, 1000 * (i + 1), 1.0, 2.0)
         for i in range(3)]
    # A label before its transaction is kept and applied when the transaction arrives.
    assert store.apply_labels([LabelFacts(t[2].tx_id, t[2].terminal_id)]) == [2]
    first = store.apply_transactions(t)
    again = store.apply_transactions(t)  # a replay after a failure
    for field in Aggregates.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field), err_msg=field)
    assert first.card_count[:, 0].tolist() == [1, 2, 3]
    assert first.card_sum_cents[:, 0].tolist() == [1000, 3000, 6000]
    assert np.isnan(first.prev_ts_ms[0]) and first.prev_ts_ms[2] == t[1].ts_ms
    assert store.apply_labels([LabelFacts(t[2].tx_id, t[2].terminal_id), LabelFacts(t[0].tx_id, t[0].terminal_id)]) \
        == [0, 1]
    # Eight days later the terminal's delayed windows see those 3 transactions and 2 frauds.
    later = TxFacts(f"{run}-late", f"{run}-card2", f"{run}-term", t[0].ts_ms + 8 * 86_400_000, 500, 0.0, 0.0)
    agg = store.apply_transactions([later])
    assert agg.terminal_count[0].tolist() == [3, 3, 3] and agg.terminal_frauds[0].tolist() == [2, 2, 2]
    # Readable by other services (`lepton-stream features get`).
    seen = store.describe(f"{run}-card", f"{run}-term", at_ms=t[2].ts_ms)
    assert seen["card"]["windows"]["1d"] == {"c": 3, "s": 6000} and seen["card"]["last"]["last_ts"] == str(t[2].ts_ms)
    assert seen["card"]["profile"] is None
    assert store.describe(terminal_id=f"{run}-term", at_ms=later.ts_ms)["terminal"]["windows"]["1d"] == {"c": 3, "f": 2}
