"""What the simulator hides from any model: the frauds no stream-knowable signal reveals,
counted from its ground truth, and the AUC an otherwise perfect model reaches.

A fraud at a compromised terminal (scenario 2) is drawn from exactly the
process genuine transactions are drawn from: its card, amount and time say
nothing. Only labels reveal the compromise, and a label arrives days after its
transaction. So such a fraud is hidden when its amount is ordinary (at most
the amount scenario's threshold, above which every transaction is a fraud)
and no label of a fraud of *that* compromise (at that terminal, since the
compromise began) has arrived by its time. Labels of unrelated earlier frauds
at the same terminal do not count: they predate the compromise.

The oracle ranks every other fraud above every genuine transaction and the
hidden ones level with the genuine ones (ties count half): its AUC is the
expected AUC of a model that is perfect except where nothing can be known.
It is an expected value, not a bound: a model ranking some hidden frauds
above the genuine ones by chance scores above it, and it varies by world.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lepton_stream.training.metrics import roc_auc


def _compromise_of(rows: pd.DataFrame, compromises: pd.DataFrame) -> np.ndarray:
    """Index into `compromises` of the compromise each row's transaction falls in, -1 for none."""
    comp = compromises.reset_index(drop=True).assign(comp=lambda c: np.arange(len(c)))
    left = pd.DataFrame({"terminal_id": rows["terminal_id"].to_numpy(), "ts_ms": rows["ts_ms"].to_numpy(np.int64),
                         "row": np.arange(len(rows))}).sort_values("ts_ms", kind="mergesort")
    right = comp[["terminal_id", "start_ms", "end_ms", "comp"]].sort_values("start_ms", kind="mergesort")
    right = right.astype({"start_ms": np.int64})
    m = pd.merge_asof(left, right, left_on="ts_ms", right_on="start_ms", by="terminal_id", direction="backward")
    inside = m["comp"].notna().to_numpy() & (m["ts_ms"].to_numpy() < m["end_ms"].fillna(0).to_numpy())
    out = np.full(len(rows), -1, np.int64)
    out[m["row"].to_numpy()[inside]] = m["comp"].to_numpy()[inside].astype(np.int64)
    return out


def hidden_frauds(test: pd.DataFrame, table: pd.DataFrame, compromises: pd.DataFrame,
                  amount_threshold: float) -> np.ndarray:
    """Per row of `test`, whether it is a fraud no stream-knowable signal reveals.

    `table`: every transaction of the world (terminal_id, ts_ms, labelled_at_ms,
    NaN when no label ever arrives); `compromises`: terminal_id, start_ms, end_ms.
    """
    labelled = table[table["labelled_at_ms"].notna()]
    comp = _compromise_of(labelled, compromises)
    first_label = np.full(len(compromises), np.inf)
    np.minimum.at(first_label, comp[comp >= 0], labelled["labelled_at_ms"].to_numpy()[comp >= 0])
    candidate = ((test["is_fraud"].to_numpy() > 0) & (test["fraud_scenario"].to_numpy() == 2)
                 & (test["amount"].to_numpy() <= amount_threshold))
    where = _compromise_of(test, compromises)
    known_by = np.where(where >= 0, first_label[np.maximum(where, 0)], np.inf)
    return candidate & (where >= 0) & (known_by > test["ts_ms"].to_numpy())


def oracle_auc(test: pd.DataFrame, hidden: np.ndarray) -> dict[str, float]:
    """The expected AUC of a model perfect except on the `hidden` frauds, and how far
    chance moves it: each of the h hidden frauds lands at a uniform rank among the
    genuine transactions (variance 1/12), so the AUC of P frauds has a standard
    deviation of sqrt(h / 12) / P around the expectation."""
    y = test["is_fraud"].to_numpy() > 0
    oracle = (y & ~hidden).astype(np.float64)
    n, h = int(y.sum()), int(hidden.sum())
    return {"frauds": n, "hidden_frauds": h,
            "expected_auc_roc": round(roc_auc(y.astype(np.int64), oracle), 4),
            "auc_roc_std_by_chance": round(float(np.sqrt(h / 12) / n), 4) if n else float("nan")}
