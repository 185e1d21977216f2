"""Window aggregates over a whole DataFrame of transactions (training, parity tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lepton_stream.features.definitions import BucketedWindowView
from lepton_stream.features.vector import feature_matrix


def bucketed_window(df: pd.DataFrame, view: BucketedWindowView) -> pd.DataFrame:
    """Count and sum (cents) per event, as the online store returns them.

    `df` holds one row per distinct transaction in arrival order with columns
    `view.entity`, `ts_ms`, `amount_cents`. An event sees every earlier
    arrival of its entity whose bucket lies in its window, and itself.
    """
    out_count = np.zeros(len(df), dtype=np.int64)
    out_sum = np.zeros(len(df), dtype=np.int64)
    buckets = (df["ts_ms"].to_numpy() // view.bucket_ms).astype(np.int64)
    cents = df["amount_cents"].to_numpy(dtype=np.int64)
    for _, idx in df.groupby(view.entity, sort=False).indices.items():
        b, c = buckets[idx], cents[idx]
        # Pairwise over one entity's events: fine for per-card volumes.
        seen = np.tri(len(idx), dtype=bool)
        in_window = (b[None, :] <= b[:, None]) & (b[None, :] > b[:, None] - view.buckets)
        mask = seen & in_window
        out_count[idx] = mask.sum(axis=1)
        out_sum[idx] = (mask * c[None, :]).sum(axis=1)
    return pd.DataFrame({view.count_feature: out_count, "sum_cents": out_sum}, index=df.index)


def offline_features(df: pd.DataFrame, view: BucketedWindowView) -> np.ndarray:
    agg = bucketed_window(df, view)
    return feature_matrix(
        df["amount"].tolist(), df["ts_ms"].tolist(), df["channel"].tolist(),
        agg[view.count_feature].tolist(), agg["sum_cents"].tolist(),
    )
