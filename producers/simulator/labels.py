"""Late fraud labels: confirmed frauds reach `fraud-labels` a delay after the transaction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lepton_stream.features.definitions import DAY_MS


def fraud_labels(tx: pd.DataFrame, delay_days: float = 7.0, share: float = 1.0,
                 rng: np.random.Generator | None = None) -> pd.DataFrame:
    """One row per confirmed fraud (a `share` of all frauds), labelled
    `delay_days` after the transaction; sorted by `labelled_at`."""
    frauds = tx[tx["is_fraud"] == 1]
    if share < 1.0:
        rng = rng or np.random.default_rng(0)
        frauds = frauds[rng.random(len(frauds)) < share]
    out = pd.DataFrame({
        "tx_id": frauds["tx_id"].to_numpy(),
        "card_id": frauds["card_id"].to_numpy(),
        "terminal_id": frauds["terminal_id"].to_numpy(),
        "is_fraud": True,
        "labelled_at": frauds["ts_ms"].to_numpy() + int(delay_days * DAY_MS),
    })
    return out.sort_values("labelled_at", kind="stable").reset_index(drop=True)
