"""The scorer interface and the model's tensor names (shared with model_repo/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

FEATURES_INPUT = "features"
OUTPUTS = ("fraud_score", "credit_score")


@dataclass(frozen=True)
class Scores:
    fraud: np.ndarray  # float32 [N]
    credit: np.ndarray  # float32 [N]
    model_version: str


class Scorer(Protocol):
    def score(self, features: np.ndarray) -> Scores: ...
