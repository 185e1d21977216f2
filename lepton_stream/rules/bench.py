"""What live rules cost per transaction: `rules_cost_us_per_tx()` for the project's bench.

Twenty rules of the kinds analysts write (thresholds on amount and counts, channel
and merchant lists, a prefix, a ternary, suppress rules) on random columns shaped
like the job's: string columns as object arrays, as built from `Transaction`s,
and a few NaNs in the features.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from lepton_stream.rules.engine import RuleSet
from lepton_stream.rules.model import Rule
from lepton_stream.rules.schema import RULE_SCHEMA
from lepton_stream.schemas.transaction import CHANNELS

_MERCHANT_ALLOWLIST = ", ".join(f'"M{i:04d}"' for i in range(0, 400, 7))

# (condition, action, severity)
TYPICAL_RULES: tuple[tuple[str, str, str | None], ...] = (
    ('amount > 2000 && channel == "ecom"', "alert", "high"),
    ("amount > 500 && card_nb_tx_1d >= 10", "alert", "medium"),
    ('channel in ["ecom", "atm"] && amount_vs_card_avg_30d > 5', "alert", "high"),
    ("terminal_risk_7d > 0.3 && amount > 100", "alert", "medium"),
    ("fraud_score > 0.5 && amount > 1000", "alert", "high"),
    ('tx_during_night == 1 && channel == "atm" && amount > 300', "alert", "medium"),
    ('mcc in ["7995", "6051", "4829", "5967"] && amount > 200', "alert", "low"),
    ("card_nb_tx_1d > 3 * max(card_nb_tx_7d / 7, 1)", "alert", "low"),
    ("distance_from_last_tx > 50 && log_seconds_since_last_tx < 6", "alert", "medium"),
    ("spend_velocity_7d_vs_30d > 2.5 || card_avg_amount_1d > 4 * card_avg_amount_30d", "alert", "low"),
    ('currency != "EUR" && channel == "ecom" && amount > 800', "alert", "medium"),
    ('merchant_id.startsWith("M03") && fraud_score > 0.3', "alert", "low"),
    (f"merchant_id in [{_MERCHANT_ALLOWLIST}] && amount < 50", "suppress", None),
    ('channel == "pos" && amount < 20 && fraud_score < 0.95', "suppress", None),
    ("credit_score > 0.8 && amount > 0.5 * credit_limit", "alert", "medium"),
    ('utilisation_30d > 0.9 && channel == "ecom"', "alert", "low"),
    ("abs(amount - card_avg_amount_30d) > 3 * card_avg_amount_30d && card_nb_tx_30d > 5", "alert", "low"),
    ("terminal_nb_tx_1d > 200 || terminal_risk_30d > 0.5", "alert", "medium"),
    ('(channel == "ecom" ? amount > 1500 : amount > 3000) && tx_during_weekend == 1', "alert", "medium"),
    ("missed_payments_12m >= 2 && amount > 1000 && account_age_months < 6", "alert", "high"),
)


def typical_rules(n_rules: int = 20) -> list[Rule]:
    """`n_rules` rules: the twenty above, then again with another amount floor each
    round, so that a larger set does not get its extra rules for free from sharing."""
    rules = []
    for k in range(n_rules):
        condition, action, severity = TYPICAL_RULES[k % len(TYPICAL_RULES)]
        rounds = k // len(TYPICAL_RULES)
        if rounds:
            condition = f"({condition}) && amount >= {rounds}"
        rules.append(Rule(f"bench.r{k:03d}", 1, "benchmark rule", "bench", condition, action, severity))
    return rules


def random_columns(batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A column per name of RULE_SCHEMA, with values in plausible ranges."""
    rng = np.random.default_rng(seed)
    strings = {
        "channel": np.array(CHANNELS, dtype=object),
        "currency": np.array(["EUR", "EUR", "EUR", "USD", "GBP"], dtype=object),
        "mcc": np.array([f"{5000 + 37 * i}" for i in range(60)] + ["7995", "4829"], dtype=object),
        "merchant_id": np.array([f"M{i:04d}" for i in range(400)], dtype=object),
        "terminal_id": np.array([f"T{i:05d}" for i in range(5000)], dtype=object),
    }
    columns: dict[str, np.ndarray] = {}
    for name, type_ in RULE_SCHEMA.items():
        if type_ == "string":
            vocabulary = strings.get(name, np.array(["a", "b", "c"], dtype=object))
            columns[name] = vocabulary[rng.integers(0, len(vocabulary), batch)]
        elif type_ == "bool":
            columns[name] = rng.random(batch) < 0.5
        elif "nb_tx" in name:
            days = int(name.rsplit("_", 1)[1].rstrip("d"))
            columns[name] = rng.poisson(1.5 * days, batch).astype(np.float64)
        elif name in ("missed_payments_12m", "income_band"):
            columns[name] = rng.poisson(1.0, batch).astype(np.float64)
        elif name == "account_age_months":
            columns[name] = rng.integers(0, 360, batch).astype(np.float64)
        elif name.startswith(("tx_during_", "channel_")):
            columns[name] = (rng.random(batch) < 0.3).astype(np.float64)
        elif "risk" in name or name == "fraud_score":
            columns[name] = rng.beta(0.5, 10.0, batch)
        elif "score" in name or "utilisation" in name:
            columns[name] = rng.random(batch)
        elif name == "credit_limit":
            columns[name] = rng.lognormal(9.0, 0.5, batch)
        elif "_vs_" in name:
            columns[name] = rng.lognormal(0.0, 0.6, batch)
        elif name.startswith("log_"):
            columns[name] = rng.normal(9.0, 2.0, batch)
        else:
            values = rng.lognormal(2.0 if name.startswith("distance") else 4.0, 1.2, batch)
            values[rng.random(batch) < 0.01] = np.nan  # features of a card never seen, say
            columns[name] = values
    return columns


def rules_cost_us_per_tx(n_rules: int = 20, batch: int = 2_000, repeats: int = 50, seed: int = 0) -> dict[str, Any]:
    """Median cost of evaluating `n_rules` rules on batches of `batch` transactions, in
    microseconds per transaction; with the per-row `alerts(i)` / `suppressed(i)` calls
    that routing makes, measured separately."""
    if repeats < 1 or batch < 1:
        raise ValueError("repeats and batch must be at least 1")
    rules = typical_rules(n_rules)
    started = time.perf_counter()
    ruleset = RuleSet(rules)
    compile_ms = (time.perf_counter() - started) * 1000
    if ruleset.errors:
        raise RuntimeError(f"benchmark rules do not load: {ruleset.errors}")
    columns = random_columns(batch, seed)
    ruleset.evaluate(columns)  # warm-up
    evaluate_s, with_rows_s = [], []
    fired = 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        hits = ruleset.evaluate(columns)
        t1 = time.perf_counter()
        for i in range(batch):
            fired += len(hits.alerts(i))
            hits.suppressed(i)
        t2 = time.perf_counter()
        evaluate_s.append(t1 - t0)
        with_rows_s.append(t2 - t0)
    per_tx = 1e6 / batch
    return {
        "rules": n_rules,
        "batch": batch,
        "repeats": repeats,
        "us_per_tx_median": statistics.median(evaluate_s) * per_tx,
        "us_per_tx_max": max(evaluate_s) * per_tx,
        "us_per_tx_with_row_helpers_median": statistics.median(with_rows_s) * per_tx,
        "ms_per_batch_median": statistics.median(evaluate_s) * 1000,
        "compile_ms": compile_ms,
        "alert_hits_per_tx": fired / (repeats * batch),
        "suppressed_share": float(hits.suppressed_rows.mean()),
    }
