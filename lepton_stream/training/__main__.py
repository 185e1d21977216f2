"""python -m lepton_stream.training --out DIR [--days N] [--customers N] [--terminals N] (in .venv-train)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lepton_stream.training.run import TrainConfig, train_all
from producers.simulator import SimulationConfig


def main() -> int:
    ap = argparse.ArgumentParser(prog="lepton-stream train")
    ap.add_argument("--out", required=True)
    ap.add_argument("--days", type=int, default=183)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--terminals", type=int, default=10000)
    ap.add_argument("--train-start", default="2018-07-25")
    ap.add_argument("--history-days", type=int, default=28)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prequential-folds", type=int, default=4)
    a = ap.parse_args()
    cfg = TrainConfig(SimulationConfig(n_customers=a.customers, n_terminals=a.terminals, nb_days=a.days,
                                       seed=a.seed), train_start=a.train_start, history_days=a.history_days,
                      epochs=a.epochs, seed=a.seed, prequential_folds=a.prequential_folds)
    report = train_all(cfg, Path(a.out))
    summary = {k: report[k] for k in
               ("baseline_logistic_regression", "fraud_auc_ceiling", "fraud_mlp", "prequential", "seconds")}
    summary["fraud_mlp"] = {k: v for k, v in summary["fraud_mlp"].items() if not k.startswith("feature_")}
    summary["credit_mlp"] = {k: v for k, v in report["credit_mlp"].items() if k != "by_decile"}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
