"""`lepton-stream train`: simulate (or read) data, train and evaluate the fraud and credit
models, export them to ONNX, write a report.

Fraud: the handbook's protocol (train 7 days from 2018-07-25, 7 days of delay,
test the 7 days from 2018-08-08 without already-known compromised cards) for a
logistic-regression baseline on the handbook's 15 features (sanity check of the
simulator: the handbook reports AUC 0.871) and for the served MLP on all
FRAUD_FEATURES, which trains on `history_days` up to the same end.
Credit: one row per customer as of the end of training, 80/20 customer split.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.training.credit import credit_report, credit_table
from lepton_stream.training.dataset import HANDBOOK_FEATURES, feature_table, handbook_split
from lepton_stream.training.export import export_onnx, onnx_predict
from lepton_stream.training.metrics import auc_by_scenario, auc_ceiling, fraud_report
from lepton_stream.training.models import MLP, LogisticRegression, fit_logistic, fit_mlp, predict
from producers.simulator import SimulationConfig, simulate
from producers.simulator.frauds import AMOUNT_THRESHOLD


@dataclass(frozen=True)
class TrainConfig:
    simulation: SimulationConfig = SimulationConfig()
    train_start: str = "2018-07-25"
    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7
    history_days: int = 28  # the served model's training window, ending where the protocol's does
    epochs: int = 20
    seed: int = 0
    prequential_folds: int = 4  # the protocol repeated with the dates moved back a week each time


def train_all(cfg: TrainConfig, out: Path) -> dict:
    t0 = time.monotonic()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sim = simulate(cfg.simulation)
    table = feature_table(sim.transactions, seed=cfg.seed)
    train, test = handbook_split(table, cfg.train_start, cfg.train_days, cfg.delay_days, cfg.test_days)
    if train["is_fraud"].sum() == 0 or test["is_fraud"].sum() == 0:
        raise ValueError("no frauds in the training or test period: simulate more days")
    report: dict = {"config": json.loads(json.dumps(asdict(cfg), default=str)),
                    "train_rows": len(train), "train_frauds": int(train["is_fraud"].sum()),
                    "test_rows": len(test), "test_frauds": int(test["is_fraud"].sum())}

    hb = list(HANDBOOK_FEATURES)
    baseline = LogisticRegression(train[hb].to_numpy())
    fit_logistic(baseline, train[hb].to_numpy(), train["is_fraud"].to_numpy())
    report["baseline_logistic_regression"] = fraud_report(test, predict(baseline, test[hb].to_numpy()))
    report["fraud_auc_ceiling"] = auc_ceiling(test, AMOUNT_THRESHOLD)

    ff = list(FRAUD_FEATURES)
    d0 = train["day"].min()
    history = table[(table["day"] >= d0 + cfg.train_days - cfg.history_days) & (table["day"] < d0 + cfg.train_days)]
    fraud = _fit_mlp(table, train, cfg)
    x_test = test[ff].to_numpy().astype(np.float32)
    torch_scores = predict(fraud, x_test)
    report["fraud_mlp"] = {**fraud_report(test, torch_scores),
                           "auc_roc_by_scenario": auc_by_scenario(test, torch_scores),
                           "train_rows": len(history),
                           "train_frauds": int(history["is_fraud"].sum()),
                           # what "normal" is, for the reasons given with each alert
                           "feature_mean": history[ff].mean().round(6).tolist(),
                           "feature_std": history[ff].std().round(6).tolist()}
    export_onnx(fraud, len(ff), "fraud_score", out / "fraud_scorer.onnx")
    report["fraud_mlp"]["onnx_max_abs_diff_vs_torch"] = float(
        np.abs(onnx_predict(out / "fraud_scorer.onnx", x_test) - torch_scores).max())

    cutoff = int(pd.Timestamp(cfg.train_start, tz="UTC").value // 1_000_000) + cfg.train_days * 86_400_000
    credit = credit_table(sim.transactions, sim.customers, cutoff)
    rng = np.random.default_rng(cfg.seed)
    is_train = rng.random(len(credit)) < 0.8
    cf = list(CREDIT_FEATURES)
    credit_model = MLP(credit.loc[is_train, cf].to_numpy(), hidden=(32, 16), dropout=0.0)
    fit_mlp(credit_model, credit.loc[is_train, cf].to_numpy(), credit.loc[is_train, "defaulted"].to_numpy(),
            epochs=60, batch=128, seed=cfg.seed)
    x_credit = credit.loc[~is_train, cf].to_numpy().astype(np.float32)
    credit_scores = predict(credit_model, x_credit)
    report["credit_mlp"] = {**credit_report(credit[~is_train], credit_scores),
                            "train_customers": int(is_train.sum()), "test_customers": int((~is_train).sum())}
    export_onnx(credit_model, len(cf), "credit_score", out / "credit_scorer.onnx")
    report["credit_mlp"]["onnx_max_abs_diff_vs_torch"] = float(
        np.abs(onnx_predict(out / "credit_scorer.onnx", x_credit) - credit_scores).max())

    report["prequential"] = prequential(table, cfg)
    report["features"] = {"fraud": ff, "credit": cf}
    report["seconds"] = round(time.monotonic() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _fit_mlp(table: pd.DataFrame, train: pd.DataFrame, cfg: TrainConfig) -> MLP:
    ff = list(FRAUD_FEATURES)
    d0 = train["day"].min()
    history = table[(table["day"] >= d0 + cfg.train_days - cfg.history_days) & (table["day"] < d0 + cfg.train_days)]
    model = MLP(history[ff].to_numpy(), hidden=(128, 64))
    fit_mlp(model, history[ff].to_numpy(), history["is_fraud"].to_numpy(), epochs=cfg.epochs, batch=512,
            seed=cfg.seed)
    return model


def prequential(table: pd.DataFrame, cfg: TrainConfig) -> dict:
    """The handbook's prequential variant: the same protocol on `prequential_folds`
    folds, each a week earlier than the last; mean and standard deviation."""
    hb, ff = list(HANDBOOK_FEATURES), list(FRAUD_FEATURES)
    start = pd.Timestamp(cfg.train_start)
    folds: dict[str, list[dict]] = {"baseline_logistic_regression": [], "fraud_mlp": []}
    for k in range(cfg.prequential_folds):
        fold_start = (start - pd.Timedelta(days=7 * k)).strftime("%Y-%m-%d")
        train, test = handbook_split(table, fold_start, cfg.train_days, cfg.delay_days, cfg.test_days)
        baseline = LogisticRegression(train[hb].to_numpy())
        fit_logistic(baseline, train[hb].to_numpy(), train["is_fraud"].to_numpy())
        folds["baseline_logistic_regression"].append(fraud_report(test, predict(baseline, test[hb].to_numpy())))
        mlp = _fit_mlp(table, train, cfg)
        folds["fraud_mlp"].append(fraud_report(test, predict(mlp, test[ff].to_numpy())))
    out: dict = {"folds": cfg.prequential_folds}
    for model, rows in folds.items():
        frame = pd.DataFrame(rows)
        out[model] = {m: {"mean": round(float(frame[m].mean()), 4), "std": round(float(frame[m].std(ddof=0)), 4)}
                      for m in frame.columns}
    return out
