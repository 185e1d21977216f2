"""In-process onnxruntime scorer over a model_repo version directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from lepton_stream.scoring.base import FEATURES_INPUT, OUTPUTS, Scores


class OnnxScorer:
    def __init__(self, model_path: Path, model_version: str = "local") -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self._version = model_version

    def score(self, features: np.ndarray) -> Scores:
        fraud, credit = self._session.run(list(OUTPUTS), {FEATURES_INPUT: features.astype(np.float32)})
        return Scores(fraud.reshape(-1), credit.reshape(-1), self._version)
