"""The legitimate transaction process, for all customers and days at once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from producers.simulator.profiles import Reach

DAY_S = 86_400


def simulate_transactions(customers: pd.DataFrame, reach: Reach, nb_days: int,
                          rng: np.random.Generator) -> pd.DataFrame:
    """Per customer and day a Poisson number of transactions; each at a time
    drawn around midday (kept within the day), an amount from the customer's
    normal (redrawn uniformly in [0, 2*mean] when negative), at one of the
    customer's terminals. Customers with no terminal in reach make none."""
    n = len(customers)
    counts = rng.poisson(np.repeat(customers["mean_nb_tx_per_day"].to_numpy(), nb_days))
    customer = np.repeat(np.repeat(np.arange(n), nb_days), counts)
    day = np.repeat(np.tile(np.arange(nb_days), n), counts)
    secs = rng.normal(DAY_S / 2, 20_000, len(customer)).astype(np.int64)
    keep = (secs > 0) & (secs < DAY_S) & (reach.counts()[customer] > 0)
    customer, day, secs = customer[keep], day[keep], secs[keep]
    mean = customers["mean_amount"].to_numpy()[customer]
    amount = rng.normal(mean, customers["std_amount"].to_numpy()[customer])
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean[negative])
    pick = (rng.random(len(customer)) * reach.counts()[customer]).astype(np.int64)
    terminal = reach.indices[reach.indptr[customer] + pick]
    time_s = day * DAY_S + secs
    order = np.lexsort((customer, time_s))
    return pd.DataFrame({
        "time_s": time_s[order],
        "day": day[order],
        "customer_idx": customer[order],
        "terminal_idx": terminal[order],
        # A cent at least: 0.00 (a redrawn amount near zero) is not a transaction.
        "amount": np.maximum(np.round(amount[order], 2), 0.01),
        "is_fraud": np.zeros(len(order), dtype=np.int8),
        "fraud_scenario": np.zeros(len(order), dtype=np.int8),
    })
