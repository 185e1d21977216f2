"""How long each topic keeps its records, and how: one statement for the local stack,
docker-compose.yml and the Kubernetes topics (tests/deploy checks them against it).

`transactions` and `fraud-labels` are the store's source of truth: a lost store is
rebuilt from them (`lepton-stream features rebuild`), so they keep the store's whole
history plus a week to notice a loss and act. `credit-profiles` is reference data, a
compacted topic: the latest profile per card, kept for ever; so is `rules`, the
latest version of each live rule. docs/deploy.md says
what this costs in disk.
"""

from __future__ import annotations

import math

from lepton_stream.config import Topics
from lepton_stream.features.definitions import DAY_MS, STORE_HISTORY_MS
from lepton_stream.kafka.limits import MAX_RECORD_BYTES

REBUILD_SINCE_DAYS = math.ceil(STORE_HISTORY_MS / DAY_MS)  # `features rebuild`'s default --since
INPUT_RETENTION_MS = (REBUILD_SINCE_DAYS + 7) * DAY_MS


def topic_configs(topics: Topics) -> dict[str, dict[str, str]]:
    """Per topic, the configuration it is created with (what is not here: broker defaults)."""
    out = {name: {"max.message.bytes": str(MAX_RECORD_BYTES)} for name in topics.all()}
    for name in (topics.transactions, topics.fraud_labels):
        out[name]["retention.ms"] = str(INPUT_RETENTION_MS)
    for name in (topics.credit_profiles, topics.rules):
        out[name] |= {"cleanup.policy": "compact", "retention.ms": "-1"}
    return out
