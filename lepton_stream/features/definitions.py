"""Feature views as code: one object per view, reused by the job, training and tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BucketedWindowView:
    """Count and sum of a card's transactions over a sliding event-time window.

    Time is cut into `bucket_ms` buckets; the window of an event at time t is
    the `buckets` buckets ending with t's bucket, the event itself included.
    Buckets (not sorted sets) keep each Redis update O(1) and money is kept
    as integer cents so sums are exact.
    """

    name: str
    entity: str
    bucket_ms: int
    buckets: int
    count_feature: str
    sum_feature: str

    def bucket_of(self, ts_ms: int) -> int:
        return ts_ms // self.bucket_ms

    @property
    def window_ms(self) -> int:
        return self.bucket_ms * self.buckets

    @property
    def ttl_s(self) -> int:
        # Twice the window (late events still find their buckets) plus slack.
        return 2 * self.window_ms // 1000 + 60


CARD_ACTIVITY = BucketedWindowView(
    name="card_activity",
    entity="card_id",
    bucket_ms=60_000,
    buckets=60,
    count_feature="card_tx_count_1h",
    sum_feature="card_amount_sum_1h",
)

# The model's input columns, in order. Changing this list means a new model.
MODEL_FEATURES: tuple[str, ...] = (
    "amount",
    "log_amount",
    "card_tx_count_1h",
    "card_amount_sum_1h",
    "amount_vs_card_mean_1h",
    "is_night",
    "channel_ecom",
    "channel_atm",
)
