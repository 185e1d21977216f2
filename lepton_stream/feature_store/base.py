"""The online feature store interface the scoring pipeline depends on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lepton_stream.features.definitions import BucketedWindowView


@dataclass(frozen=True)
class WindowUpdate:
    entity_id: str
    tx_id: str
    ts_ms: int
    amount_cents: int


class FeatureStore(Protocol):
    def update_and_read(
        self, view: BucketedWindowView, updates: Sequence[WindowUpdate]
    ) -> list[tuple[int, int]]:
        """Apply each update once per tx_id (replays change nothing) and return,
        per update, the (count, sum_cents) of its window including itself."""
        ...

    def read(self, view: BucketedWindowView, entity_id: str, ts_ms: int) -> tuple[int, int]: ...

    def ping(self) -> bool: ...
