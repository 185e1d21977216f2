"""Customers and terminals on the grid, and which terminals each customer uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GRID = 100.0
# Terminal kinds: most are shop terminals; some are web shops and ATMs.
CHANNELS = np.array(["pos", "ecom", "atm"])
CHANNEL_P = np.array([0.85, 0.12, 0.03])
MCC_BY_CHANNEL = {
    "pos": np.array(["5411", "5812", "5541", "5912", "5999", "5311", "5651", "4111"]),
    "ecom": np.array(["5732", "5999", "4722", "5815", "5942"]),
    "atm": np.array(["6011"]),
}
TERMINALS_PER_MERCHANT = 3


def make_customers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    mean_amount = rng.uniform(5, 100, n)
    return pd.DataFrame({
        "customer_idx": np.arange(n),
        "x": rng.uniform(0, GRID, n),
        "y": rng.uniform(0, GRID, n),
        "mean_amount": mean_amount,
        "std_amount": mean_amount / 2,
        "mean_nb_tx_per_day": rng.uniform(0, 4, n),
        # One card per customer; a token, never a card number.
        "card_id": [f"card_{v:012x}" for v in rng.integers(0, 2**48, n, dtype=np.int64)],
    })


def make_terminals(n: int, rng: np.random.Generator) -> pd.DataFrame:
    channel = rng.choice(CHANNELS, n, p=CHANNEL_P)
    mcc = np.empty(n, dtype=object)
    for ch, codes in MCC_BY_CHANNEL.items():
        sel = channel == ch
        mcc[sel] = rng.choice(codes, int(sel.sum()))
    return pd.DataFrame({
        "terminal_idx": np.arange(n),
        "x": rng.uniform(0, GRID, n),
        "y": rng.uniform(0, GRID, n),
        "channel": channel,
        "mcc": mcc.astype(str),
        "merchant_idx": np.arange(n) // TERMINALS_PER_MERCHANT,
    })


@dataclass(frozen=True)
class Reach:
    """CSR lists: the terminals of customer c are indices[indptr[c]:indptr[c+1]]."""

    indptr: np.ndarray
    indices: np.ndarray

    def counts(self) -> np.ndarray:
        return np.diff(self.indptr)


def terminals_within(customers: pd.DataFrame, terminals: pd.DataFrame, radius: float) -> Reach:
    cx, cy = customers["x"].to_numpy(), customers["y"].to_numpy()
    tx, ty = terminals["x"].to_numpy(), terminals["y"].to_numpy()
    rows, cols = [], []
    for start in range(0, len(cx), 500):  # chunks keep the distance matrix small
        d2 = (cx[start : start + 500, None] - tx[None, :]) ** 2 + (cy[start : start + 500, None] - ty[None, :]) ** 2
        r, c = np.nonzero(d2 < radius * radius)
        rows.append(r + start)
        cols.append(c)
    row, col = np.concatenate(rows), np.concatenate(cols)
    indptr = np.zeros(len(cx) + 1, dtype=np.int64)
    np.add.at(indptr, row + 1, 1)
    return Reach(np.cumsum(indptr), col.astype(np.int64))
