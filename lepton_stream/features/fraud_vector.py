"""The fraud model's input matrix (`FRAUD_FEATURES` order) from transactions and their aggregates.

The one place each fraud feature is computed from its inputs; the job
(aggregates from Redis) and training (aggregates from pandas) both call it.
"""

from __future__ import annotations

import numpy as np

from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import CARD_WINDOWS, DAY_MS, FRAUD_FEATURES, NO_PREVIOUS_S


def fraud_feature_matrix(amount: np.ndarray, ts_ms: np.ndarray, channel: np.ndarray, x: np.ndarray,
                         y: np.ndarray, agg: Aggregates) -> np.ndarray:
    """float64 [N, len(FRAUD_FEATURES)]; cast to float32 for the model."""
    amount = np.asarray(amount, np.float64)
    ts_ms = np.asarray(ts_ms, np.int64)
    channel = np.asarray(channel)
    day = ts_ms // DAY_MS
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    hour = (ts_ms % DAY_MS) // 3_600_000
    card_avg = agg.card_sum_cents / 100.0 / np.maximum(agg.card_count, 1)
    risk = np.divide(agg.terminal_frauds, agg.terminal_count, out=np.zeros(agg.terminal_count.shape),
                     where=agg.terminal_count > 0)
    has_prev = ~np.isnan(agg.prev_ts_ms)
    since_s = np.where(has_prev, np.maximum(ts_ms - np.nan_to_num(agg.prev_ts_ms), 0) / 1000.0, NO_PREVIOUS_S)
    distance = np.where(has_prev, np.hypot(np.asarray(x) - np.nan_to_num(agg.prev_x),
                                           np.asarray(y) - np.nan_to_num(agg.prev_y)), 0.0)
    w7, w30 = CARD_WINDOWS.windows_days.index(7), CARD_WINDOWS.windows_days.index(30)
    per_day_7 = agg.card_sum_cents[:, w7] / 7.0
    per_day_30 = agg.card_sum_cents[:, w30] / 30.0
    columns = [
        amount,
        (weekday >= 5).astype(np.float64),
        (hour <= 6).astype(np.float64),
        *agg.card_count.T.astype(np.float64),
        *card_avg.T,
        *agg.terminal_count.T.astype(np.float64),
        *risk.T,
        np.log1p(since_s),
        distance,
        amount / np.maximum(card_avg[:, w30], 0.01),
        np.divide(per_day_7, per_day_30, out=np.ones(len(amount)), where=per_day_30 > 0),
        (channel == "ecom").astype(np.float64),
        (channel == "atm").astype(np.float64),
    ]
    out = np.column_stack(columns) if len(amount) else np.zeros((0, len(FRAUD_FEATURES)))
    assert out.shape[1] == len(FRAUD_FEATURES)
    return out
