"""Torch -> ONNX: one input `features` [batch, n] of raw features (standardisation is
inside the graph), one output [batch, 1]; opset 17, which TensorRT's parser takes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

INPUT = "features"
OPSET = 17


def export_onnx(model: nn.Module, n_features: int, output_name: str, path: Path) -> None:
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, torch.zeros(2, n_features), str(path), input_names=[INPUT],
                          output_names=[output_name], opset_version=OPSET, dynamo=False,
                          dynamic_axes={INPUT: {0: "batch"}, output_name: {0: "batch"}})
    onnx.checker.check_model(onnx.load(str(path)))


def onnx_predict(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {INPUT: x.astype(np.float32)})[0][:, 0]
