"""Feature views as code: one object per view, reused by the job, training and tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DAY_BUCKETS = 24
# A store renews an entity's expiry at most once per this many days of its events,
# not with every event, so its state outlives the last write by `ttl_s` less this.
RENEW_DAYS = 7


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

    def bounds(self, bucket: Any, days: int) -> tuple[Any, Any]:  # an int, or a numpy array of them
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
        """How long a store keeps an entity's state after renewing its expiry: its
        buckets, a day of slack, and the days until the next renewal."""
        return self.keep_buckets * self.bucket_ms // 1000 + 86_400 * (1 + RENEW_DAYS)


# The handbook's feature views (Le Borgne et al., chapter 3.4): per card, count and
# average amount over 1/7/30 days; per terminal, count and fraud risk over 1/7/30
# days ending 7 days back, because fraud labels arrive about 7 days late.
CARD_WINDOWS = MultiWindowView(name="card", entity="card_id", windows_days=(1, 7, 30))
TERMINAL_WINDOWS = MultiWindowView(name="terminal", entity="terminal_id", windows_days=(1, 7, 30), delay_days=7)

# How far back the store's state reaches: the widest window of any view, its delay,
# and the day of slack kept for late events. A rebuild from Kafka reads this much
# history, and the input topics keep at least this much (lepton_stream/kafka/retention.py).
STORE_HISTORY_MS = max(v.keep_buckets * v.bucket_ms for v in (CARD_WINDOWS, TERMINAL_WINDOWS)) + DAY_MS

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

# Credit profile fields kept per card (`lepton-stream features load-profiles`), and
# what a card without a known profile is scored with (the simulated population's medians).
PROFILE_FIELDS: tuple[str, ...] = (
    "credit_limit", "opening_balance", "missed_payments_12m", "account_age_months", "income_band",
)
DEFAULT_PROFILE: dict[str, float] = {
    "credit_limit": 8_800.0, "opening_balance": 2_300.0, "missed_payments_12m": 0.0,
    "account_age_months": 122.0, "income_band": 3.0,
}
