"""Credit profiles, the store's reference data: published to the compacted
`credit-profiles` topic (their durable source, which the job and a rebuild read)
and loaded into the store at once, so scoring need not wait for the job to read them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lepton_stream.config import Settings
from lepton_stream.feature_store.base import WindowStore
from lepton_stream.schemas.profile import CreditProfile


def publish_profiles(s: Settings, card_ids: Sequence[str], rows: np.ndarray) -> int:
    """One record per card, keyed by card_id (compaction keeps the latest)."""
    from lepton_stream.kafka.clients import client_security, producer

    errors: list[str] = []

    def delivered(err, _msg) -> None:  # noqa: ANN001
        if err is not None:
            errors.append(str(err))

    p = producer(s.kafka_bootstrap, security=client_security(s))
    for card, row in zip(card_ids, rows, strict=True):
        record = CreditProfile(card, tuple(float(v) for v in row))
        while True:
            try:
                p.produce(s.topics.credit_profiles, record.to_json(), card.encode(), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                p.poll(0.1)
    if p.flush(60) or errors:
        raise RuntimeError(f"credit profiles not all delivered to {s.topics.credit_profiles}: "
                           f"{errors[0] if errors else 'flush timed out'}")
    return len(card_ids)


def load_profiles(s: Settings, store: WindowStore, card_ids: Sequence[str], rows: np.ndarray) -> int:
    publish_profiles(s, card_ids, rows)
    return store.load_profiles(card_ids, rows)
