"""Simulated worlds: the ones the models train on, and the ones they are measured on.

A world is one run of the simulator (one seed, the handbook's sizes unless
told): its fraud feature table, its credit table as of the training cut-off,
and the ground truth of its terminal compromises. Worlds of different seeds
share no customer, card, terminal or fraud, so a model scored on a world
whose seed training never used is scored on data it has never seen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lepton_stream.features.definitions import FRAUD_FEATURES
from lepton_stream.training.credit import credit_table
from lepton_stream.training.dataset import feature_table
from producers.simulator import SimulationConfig, simulate

# The publish gate's held-out world (lepton_stream/models/gate.py). Training draws its
# worlds with small seeds and the tests too: a large fixed seed keeps it out of all of them.
HELD_OUT_SEED = 7_340_033


@dataclass
class World:
    seed: int
    table: pd.DataFrame  # every transaction with its FRAUD_FEATURES (dataset.feature_table)
    credit: pd.DataFrame  # one row per customer as of the cut-off (credit.credit_table)
    compromises: pd.DataFrame  # terminal_id, start_ms, end_ms: the simulator's scenario 2


def build_world(sim: SimulationConfig, seed: int, cutoff_ms: int) -> World:
    s = simulate(replace(sim, seed=seed))
    return World(seed, feature_table(s.transactions, seed=seed),
                 credit_table(s.transactions, s.customers, cutoff_ms), s.compromises)


@dataclass
class FraudRows:
    """A world's transactions reduced to what fitting the fraud model needs (float32
    features): a whole feature table of each training world would not fit in memory."""

    x: np.ndarray
    y: np.ndarray
    day: np.ndarray

    @classmethod
    def of(cls, table: pd.DataFrame) -> FraudRows:
        return cls(table[list(FRAUD_FEATURES)].to_numpy(np.float32), table["is_fraud"].to_numpy(np.int8),
                   table["day"].to_numpy(np.int64))

    def days(self, first: int, end: int) -> FraudRows:
        keep = (self.day >= first) & (self.day < end)
        return FraudRows(self.x[keep], self.y[keep], self.day[keep])

    @classmethod
    def concat(cls, parts: list[FraudRows]) -> FraudRows:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "y", "day")))


def mean_std(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and (sample) standard deviation of each figure over worlds."""
    frame = pd.DataFrame(rows)
    return {k: {"mean": round(float(frame[k].mean()), 4),
                "std": round(float(frame[k].std(ddof=1)) if len(frame) > 1 else 0.0, 4)}
            for k in frame.columns}
