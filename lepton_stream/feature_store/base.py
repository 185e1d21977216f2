"""The online feature store interface the scoring pipeline depends on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from lepton_stream.feature_store.redis_windows import LabelFacts, TxFacts
from lepton_stream.features.aggregates import Aggregates


class WindowStore(Protocol):
    def apply_transactions(self, txs: Sequence[TxFacts]) -> Aggregates:
        """Apply each transaction once per tx_id (a replay changes nothing and gets
        the same answer) and return the aggregates each one saw."""
        ...

    def apply_and_profile(self, txs: Sequence[TxFacts]) -> tuple[Aggregates, np.ndarray]:
        """`apply_transactions` plus each card's credit profile (defaults where unknown)."""
        ...

    def apply_labels(self, labels: Sequence[LabelFacts]) -> list[int]: ...

    def profiles(self, card_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...
