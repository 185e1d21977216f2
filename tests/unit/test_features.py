import math

import numpy as np
import pandas as pd

from lepton_stream.feature_store.base import WindowUpdate
from lepton_stream.features import CARD_ACTIVITY, MODEL_FEATURES, feature_row
from lepton_stream.features.offline import bucketed_window
from lepton_stream.schemas import parse_transaction
from producers.simple import SimpleGenerator
from tests.fakes import MemoryFeatureStore


def _frame(n=3000):
    rows = []
    for ev in SimpleGenerator(cards=40, seed=9).stream(n, 1_700_000_000_000, 3000.0):
        tx = parse_transaction(ev.to_bytes())
        rows.append({"card_id": tx.card_id, "tx_id": tx.tx_id, "ts_ms": tx.ts_ms, "amount": tx.amount,
                     "amount_cents": tx.amount_cents, "channel": tx.channel})
    return pd.DataFrame(rows)


def test_offline_window_matches_the_online_semantics():
    df = _frame()
    offline = bucketed_window(df, CARD_ACTIVITY)
    store = MemoryFeatureStore()
    online = store.update_and_read(CARD_ACTIVITY, [WindowUpdate(r.card_id, r.tx_id, r.ts_ms, r.amount_cents)
                                                   for r in df.itertuples()])
    assert offline[CARD_ACTIVITY.count_feature].tolist() == [c for c, _ in online]
    assert offline["sum_cents"].tolist() == [s for _, s in online]
    # The window really slides: some events see fewer than all earlier ones of their card.
    assert (offline[CARD_ACTIVITY.count_feature] < df.groupby("card_id").cumcount() + 1).any()


def test_window_edges():
    df = pd.DataFrame({"card_id": ["a"] * 4, "ts_ms": [0, 59_999, 3_540_000, 3_600_000],
                       "amount_cents": [100, 200, 300, 400]})
    out = bucketed_window(df, CARD_ACTIVITY)
    # Bucket 0 is the 60th bucket back at t=3,540,000 (bucket 59) but not at bucket 60.
    assert out[CARD_ACTIVITY.count_feature].tolist() == [1, 2, 3, 2]
    assert out["sum_cents"].tolist() == [100, 300, 600, 700]


def test_feature_row_order_and_values():
    row = feature_row(amount=50.0, ts_ms=3 * 3_600_000, channel="ecom", count=2, sum_cents=7500)
    assert len(row) == len(MODEL_FEATURES)
    values = dict(zip(MODEL_FEATURES, row, strict=True))
    assert values["log_amount"] == math.log1p(50.0)
    assert values["card_amount_sum_1h"] == 75.0
    assert np.isclose(values["amount_vs_card_mean_1h"], 50.0 / 37.5)
    assert (values["is_night"], values["channel_ecom"], values["channel_atm"]) == (1.0, 1.0, 0.0)


def test_replayed_update_changes_nothing():
    store = MemoryFeatureStore()
    u = WindowUpdate("c", "t1", 1_000, 500)
    assert store.update_and_read(CARD_ACTIVITY, [u]) == [(1, 500)]
    assert store.update_and_read(CARD_ACTIVITY, [u, u]) == [(1, 500), (1, 500)]
