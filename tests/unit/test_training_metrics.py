"""The fraud metrics on hand-made cases whose values are known."""

import numpy as np
import pandas as pd
import pytest

from lepton_stream.training.metrics import auc_by_scenario, auc_ceiling, roc_auc


def _test_frame() -> pd.DataFrame:
    # 4 genuine; frauds: amount (1), two at compromised terminals (2), one seen, one not; leaked card (3).
    return pd.DataFrame({
        "is_fraud": [0, 0, 0, 0, 1, 1, 1, 1],
        "fraud_scenario": [0, 0, 0, 0, 1, 2, 2, 3],
        "terminal_risk_30d": [0.0, 0.1, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
        "amount": [10.0, 20.0, 30.0, 40.0, 300.0, 50.0, 60.0, 200.0],
    })


def test_roc_auc_counts_ties_as_half():
    assert roc_auc(np.array([0, 1]), np.array([0.2, 0.2])) == 0.5
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75


def test_ceiling_levels_only_unseen_ordinary_terminal_frauds_with_genuine():
    c = auc_ceiling(_test_frame(), amount_threshold=220.0)
    assert c["frauds"] == 4 and c["indistinguishable_frauds"] == 1
    # three frauds rank above all four genuine, one ties with them: (3 * 4 + 0.5 * 4) / 16
    assert c["auc_roc_upper_bound"] == pytest.approx(14 / 16)


def test_ceiling_counts_a_large_amount_at_an_unseen_terminal_as_detectable():
    t = _test_frame()
    t.loc[6, "amount"] = 500.0
    assert auc_ceiling(t, amount_threshold=220.0)["auc_roc_upper_bound"] == 1.0


def test_auc_by_scenario_scores_each_scenario_against_genuine():
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.9, 0.9, 0.25, 0.35])
    by = auc_by_scenario(_test_frame(), score)
    # 0.9 beats all four genuine, 0.25 two of them; 0.35 beats three
    assert by == {"scenario_1": 1.0, "scenario_2": 0.75, "scenario_3": 0.75}
