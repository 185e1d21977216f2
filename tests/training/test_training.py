"""A small-data training run in the training environment (.venv-train, torch)."""

import json
import subprocess

import numpy as np
import onnxruntime as ort

from lepton_stream.config import REPO_ROOT
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES


def test_small_training_run_trains_evaluates_and_exports(tmp_path):
    cmd = [str(REPO_ROOT / ".venv" / "bin" / "lepton-stream"), "train", "--out", str(tmp_path), "--days", "60",
           "--customers", "800", "--terminals", "1600", "--train-start", "2018-05-10", "--history-days", "14",
           "--epochs", "3", "--prequential-folds", "2", "--extra-train-seeds", "1",
           "--unseen-seeds", "11,12"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    for model in ("baseline_logistic_regression", "fraud_mlp"):
        metrics = report[model]
        assert 0.6 < metrics["auc_roc"] <= 1 and 0 < metrics["average_precision"] <= 1
        assert 0 <= metrics["card_precision_at_100"] <= 1
    assert report["fraud_mlp"]["onnx_max_abs_diff_vs_torch"] < 1e-5
    oracle = report["fraud_oracle"]
    assert 0 <= oracle["hidden_frauds"] <= oracle["frauds"] == report["test_frauds"]
    assert 0.5 <= oracle["expected_auc_roc"] <= 1
    assert set(report["fraud_mlp"]["auc_roc_by_scenario"]) <= {"scenario_1", "scenario_2", "scenario_3"}
    assert report["credit_mlp"]["onnx_max_abs_diff_vs_torch"] < 1e-5
    assert report["credit_mlp"]["auc_roc"] > 0.6
    assert report["fraud_mlp"]["train_worlds"] == [0, 1]
    # Measured on the worlds it never saw, the served models and the baseline, each figure as mean and std.
    unseen = report["fraud_mlp"]["unseen_worlds"]
    assert unseen["seeds"] == [11, 12] == [w["seed"] for w in report["unseen_worlds"]["by_world"]]
    for figure in ("auc_roc", "average_precision", "card_precision_at_100"):
        assert 0 <= unseen[figure]["mean"] <= 1 and unseen[figure]["std"] >= 0
        assert 0 <= report["unseen_worlds"]["baseline_logistic_regression"][figure]["mean"] <= 1
    assert 0.5 <= report["unseen_worlds"]["fraud_oracle"]["expected_auc_roc"]["mean"] <= 1
    credit = report["credit_mlp"]["unseen_worlds"]
    assert credit["customers"] > 1000 and -1 < credit["mean_pd_rel_error"] < 1
    assert 0 <= credit["max_decile_abs_error"] < 1 and 0.5 < credit["auc_vs_true_pd_ratio"] < 1.2
    pre = report["prequential"]
    assert pre["folds"] == 2 and 0.5 < pre["fraud_mlp"]["auc_roc"]["mean"] <= 1
    assert pre["baseline_logistic_regression"]["average_precision"]["std"] >= 0
    # The exported graphs take raw features with a dynamic batch axis.
    for name, n in (("fraud_scorer", len(FRAUD_FEATURES)), ("credit_scorer", len(CREDIT_FEATURES))):
        sess = ort.InferenceSession(str(tmp_path / f"{name}.onnx"), providers=["CPUExecutionProvider"])
        (out,) = sess.run(None, {"features": np.zeros((7, n), np.float32)})
        assert out.shape == (7, 1) and np.all((out >= 0) & (out <= 1))
