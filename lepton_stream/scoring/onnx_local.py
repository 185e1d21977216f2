"""In-process onnxruntime scoring of a model_repo version's model.onnx."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


class OnnxModel:
    def __init__(self, model_path: Path) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: features.astype(np.float32)})[0].reshape(-1)
