"""The fraud metrics and the hidden-frauds oracle on hand-made cases whose values are known."""

import numpy as np
import pandas as pd
import pytest

from lepton_stream.training.metrics import auc_by_scenario, average_precision, card_precision_at_k, roc_auc
from lepton_stream.training.oracle import hidden_frauds, oracle_auc

DAY = 86_400_000
HOUR = 3_600_000


def _test_frame() -> pd.DataFrame:
    # 4 genuine; frauds: amount (1), two at compromised terminals (2), leaked card (3).
    return pd.DataFrame({
        "is_fraud": [0, 0, 0, 0, 1, 1, 1, 1],
        "fraud_scenario": [0, 0, 0, 0, 1, 2, 2, 3],
        "amount": [10.0, 20.0, 30.0, 40.0, 300.0, 50.0, 60.0, 200.0],
    })


def test_roc_auc_counts_ties_as_half():
    assert roc_auc(np.array([0, 1]), np.array([0.2, 0.2])) == 0.5
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_average_precision_by_hand():
    # ranked 1 0 1 0: precision 1 at recall 1/2, 2/3 at recall 1 -> (1 + 2/3) / 2
    assert average_precision(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx(5 / 6)
    # the tie at 0.8 is one threshold: precision 1/2 at recall 1/2, then 2/4 at recall 1
    assert average_precision(np.array([1, 0, 0, 1]), np.array([0.8, 0.8, 0.3, 0.2])) == pytest.approx(0.5)
    assert average_precision(np.array([0, 1, 0, 0]), np.full(4, 0.3)) == pytest.approx(0.25)  # the base rate


def _cp_days() -> tuple[pd.DataFrame, np.ndarray]:
    # k = 2. Day 1: A (fraud) and B lead. Day 2: A again first, then D (fraud, two
    # transactions, the genuine one scored lower), B, C.
    rows = [(1, "A", 1, 0.9), (1, "B", 0, 0.8), (1, "C", 0, 0.1),
            (2, "A", 1, 0.95), (2, "D", 1, 0.5), (2, "D", 0, 0.2), (2, "B", 0, 0.3), (2, "C", 0, 0.1)]
    test = pd.DataFrame(rows, columns=["day", "card_id", "is_fraud", "score"])
    return test, test["score"].to_numpy()


def test_card_precision_removes_cards_detected_on_earlier_days():
    test, score = _cp_days()
    # Day 1: {A, B} -> 1/2, A detected. Day 2 without A: {D, B} -> 1/2. Mean 1/2.
    assert card_precision_at_k(test, score, k=2) == pytest.approx(0.5)
    # Without the removal (what this project measured before) day 2 is {A, D} -> 2/2: mean 3/4.
    assert card_precision_at_k(test, score, k=2, remove_detected=False) == pytest.approx(0.75)


def test_card_precision_keeps_an_undetected_fraud_card_for_later_days():
    test, score = _cp_days()
    score = score.copy()
    score[0] = 0.05  # day 1: A falls out of the top 2 ({B, C}: 0/2), so it is not removed on day 2
    assert card_precision_at_k(test, score, k=2) == pytest.approx((0 + 1) / 2)


def test_auc_by_scenario_scores_each_scenario_against_genuine():
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.9, 0.25, 0.35])
    by = auc_by_scenario(_test_frame(), score)
    # 0.9 beats all four genuine, 0.25 two of them; 0.35 beats three
    assert by == {"scenario_1": 1.0, "scenario_2": 0.75, "scenario_3": 0.75}


def _world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Terminal T compromised from day 10 to 38, its first fraud labelled on day 17; an
    unrelated fraud at T on day 2 (labelled day 9); terminal U compromised from day 20,
    nothing labelled yet."""
    compromises = pd.DataFrame({"terminal_id": ["T", "U"], "start_ms": [10 * DAY, 20 * DAY],
                                "end_ms": [38 * DAY, 48 * DAY]})
    rows = [  # terminal, ts, is_fraud, scenario, amount, labelled_at (NaN: none)
        ("T", 2 * DAY, 1, 3, 150.0, 9 * DAY),  # before the compromise
        ("T", 10 * DAY + HOUR, 1, 2, 40.0, 17 * DAY + HOUR),  # the compromise's first fraud
        ("T", 12 * DAY, 1, 2, 30.0, 19 * DAY),  # hidden: the day-2 label is of another fraud
        ("T", 12 * DAY + HOUR, 1, 2, 300.0, 19 * DAY + HOUR),  # large: the amount reveals it
        ("T", 17 * DAY + HOUR + 60_000, 1, 2, 35.0, 24 * DAY),  # a label arrived a minute ago
        ("U", 21 * DAY, 1, 2, 20.0, 28 * DAY),  # hidden
        ("U", 22 * DAY, 1, 3, 90.0, 29 * DAY),  # a leaked card: its own signals
        ("T", 40 * DAY, 0, 0, 25.0, np.nan),  # genuine, after the compromise
        ("U", 15 * DAY, 0, 0, 25.0, np.nan),
        ("V", 15 * DAY, 0, 0, 25.0, np.nan),
    ]
    table = pd.DataFrame(rows, columns=["terminal_id", "ts_ms", "is_fraud", "fraud_scenario", "amount",
                                        "labelled_at_ms"])
    return table, compromises


def test_hidden_frauds_from_the_ground_truth():
    table, compromises = _world()
    hidden = hidden_frauds(table, table, compromises, amount_threshold=220.0)
    assert hidden.tolist() == [False, True, True, False, False, True, False, False, False, False]


def test_oracle_auc_levels_hidden_frauds_with_genuine():
    table, compromises = _world()
    test = table.iloc[2:].reset_index(drop=True)  # score from day 12: 5 frauds (2 hidden), 3 genuine
    got = oracle_auc(test, hidden_frauds(test, table, compromises, amount_threshold=220.0))
    # 3 frauds above all 3 genuine, 2 level with them: (3 * 3 + 2 * 3 * 0.5) / 15
    assert got == {"frauds": 5, "hidden_frauds": 2, "expected_auc_roc": pytest.approx(12 / 15, abs=1e-4),
                   "auc_roc_std_by_chance": pytest.approx((2 / 12) ** 0.5 / 5, abs=1e-4)}
