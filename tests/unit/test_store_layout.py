"""A store written in another layout of its bytes (an upgrade changed them) is never read:
the job pauses and pages until it is emptied and rebuilt, and a rebuild refuses to run over it."""

from __future__ import annotations

import pytest

from lepton_stream.config import Settings
from lepton_stream.feature_store.base import StoreMark
from lepton_stream.feature_store.rebuild import StoreLayoutError, rebuild
from lepton_stream.pipeline.batch import Batch
from lepton_stream.pipeline.store_guard import StoreGuardStage


class OldLayoutStore:
    """A marker of an earlier version: its generation, and no layout this code writes."""

    def __init__(self) -> None:
        self.generation: str | None = "written-by-an-earlier-version"
        self.layout_ok = False
        self.writes = 0

    def mark(self, events: int) -> StoreMark:
        self.writes += events
        return StoreMark(self.generation, self.writes, self.layout_ok)

    def set_generation(self, generation: str) -> None:
        self.generation, self.layout_ok = generation, True


def test_a_store_in_another_layout_pauses_the_job_until_it_is_rebuilt():
    store = OldLayoutStore()
    reports: list[str] = []
    polls: list[float] = []

    def sleep(s: float) -> None:
        polls.append(s)
        if len(polls) == 2:  # the operator empties the store, which keeps an old marker...
            store.generation = None
        if len(polls) == 3:  # ...and rebuilds it
            store.set_generation("rebuilt")

    guard = StoreGuardStage(Settings(), store, lambda: False, reports.append, poll_s=0.0, sleep=sleep)  # type: ignore[arg-type]
    guard(Batch([]))
    assert len(polls) == 3, "scored before the store was rebuilt"
    assert reports and "another layout" in reports[0]
    assert guard.generation == "rebuilt"


def test_a_rebuild_by_an_earlier_version_does_not_end_the_pause():
    store = OldLayoutStore()
    polls: list[float] = []

    def sleep(s: float) -> None:
        polls.append(s)
        if len(polls) == 2:  # a new generation, still in the earlier layout
            store.generation = "rebuilt-by-an-earlier-version"
        if len(polls) == 5:
            store.set_generation("rebuilt")

    guard = StoreGuardStage(Settings(), store, lambda: False, lambda _: None, poll_s=0.0, sleep=sleep)  # type: ignore[arg-type]
    guard(Batch([]))
    assert len(polls) == 5


def test_a_rebuild_refuses_a_store_in_another_layout():
    with pytest.raises(StoreLayoutError, match="empty it first"):
        rebuild(Settings(), OldLayoutStore(), since_ms=0)  # type: ignore[arg-type]
