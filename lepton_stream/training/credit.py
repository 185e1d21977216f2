"""The credit model's data set: one row per customer at a cut-off, labelled with the
simulator's default outcome, and its evaluation against the known probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lepton_stream.features.credit_vector import credit_feature_matrix
from lepton_stream.features.definitions import CREDIT_FEATURES
from lepton_stream.features.offline import offline_aggregates
from lepton_stream.training.metrics import roc_auc


def credit_table(tx: pd.DataFrame, customers: pd.DataFrame, cutoff_ms: int) -> pd.DataFrame:
    """Each customer's CREDIT_FEATURES as of their last transaction before `cutoff_ms`."""
    tx = tx[tx["ts_ms"] < cutoff_ms].copy()
    tx["amount_cents"] = np.round(tx["amount"].to_numpy() * 100).astype(np.int64)
    agg = offline_aggregates(tx)
    last = ~tx["customer_idx"].duplicated(keep="last").to_numpy()
    prof = customers.set_index("customer_idx").loc[tx["customer_idx"].to_numpy()[last]]
    sub = type(agg)(*(getattr(agg, f)[last] for f in agg.__dataclass_fields__))
    x = credit_feature_matrix(prof["credit_limit"], prof["opening_balance"], prof["missed_payments_12m"],
                              prof["account_age_months"], prof["income_band"], sub)
    out = pd.DataFrame(x, columns=list(CREDIT_FEATURES))
    out["customer_idx"] = prof.index.to_numpy()
    out["defaulted"] = prof["defaulted"].to_numpy()
    out["pd_true"] = prof["pd_true"].to_numpy()
    return out


def credit_report(table: pd.DataFrame, pd_pred: np.ndarray, bins: int = 10) -> dict:
    """AUC against the drawn defaults; calibration against the true probabilities."""
    y, truth = table["defaulted"].to_numpy(), table["pd_true"].to_numpy()
    deciles = pd.qcut(pd_pred, bins, labels=False, duplicates="drop")
    calib = pd.DataFrame({"bin": deciles, "pred": pd_pred, "true_pd": truth, "observed": y}).groupby("bin").mean()
    return {
        "auc_roc": round(roc_auc(y, pd_pred), 4),
        "auc_roc_of_true_pd": round(roc_auc(y, truth), 4),  # what knowing the true probabilities reaches
        "mean_abs_error_vs_true_pd": round(float(np.abs(pd_pred - truth).mean()), 4),
        "expected_calibration_error": round(float((calib["pred"] - calib["true_pd"]).abs().mean()), 4),
        "by_decile": calib.round(4).reset_index().to_dict("records"),
    }


def calibration_figures(table: pd.DataFrame, pd_pred: np.ndarray, bins: int = 10) -> dict[str, float]:
    """How far the predicted probabilities of default are from the true ones: the
    mean (relative, signed: below 0 under-predicts), the worst decile of the
    prediction (absolute), and the AUC against the drawn defaults as a share of what
    the true probabilities themselves reach (1 = as good as knowing them)."""
    y, truth = table["defaulted"].to_numpy(), table["pd_true"].to_numpy()
    deciles = pd.qcut(pd_pred, bins, labels=False, duplicates="drop")
    calib = pd.DataFrame({"bin": deciles, "pred": pd_pred, "true_pd": truth}).groupby("bin").mean()
    return {"mean_pd_rel_error": round(float(pd_pred.mean() / truth.mean() - 1), 4),
            "max_decile_abs_error": round(float((calib["pred"] - calib["true_pd"]).abs().max()), 4),
            "auc_vs_true_pd_ratio": round(roc_auc(y, pd_pred) / roc_auc(y, truth), 4)}
