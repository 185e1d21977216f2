"""The scorer interface and the models' tensor names (shared with model_repo/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

FEATURES_INPUT = "features"
FRAUD_MODEL, FRAUD_OUTPUT = "fraud_scorer", "fraud_score"
CREDIT_MODEL, CREDIT_OUTPUT = "credit_scorer", "credit_score"


@dataclass(frozen=True)
class Scores:
    fraud: np.ndarray  # float32 [N]
    credit: np.ndarray  # float32 [N]
    fraud_version: str
    credit_version: str
    # The challenger fraud model's scores and version (lepton_stream/models/roles.py);
    # None and "" when there is none. Alerts never read them.
    challenger: np.ndarray | None = None
    challenger_version: str = ""


class Scorer(Protocol):
    def score(self, fraud_features: np.ndarray, credit_features: np.ndarray) -> Scores: ...
