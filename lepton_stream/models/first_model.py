"""Build the first model of model_repo/risk_scorer: train on SimpleGenerator
data with the offline features, export ONNX, write metadata.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lepton_stream.features import CARD_ACTIVITY, MODEL_FEATURES
from lepton_stream.features.offline import offline_features
from lepton_stream.models.mlp import TwoHeadMLP, roc_auc
from lepton_stream.models.onnx_export import export
from lepton_stream.schemas import Transaction, parse_transaction
from producers.simple import SimpleGenerator

TRAIN_START_MS = 1_700_000_000_000


def training_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rows, y_fraud, y_credit = [], [], []
    for ev in SimpleGenerator(cards=2000, fraud_share=0.02, seed=seed).stream(n, TRAIN_START_MS, 200.0):
        tx = parse_transaction(ev.to_bytes())
        assert isinstance(tx, Transaction)
        rows.append({"card_id": tx.card_id, "ts_ms": tx.ts_ms, "amount": tx.amount,
                     "amount_cents": tx.amount_cents, "channel": tx.channel})
        y_fraud.append(ev.is_fraud)
        y_credit.append(ev.defaults)
    return pd.DataFrame(rows), np.asarray(y_fraud, np.float32), np.asarray(y_credit, np.float32)


def build(version_dir: Path, n: int = 60_000, seed: int = 7) -> dict:
    df, y_fraud, y_credit = training_frame(n, seed)
    x = offline_features(df, CARD_ACTIVITY)
    split = int(0.8 * len(x))  # time-ordered split: train on the past, test on the future
    model = TwoHeadMLP.init(x[:split], hidden=16, rng=np.random.default_rng(seed))
    model.fit(x[:split], y_fraud[:split], y_credit[:split], epochs=12, seed=seed)
    pf, pc = model.forward(x[split:])
    export(model, version_dir / "model.onnx")
    meta = {
        "model": "risk_scorer",
        "kind": "two-head MLP (numpy), first skeleton model",
        "features": list(MODEL_FEATURES),
        "feature_mean": model.mean.tolist(),
        "feature_std": model.std.tolist(),
        "alert_threshold": 0.5,
        "training_data": {"generator": "producers.simple.SimpleGenerator", "events": n, "seed": seed},
        "metrics_test": {"fraud_auc": round(roc_auc(y_fraud[split:], pf), 4),
                         "credit_auc": round(roc_auc(y_credit[split:], pc), 4),
                         "test_events": len(x) - split},
    }
    (version_dir / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
