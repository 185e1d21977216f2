"""Fill the online store from history (transactions and labels in time order), so a
stream that starts now scores with the windows it would have had."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lepton_stream.feature_store.base import new_generation
from lepton_stream.feature_store.redis_windows import LabelFacts, RedisWindowStore, TxFacts
from lepton_stream.features.aggregates import Aggregates

TX_FACT_COLUMNS = ["tx_id", "card_id", "terminal_id", "ts_ms", "amount_cents", "x", "y"]


def tx_facts(tx: pd.DataFrame) -> list[TxFacts]:
    """What the store needs of each simulated transaction (amounts in whole cents)."""
    cents = np.round(tx["amount"].to_numpy() * 100).astype(np.int64)
    cols = tx.assign(amount_cents=cents)[TX_FACT_COLUMNS]
    return [TxFacts(*row) for row in cols.itertuples(index=False)]


def backfill(store: RedisWindowStore, tx: pd.DataFrame, labels: pd.DataFrame, batch: int = 2000) -> Aggregates:
    """Apply `tx` (TX_FACT_COLUMNS, time order) and `labels` (tx_id, terminal_id,
    labelled_at) as a stream would: merged by time, a label after a transaction
    of the same instant. Returns the aggregates each transaction saw."""
    times = np.concatenate([tx["ts_ms"].to_numpy(), labels["labelled_at"].to_numpy()])
    is_label = np.concatenate([np.zeros(len(tx), bool), np.ones(len(labels), bool)])
    order = np.lexsort((is_label, times))
    facts = [TxFacts(*row) for row in tx[TX_FACT_COLUMNS].itertuples(index=False)]
    label_facts = [LabelFacts(t, term) for t, term in zip(labels["tx_id"], labels["terminal_id"], strict=True)]
    parts: list[Aggregates] = []
    pending_tx: list[TxFacts] = []
    pending_labels: list[LabelFacts] = []
    for k in order:
        if is_label[k]:
            if pending_tx:
                parts.append(store.apply_transactions(pending_tx))
                pending_tx = []
            pending_labels.append(label_facts[k - len(tx)])
        else:
            if pending_labels:
                store.apply_labels(pending_labels)
                pending_labels = []
            pending_tx.append(facts[k])
            if len(pending_tx) == batch:
                parts.append(store.apply_transactions(pending_tx))
                pending_tx = []
    if pending_tx:
        parts.append(store.apply_transactions(pending_tx))
    if pending_labels:
        store.apply_labels(pending_labels)
    store.set_generation(new_generation())  # a store filled from history is a new one
    empty = Aggregates(*(np.zeros((0, 3), np.int64) for _ in range(2)), *(np.zeros(0) for _ in range(3)),
                       *(np.zeros((0, 3), np.int64) for _ in range(2)))
    return Aggregates.concat(parts) if parts else empty
