"""Simulated transactions -> the fraud feature table, and the handbook's train/test split."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from lepton_stream.features.definitions import CARD_WINDOWS, FRAUD_FEATURES, TERMINAL_WINDOWS
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.features.offline import offline_aggregates
from producers.simulator.labels import DAY_MS, fraud_labels

# The handbook's 15 features (chapter 3.4), by our names: the baseline's inputs.
HANDBOOK_FEATURES: tuple[str, ...] = (
    "amount", "tx_during_weekend", "tx_during_night",
    *(f"card_nb_tx_{w}d" for w in CARD_WINDOWS.windows_days),
    *(f"card_avg_amount_{w}d" for w in CARD_WINDOWS.windows_days),
    *(f"terminal_nb_tx_{w}d" for w in TERMINAL_WINDOWS.windows_days),
    *(f"terminal_risk_{w}d" for w in TERMINAL_WINDOWS.windows_days),
)


def feature_table(tx: pd.DataFrame, label_share: float = 1.0, seed: int = 0) -> pd.DataFrame:
    """Every transaction with its FRAUD_FEATURES, computed as the stream computes them
    (terminal risk from labels arriving `TERMINAL_WINDOWS.delay_days` late)."""
    tx = tx.copy()
    tx["amount_cents"] = np.round(tx["amount"].to_numpy() * 100).astype(np.int64)
    labels = fraud_labels(tx, TERMINAL_WINDOWS.delay_days, label_share, np.random.default_rng(seed))
    agg = offline_aggregates(tx, set(labels["tx_id"]))
    x = fraud_feature_matrix(tx["amount"], tx["ts_ms"], tx["channel"], tx["x"], tx["y"], agg)
    out = pd.DataFrame(x, columns=list(FRAUD_FEATURES), index=tx.index)
    for col in ("tx_id", "ts_ms", "customer_idx", "card_id", "terminal_id", "is_fraud", "fraud_scenario"):
        out[col] = tx[col].to_numpy()
    # when the fraud's label reaches the stream (NaN: genuine, or a fraud never labelled)
    out["labelled_at_ms"] = tx["tx_id"].map(labels.set_index("tx_id")["labelled_at"]).to_numpy(np.float64)
    out["day"] = (tx["ts_ms"].to_numpy() // DAY_MS).astype(np.int64)
    return out


def day_number(date: str) -> int:
    """Days since 1970-01-01 of an ISO date (UTC): the `day` column of feature_table."""
    return int(datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp() * 1000) // DAY_MS


def handbook_split(table: pd.DataFrame, start: str = "2018-07-25", train_days: int = 7, delay_days: int = 7,
                   test_days: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on `train_days` from `start`; skip `delay_days` (labels not known yet);
    test on the next `test_days`, each test day without the cards already known
    to be compromised (frauds of the training period, and of the delay period
    up to the day before, as the handbook does)."""
    d0 = day_number(start)
    train = table[(table["day"] >= d0) & (table["day"] < d0 + train_days)]
    known = set(train.loc[train["is_fraud"] == 1, "card_id"])
    test_parts = []
    for k in range(test_days):
        day = d0 + train_days + delay_days + k
        delay_day = d0 + train_days + k - 1
        known |= set(table.loc[(table["day"] == delay_day) & (table["is_fraud"] == 1), "card_id"])
        part = table[table["day"] == day]
        test_parts.append(part[~part["card_id"].isin(known)])
    return train, pd.concat(test_parts)
