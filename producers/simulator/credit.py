"""Credit profiles and their ground truth: a known probability of default per customer.

The probability is a logistic function of what a credit model could learn
from: utilisation of the limit, missed payments, and spending relative to
income (from the customer's own simulated transactions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INCOME_BANDS = np.array([15_000, 30_000, 50_000, 80_000, 150_000])  # yearly, band upper edges
# Coefficients of the true default model (log-odds).
INTERCEPT, W_UTIL, W_MISSED, W_SPEND, W_AGE = -5.5, 2.0, 0.55, 1.5, -0.004
# Utilisation and spend-to-income saturate: beyond 150% more of either adds no risk.
CAP = 1.5


def credit_profiles(customers: pd.DataFrame, transactions: pd.DataFrame, nb_days: int,
                    rng: np.random.Generator) -> pd.DataFrame:
    n = len(customers)
    income = rng.lognormal(np.log(40_000), 0.6, n)
    income_band = np.searchsorted(INCOME_BANDS, income).clip(0, len(INCOME_BANDS) - 1) + 1
    limit = np.round(np.clip(income * rng.uniform(0.1, 0.35, n), 500, 50_000), -2)
    opening_balance = np.round(limit * rng.beta(2, 5, n), 2)
    account_age_months = rng.integers(3, 241, n)
    frailty = rng.gamma(1.0, 1.0, n)  # unobserved: drives missed payments
    missed = rng.poisson(0.3 * frailty)
    spend = np.bincount(transactions["customer_idx"], weights=transactions["amount"], minlength=n)
    monthly_spend = spend / max(nb_days, 1) * 30
    utilisation = np.clip((opening_balance + monthly_spend) / limit, 0, 3)
    spend_to_income = monthly_spend * 12 / income
    logit = (INTERCEPT + W_UTIL * np.minimum(utilisation, CAP) + W_MISSED * missed
             + W_SPEND * np.minimum(spend_to_income, CAP) + W_AGE * account_age_months)
    pd_true = 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "customer_idx": np.arange(n),
        "income": np.round(income, 0),
        "income_band": income_band,
        "credit_limit": limit,
        "opening_balance": opening_balance,
        "account_age_months": account_age_months,
        "missed_payments_12m": missed,
        "monthly_spend": np.round(monthly_spend, 2),
        "utilisation": utilisation,
        "spend_to_income": spend_to_income,
        "pd_true": pd_true,
        "defaulted": (rng.random(n) < pd_true).astype(np.int8),
    })
