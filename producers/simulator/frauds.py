"""The three fraud scenarios, applied in order to a transactions frame (in place)."""

from __future__ import annotations

import numpy as np
import pandas as pd

AMOUNT_THRESHOLD = 220.0
TERMINALS_PER_DAY, TERMINAL_DAYS = 2, 28
CUSTOMERS_PER_DAY, CUSTOMER_DAYS, CUSTOMER_SHARE, CUSTOMER_FACTOR = 3, 14, 1 / 3, 5.0


def amount_scenario(tx: pd.DataFrame) -> None:
    """1: every transaction over 220 is a fraud."""
    hit = tx["amount"].to_numpy() > AMOUNT_THRESHOLD
    tx.loc[hit, ["is_fraud", "fraud_scenario"]] = (1, 1)


def terminal_scenario(tx: pd.DataFrame, n_terminals: int, nb_days: int, rng: np.random.Generator) -> pd.DataFrame:
    """2: each day two terminals are compromised; all their transactions of
    the next 28 days are frauds. Returns the compromises (terminal_idx, first
    and end day, end excluded), a terminal drawn again while compromised making
    one longer compromise: the ground truth of what the stream can learn late."""
    compromised = np.zeros((n_terminals, nb_days + TERMINAL_DAYS), dtype=bool)
    for day in range(nb_days):
        terms = rng.choice(n_terminals, TERMINALS_PER_DAY, replace=False)
        compromised[terms, day : day + TERMINAL_DAYS] = True
    hit = compromised[tx["terminal_idx"].to_numpy(), tx["day"].to_numpy()]
    tx.loc[hit, ["is_fraud", "fraud_scenario"]] = (1, 2)
    edges = np.diff(np.pad(compromised, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    term, start = np.nonzero(edges == 1)
    _, end = np.nonzero(edges == -1)  # row-major: the same terminals in the same order
    return pd.DataFrame({"terminal_idx": term, "start_day": start, "end_day": end})


def customer_scenario(tx: pd.DataFrame, n_customers: int, nb_days: int, rng: np.random.Generator) -> None:
    """3: each day three customers' credentials leak; over the next 14 days a
    third of their transactions are frauds with 5x the amount."""
    cust = tx["customer_idx"].to_numpy()
    day = tx["day"].to_numpy()
    by_customer = np.argsort(cust, kind="stable")
    bounds = np.searchsorted(cust[by_customer], np.arange(n_customers + 1))
    amount = tx["amount"].to_numpy().copy()
    fraud = tx["is_fraud"].to_numpy().copy()
    scenario = tx["fraud_scenario"].to_numpy().copy()
    for start_day in range(nb_days):
        for c in rng.choice(n_customers, CUSTOMERS_PER_DAY, replace=False):
            rows = by_customer[bounds[c] : bounds[c + 1]]
            rows = rows[(day[rows] >= start_day) & (day[rows] < start_day + CUSTOMER_DAYS)]
            chosen = rng.choice(rows, int(len(rows) * CUSTOMER_SHARE), replace=False)
            amount[chosen] = np.round(amount[chosen] * CUSTOMER_FACTOR, 2)
            fraud[chosen], scenario[chosen] = 1, 3
    tx["amount"], tx["is_fraud"], tx["fraud_scenario"] = amount, fraud, scenario
