"""The credit model's input matrix (`CREDIT_FEATURES` order): profile plus recent spending."""

from __future__ import annotations

import numpy as np

from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import CARD_WINDOWS, CREDIT_FEATURES


def credit_feature_matrix(credit_limit: np.ndarray, opening_balance: np.ndarray, missed_payments: np.ndarray,
                          account_age_months: np.ndarray, income_band: np.ndarray, agg: Aggregates) -> np.ndarray:
    """float64 [N, len(CREDIT_FEATURES)]."""
    limit = np.maximum(np.asarray(credit_limit, np.float64), 1.0)
    opening = np.asarray(opening_balance, np.float64)
    w30 = CARD_WINDOWS.windows_days.index(30)
    count = agg.card_count[:, w30].astype(np.float64)
    spend = agg.card_sum_cents[:, w30] / 100.0
    out = np.column_stack([
        limit,
        opening / limit,
        np.asarray(missed_payments, np.float64),
        np.asarray(account_age_months, np.float64),
        np.asarray(income_band, np.float64),
        count,
        spend / np.maximum(count, 1.0),
        (opening + spend) / limit,
    ])
    assert out.shape[1] == len(CREDIT_FEATURES)
    return out
