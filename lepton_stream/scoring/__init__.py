"""Scorers: feature matrices in, fraud and credit scores (with the model versions) out.

`triton_client.TritonScorer` is what the job uses; `onnx_local.OnnxScorer`
runs the same ONNX files in-process (tests compare the two).
"""

from lepton_stream.scoring.base import Scorer, Scores

__all__ = ["Scorer", "Scores"]
