"""python -m lepton_stream.training --out DIR [options] (in .venv-train): see --help."""

from __future__ import annotations

import argparse
from pathlib import Path

from lepton_stream.jsonout import dumps
from lepton_stream.training.run import EXTRA_TRAIN_SEEDS, UNSEEN_SEEDS, TrainConfig, train_all
from producers.simulator import SimulationConfig


def _seeds(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def main() -> int:
    ap = argparse.ArgumentParser(prog="lepton-stream train")
    ap.add_argument("--out", required=True)
    ap.add_argument("--days", type=int, default=183, help="simulated days of every world")
    ap.add_argument("--customers", type=int, default=5000, help="customers of every world")
    ap.add_argument("--terminals", type=int, default=10000, help="terminals of every world")
    ap.add_argument("--train-start", default="2018-07-25")
    ap.add_argument("--history-days", type=int, default=TrainConfig.history_days,
                    help="days the served fraud model trains on in each training world")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--seed", type=int, default=0, help="the protocol's world (and torch's seed)")
    ap.add_argument("--prequential-folds", type=int, default=TrainConfig.prequential_folds)
    ap.add_argument("--extra-train-seeds", type=_seeds, default=EXTRA_TRAIN_SEEDS, metavar="S,S,...",
                    help="more worlds to train on ('' for none)")
    ap.add_argument("--unseen-seeds", type=_seeds, default=UNSEEN_SEEDS, metavar="S,S,...",
                    help="worlds training never sees, to measure the models on")
    a = ap.parse_args()
    try:
        cfg = TrainConfig(SimulationConfig(n_customers=a.customers, n_terminals=a.terminals, nb_days=a.days,
                                           seed=a.seed), train_start=a.train_start, history_days=a.history_days,
                          epochs=a.epochs, seed=a.seed, prequential_folds=a.prequential_folds,
                          extra_train_seeds=a.extra_train_seeds, unseen_seeds=a.unseen_seeds)
    except ValueError as exc:
        ap.error(str(exc))
    report = train_all(cfg, Path(a.out))
    summary = {k: report[k] for k in
               ("baseline_logistic_regression", "fraud_oracle", "fraud_mlp", "prequential", "seconds")}
    summary["fraud_mlp"] = {k: v for k, v in summary["fraud_mlp"].items() if not k.startswith("feature_")}
    summary["credit_mlp"] = {k: v for k, v in report["credit_mlp"].items() if k != "by_decile"}
    summary["unseen_worlds"] = {k: v for k, v in report["unseen_worlds"].items() if k != "by_world"}
    print(dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
