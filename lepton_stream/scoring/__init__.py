"""Scorers: turn a feature matrix into fraud and credit scores.

`triton_client.TritonScorer` is what the job uses; `onnx_local.OnnxScorer`
runs the same ONNX file in-process (tests compare the two).
"""

from lepton_stream.scoring.base import FEATURES_INPUT, OUTPUTS, Scorer, Scores

__all__ = ["FEATURES_INPUT", "OUTPUTS", "Scorer", "Scores"]
