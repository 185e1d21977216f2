"""Run a whole simulation; write it to Parquet."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from producers.simulator.credit import credit_profiles
from producers.simulator.frauds import amount_scenario, customer_scenario, terminal_scenario
from producers.simulator.labels import DAY_MS
from producers.simulator.profiles import make_customers, make_terminals, terminals_within
from producers.simulator.transactions import simulate_transactions


@dataclass(frozen=True)
class SimulationConfig:
    """Defaults are the handbook's."""

    n_customers: int = 5000
    n_terminals: int = 10000
    nb_days: int = 183
    start_date: str = "2018-04-01"
    radius: float = 5.0
    seed: int = 0

    @property
    def start_ms(self) -> int:
        return int(datetime.fromisoformat(self.start_date).replace(tzinfo=UTC).timestamp() * 1000)


@dataclass
class Simulation:
    config: SimulationConfig
    transactions: pd.DataFrame  # one row per transaction, in time order, with Transaction v1 columns
    customers: pd.DataFrame  # profiles + credit ground truth
    terminals: pd.DataFrame
    # Ground truth of scenario 2: terminal_id, start_ms, end_ms (excluded) of each compromise.
    compromises: pd.DataFrame

    def to_parquet(self, path: Path) -> list[Path]:
        """Transactions to `path`; customers (credit truth) and terminals beside it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        written = [path, path.with_suffix(".customers.parquet"), path.with_suffix(".terminals.parquet")]
        meta = {k: str(v) for k, v in asdict(self.config).items()}
        for frame, out in zip((self.transactions, self.customers, self.terminals), written, strict=True):
            frame.attrs = {"lepton_simulation": meta}
            frame.to_parquet(out, index=False)
        return written


def simulate(config: SimulationConfig = SimulationConfig()) -> Simulation:
    rng = np.random.default_rng(config.seed)
    customers = make_customers(config.n_customers, rng)
    terminals = make_terminals(config.n_terminals, rng)
    reach = terminals_within(customers, terminals, config.radius)

    tx = simulate_transactions(customers, reach, config.nb_days, rng)
    amount_scenario(tx)
    compromised = terminal_scenario(tx, config.n_terminals, config.nb_days, rng)
    customer_scenario(tx, config.n_customers, config.nb_days, rng)
    credit = credit_profiles(customers, tx, config.nb_days, rng)

    # Transaction v1 columns.
    c, t = tx["customer_idx"].to_numpy(), tx["terminal_idx"].to_numpy()
    tx.insert(0, "tx_id", [f"sim{config.seed}-{i:09d}" for i in range(len(tx))])
    tx["ts_ms"] = config.start_ms + tx["time_s"].to_numpy() * 1000
    tx["card_id"] = customers["card_id"].to_numpy()[c]
    tx["customer_id"] = pd.Series(c).map("cust_{:06d}".format).to_numpy()
    tx["terminal_id"] = pd.Series(t).map("term_{:06d}".format).to_numpy()
    tx["merchant_id"] = pd.Series(terminals["merchant_idx"].to_numpy()[t]).map("merch_{:06d}".format).to_numpy()
    tx["mcc"] = terminals["mcc"].to_numpy()[t]
    tx["channel"] = terminals["channel"].to_numpy()[t]
    tx["currency"] = "EUR"
    tx["x"] = np.round(terminals["x"].to_numpy()[t], 3)
    tx["y"] = np.round(terminals["y"].to_numpy()[t], 3)
    compromises = pd.DataFrame({
        "terminal_id": compromised["terminal_idx"].map("term_{:06d}".format).to_numpy(),
        "start_ms": config.start_ms + compromised["start_day"].to_numpy(np.int64) * DAY_MS,
        "end_ms": config.start_ms + compromised["end_day"].to_numpy(np.int64) * DAY_MS,
    })
    customers = customers.merge(credit, on="customer_idx")
    customers.insert(1, "customer_id", customers["customer_idx"].map("cust_{:06d}".format))
    return Simulation(config, tx, customers, terminals, compromises)
