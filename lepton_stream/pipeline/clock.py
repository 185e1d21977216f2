"""The stream's clock: where the event times of the stream are, robust to a few liars.

The job's own clock bounds how far in the future an event may be stamped; this
bounds how far ahead of the other events of the stream it may be, which matters
when the stream replays the past (a simulated world, a backfill): an event a
year ahead of the rest would move its card's head there and prune the windows
its next events need. The reference is the median of the latest event times,
so a minority of bad clocks cannot move it, while a stream that really jumps
ahead (a replay of a later period) moves it within half a window of events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np


class StreamClock:
    def __init__(self, window: int = 255, min_events: int = 5) -> None:
        self._recent: deque[int] = deque(maxlen=window)
        self._min_events = min_events

    def observe(self, ts_ms: Sequence[int]) -> int | None:
        """Takes in a batch's event times (accepted or not, so that a real jump is
        followed) and returns the reference to check them against, or None while
        too few events have been seen."""
        self._recent.extend(ts_ms[-self._recent.maxlen:] if self._recent.maxlen else ts_ms)
        if len(self._recent) < self._min_events:
            return None
        return int(np.median(np.fromiter(self._recent, np.int64, len(self._recent))))
