import json
from pathlib import Path

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.features import MODEL_FEATURES
from lepton_stream.models.mlp import TwoHeadMLP, roc_auc
from lepton_stream.models.onnx_export import export
from lepton_stream.scoring.onnx_local import OnnxScorer


def test_onnx_export_matches_numpy(tmp_path: Path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, len(MODEL_FEATURES))).astype(np.float32) * 10
    model = TwoHeadMLP.init(x, hidden=8, rng=rng)
    model.fit(x, (x[:, 0] > 5).astype(np.float32), (x[:, 1] > 0).astype(np.float32), epochs=80, batch=64)
    export(model, tmp_path / "m.onnx")
    got = OnnxScorer(tmp_path / "m.onnx").score(x)
    want_f, want_c = model.forward(x)
    np.testing.assert_allclose(got.fraud, want_f, atol=1e-5)
    np.testing.assert_allclose(got.credit, want_c, atol=1e-5)
    assert roc_auc((x[:, 0] > 5).astype(np.float32), got.fraud) > 0.9


def test_repository_model_metadata_matches_features():
    version = Settings().model_repo / "risk_scorer" / "1"
    meta = json.loads((version / "metadata.json").read_text())
    assert meta["features"] == list(MODEL_FEATURES)
    scores = OnnxScorer(version / "model.onnx").score(np.zeros((4, len(MODEL_FEATURES)), np.float32))
    assert scores.fraud.shape == (4,) and np.all((scores.fraud >= 0) & (scores.fraud <= 1))


def test_roc_auc_known_values():
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert roc_auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
