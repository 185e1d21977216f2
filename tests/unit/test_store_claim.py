"""A job claims the store of a consumer group that never consumed before its first checkpoint."""

from __future__ import annotations

from lepton_stream.feature_store.base import StoreMark
from lepton_stream.pipeline.store_guard import claim_store_for_new_group


class MarkerStore:
    def __init__(self, generation: str | None) -> None:
        self.generation = generation

    def mark(self, events: int) -> StoreMark:
        return StoreMark(self.generation, events)

    def set_generation(self, generation: str) -> None:
        self.generation = generation


def test_a_new_group_claims_an_empty_store():
    store = MarkerStore(None)
    assert claim_store_for_new_group(store, lambda: True)  # type: ignore[arg-type]
    assert store.generation


def test_a_group_that_consumed_leaves_an_empty_store_to_be_reported_lost():
    store = MarkerStore(None)
    assert not claim_store_for_new_group(store, lambda: False)  # type: ignore[arg-type]
    assert store.generation is None


def test_a_marked_store_is_never_claimed_again():
    store = MarkerStore("g1")
    asked = []
    assert not claim_store_for_new_group(store, lambda: asked.append(1) or True)  # type: ignore[arg-type]
    assert store.generation == "g1" and not asked
