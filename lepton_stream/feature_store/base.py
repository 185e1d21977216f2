"""The online feature store interface the scoring pipeline depends on, and what it is given.

Imports nothing of any backend: `redis_windows.py` implements it on Redis.
"""

from __future__ import annotations

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


# new: first sighting; replay: the same record again (a restart from a checkpoint);
# duplicate: the same content from another record; conflict: other content.
Verdict = Literal["new", "replay", "duplicate", "conflict"]


class WindowStore(Protocol):
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


def verdict(claim: TxClaim, first: str | None) -> Verdict:
    """What a claim is, given the first sighting stored for its tx_id ("<fingerprint>|<source>")."""
    if first is None:
        return "new"
    fp, _, source = first.partition("|")
    if fp != claim.fingerprint:
        return "conflict"
    return "replay" if source == claim.source else "duplicate"
