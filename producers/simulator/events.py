"""Simulated rows as Transaction v1 and Label v1 JSON (docs/design.md)."""

from __future__ import annotations

import json

import pandas as pd

TX_COLUMNS = ["tx_id", "card_id", "customer_id", "terminal_id", "merchant_id", "mcc", "amount", "currency",
              "ts", "channel", "x", "y"]


def transaction_events(tx: pd.DataFrame) -> list[dict]:
    """Transaction v1 objects, in the frame's order."""
    frame = tx.rename(columns={"ts_ms": "ts"})[TX_COLUMNS]
    out = frame.to_dict("records")
    for ev in out:
        ev["schema_version"] = 1
    return out


def transaction_bytes(tx: pd.DataFrame) -> list[bytes]:
    return [json.dumps(ev, separators=(",", ":")).encode() for ev in transaction_events(tx)]


def label_bytes(labels: pd.DataFrame) -> list[bytes]:
    return [json.dumps({**row, "is_fraud": bool(row["is_fraud"]), "schema_version": 1},
                       separators=(",", ":")).encode()
            for row in labels.to_dict("records")]
