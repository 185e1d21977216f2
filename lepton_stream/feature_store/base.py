"""The online feature store interface the scoring pipeline depends on, and what it is given.

Imports nothing of any backend: `redis_windows.py` implements it on Redis.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from lepton_stream.features.aggregates import Aggregates


@dataclass(frozen=True)
class TxFacts:
    tx_id: str
    card_id: str
    terminal_id: str
    ts_ms: int
    amount_cents: int
    x: float
    y: float


@dataclass(frozen=True)
class LabelFacts:
    tx_id: str
    terminal_id: str


@dataclass(frozen=True)
class TxClaim:
    """A transaction's first sighting, by tx_id: its content's fingerprint, and the
    record it came from (`topic/partition/offset`)."""

    tx_id: str
    fingerprint: str
    source: str


@dataclass(frozen=True)
class StoreMark:
    """The store's identity and progress, read with every batch (docs/design.md, "Loss of the store").

    `generation` names the store's contents since it was created or last rebuilt
    (None: the marker is gone, so is what was written with it); `writes` counts
    the events written to it, which only grows while the store keeps its state;
    `layout_ok` is False when the marker says its bytes were written in another
    layout than this code's (an upgrade changed them), or says no layout at all:
    such a store must be emptied and rebuilt, never read."""

    generation: str | None
    writes: int
    layout_ok: bool = True


def new_generation() -> str:
    """A name for a store's contents: when it was made, and a random part."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"


# new: first sighting; replay: the same record again (a restart from a checkpoint);
# duplicate: the same content from another record; conflict: other content.
Verdict = Literal["new", "replay", "duplicate", "conflict"]


class WindowStore(Protocol):
    def mark(self, events: int) -> StoreMark:
        """Count `events` about to be written and return the marker as it now stands."""
        ...

    def set_generation(self, generation: str) -> None:
        """Name the store's contents (a new store, or one just rebuilt), written in this code's layout."""
        ...

    def claim(self, claims: Sequence[TxClaim]) -> list[Verdict]:
        """Record each tx_id's first sighting (kept for the replay horizon) and say
        what each claim is, in order: a later claim in the same call sees an earlier one."""
        ...

    def apply_transactions(self, txs: Sequence[TxFacts]) -> Aggregates:
        """Apply each transaction once per tx_id (a replay changes nothing and gets
        the same answer) and return the aggregates each one saw."""
        ...

    def apply_and_profile(self, txs: Sequence[TxFacts]) -> tuple[Aggregates, np.ndarray]:
        """`apply_transactions` plus each card's credit profile (defaults where unknown)."""
        ...

    def apply_labels(self, labels: Sequence[LabelFacts]) -> list[int]: ...

    def profiles(self, card_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...

    def load_profiles(self, card_ids: Sequence[str], rows: np.ndarray) -> int:
        """Reference data: each card's credit profile (PROFILE_FIELDS order)."""
        ...

    def delete_profiles(self, card_ids: Sequence[str]) -> int: ...


def verdict(claim: TxClaim, first: str | None) -> Verdict:
    """What a claim is, given the first sighting stored for its tx_id ("<fingerprint>|<source>")."""
    if first is None:
        return "new"
    fp, _, source = first.partition("|")
    if fp != claim.fingerprint:
        return "conflict"
    return "replay" if source == claim.source else "duplicate"
