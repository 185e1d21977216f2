"""Aggregates over a whole DataFrame of transactions, as the online store computes them
(training, parity tests): vectorised with searches over (entity, time) keys."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import CARD_WINDOWS, DAY_BUCKETS, TERMINAL_WINDOWS, MultiWindowView


def _sorted_keys(entity: pd.Series, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order by (entity, arrival) and the matching monotone search keys."""
    codes = pd.factorize(entity)[0].astype(np.int64)
    order = np.lexsort((np.arange(len(codes)), codes))
    keys = codes[order] * _BIG + buckets[order]
    if len(keys) and np.any(np.diff(keys) < 0):
        raise ValueError("offline aggregates need transactions in time order")
    return order, keys


_BIG = np.int64(1) << 32


def _windows(view: MultiWindowView, keys: np.ndarray, buckets: np.ndarray, weights: list[np.ndarray],
             inclusive_self: bool) -> list[np.ndarray]:
    """Per event (in key order) and window, the sum of each weight over the window."""
    n = len(keys)
    pos = np.arange(n)
    entity_base = keys - buckets
    cums = [np.concatenate([[0], np.cumsum(w)]) for w in weights]
    outs = [np.zeros((n, len(view.windows_days)), np.int64) for _ in weights]
    for k, days in enumerate(view.windows_days):
        lo_b, hi_b = view.bounds(buckets, days)
        lo = np.searchsorted(keys, entity_base + lo_b, "left")
        hi = pos + 1 if inclusive_self else np.searchsorted(keys, entity_base + hi_b, "right")
        for out, cum in zip(outs, cums, strict=True):
            out[:, k] = cum[hi] - cum[lo]
    return outs


def offline_aggregates(tx: pd.DataFrame, fraud_tx_ids: set[str] | None = None,
                       label_arrivals: Mapping[str, int] | None = None) -> Aggregates:
    """The aggregates of every transaction of `tx` (in arrival = time order), as the
    online store computes them when each confirmed fraud's label arrives at
    most `TERMINAL_WINDOWS.delay_days` after its transaction.

    With `label_arrivals` (the tx_id of each confirmed fraud -> when its label
    arrived, on the clock of the column `arrival_ms` that `tx` then needs), a fraud
    counts for an event only if its label arrived before the event did, as in the
    online store, whose terminal windows count a label from its arrival on; a label
    and a transaction of the same instant: the label after (as `backfill` applies them).

    Columns: tx_id, card_id, terminal_id, ts_ms, amount_cents, x, y.
    """
    if label_arrivals is not None and fraud_tx_ids is None:
        fraud_tx_ids = set(label_arrivals)
    n = len(tx)
    ts = tx["ts_ms"].to_numpy(np.int64)
    cents = tx["amount_cents"].to_numpy(np.int64)

    order, keys = _sorted_keys(tx["card_id"], ts // CARD_WINDOWS.bucket_ms)
    count, total = _windows(CARD_WINDOWS, keys, (ts // CARD_WINDOWS.bucket_ms)[order],
                            [np.ones(n, np.int64), cents[order]], inclusive_self=True)
    same_card = np.concatenate([[False], keys[1:] - (ts // CARD_WINDOWS.bucket_ms)[order][1:]
                                == keys[:-1] - (ts // CARD_WINDOWS.bucket_ms)[order][:-1]])
    prev = np.where(same_card, np.arange(n) - 1, 0)

    def previous(col: str) -> np.ndarray:
        values = tx[col].to_numpy(np.float64)[order]
        return _unsort(np.where(same_card, values[prev], np.nan), order)

    card_count, card_sum = _unsort(count, order), _unsort(total, order)
    prev_ts, prev_x, prev_y = previous("ts_ms"), previous("x"), previous("y")

    is_fraud = tx["tx_id"].isin(fraud_tx_ids or set()).to_numpy().astype(np.int64)
    tb = ts // TERMINAL_WINDOWS.bucket_ms
    order, keys = _sorted_keys(tx["terminal_id"], tb)
    t_count, t_frauds = _windows(TERMINAL_WINDOWS, keys, tb[order], [np.ones(n, np.int64), is_fraud[order]],
                                 inclusive_self=False)
    if label_arrivals is not None:
        at = tx["tx_id"].map(label_arrivals).to_numpy(np.float64)[order]
        _uncount_unseen_labels(t_frauds, keys, tb[order], np.flatnonzero(is_fraud[order] & ~np.isnan(at)), at,
                               tx["arrival_ms"].to_numpy(np.float64)[order])
    return Aggregates(card_count, card_sum, prev_ts, prev_x, prev_y, _unsort(t_count, order),
                      _unsort(t_frauds, order))


def _uncount_unseen_labels(frauds: np.ndarray, keys: np.ndarray, buckets: np.ndarray, labelled: np.ndarray,
                           label_at: np.ndarray, arrival: np.ndarray) -> None:
    """Take each fraud out of the terminal windows (in key order) of the events that
    arrived before its label did. Per fraud a few binary searches: the events whose
    delayed windows hold its bucket are a contiguous run of its terminal's keys."""
    view = TERMINAL_WINDOWS
    for p in labelled.tolist():
        base = keys[p] - buckets[p]
        first = base + buckets[p] + DAY_BUCKETS * view.delay_days + 1  # the first bucket whose windows hold it
        lo = int(np.searchsorted(keys, first, "left"))
        for k, days in enumerate(view.windows_days):
            hi = int(np.searchsorted(keys, first + DAY_BUCKETS * days - 1, "right"))
            frauds[lo:hi, k] -= arrival[lo:hi] <= label_at[p]


def _unsort(a: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    out[order] = a
    return out
