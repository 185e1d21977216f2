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


HOUR_MS = 3_600_000
DAY_BUCKETS = 24


@dataclass(frozen=True)
class MultiWindowView:
    """Per-entity aggregates over several windows of whole days, kept in hour buckets.

    For an event in hour bucket b, a window of w days without delay covers the
    buckets (b - 24w, b], the event itself and every earlier arrival of the
    entity included. With `delay_days` d > 0 it covers [b - 24(d + w), b - 24d - 1]:
    it ends one bucket before the delay so every transaction in it is at least
    d days old, and (labels arriving d days after their transaction) already
    labelled when the event is scored.
    """

    name: str
    entity: str
    windows_days: tuple[int, ...]
    delay_days: int = 0
    bucket_ms: int = HOUR_MS

    def bucket_of(self, ts_ms: int) -> int:
        return ts_ms // self.bucket_ms

    def bounds(self, bucket: int, days: int) -> tuple[int, int]:
        """Inclusive (lo, hi) bucket range of the `days` window of an event in `bucket`."""
        if self.delay_days == 0:
            return bucket - DAY_BUCKETS * days + 1, bucket
        end = bucket - DAY_BUCKETS * self.delay_days - 1
        return end - DAY_BUCKETS * days + 1, end

    @property
    def keep_buckets(self) -> int:
        """How far back buckets are still needed (older ones are pruned)."""
        return DAY_BUCKETS * (max(self.windows_days) + self.delay_days) + 1

    @property
    def ttl_s(self) -> int:
        return self.keep_buckets * self.bucket_ms // 1000 + 86_400


# The handbook's feature views (Le Borgne et al., chapter 3.4): per card, count and
# average amount over 1/7/30 days; per terminal, count and fraud risk over 1/7/30
# days ending 7 days back, because fraud labels arrive about 7 days late.
CARD_WINDOWS = MultiWindowView(name="card", entity="card_id", windows_days=(1, 7, 30))
TERMINAL_WINDOWS = MultiWindowView(name="terminal", entity="terminal_id", windows_days=(1, 7, 30), delay_days=7)

NO_PREVIOUS_S = 10_000_000.0  # "seconds since the card's last transaction" for a card never seen

FRAUD_FEATURES: tuple[str, ...] = (
    "amount",
    "tx_during_weekend",
    "tx_during_night",
    *(f"card_nb_tx_{w}d" for w in CARD_WINDOWS.windows_days),
    *(f"card_avg_amount_{w}d" for w in CARD_WINDOWS.windows_days),
    *(f"terminal_nb_tx_{w}d" for w in TERMINAL_WINDOWS.windows_days),
    *(f"terminal_risk_{w}d" for w in TERMINAL_WINDOWS.windows_days),
    "log_seconds_since_last_tx",
    "distance_from_last_tx",
    "amount_vs_card_avg_30d",
    "spend_velocity_7d_vs_30d",
    "channel_ecom",
    "channel_atm",
)

# The credit model's inputs: the customer's credit profile (reference data) and
# the card's recent spending (CARD_WINDOWS).
CREDIT_FEATURES: tuple[str, ...] = (
    "credit_limit",
    "opening_utilisation",
    "missed_payments_12m",
    "account_age_months",
    "income_band",
    "card_nb_tx_30d",
    "card_avg_amount_30d",
    "utilisation_30d",
)
