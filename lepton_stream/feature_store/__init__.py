"""Online feature stores: the interface (`base.py`), one file per backend, and backfill."""

from lepton_stream.feature_store.base import WindowStore
from lepton_stream.feature_store.redis_windows import LabelFacts, RedisWindowStore, TxFacts

__all__ = ["LabelFacts", "RedisWindowStore", "TxFacts", "WindowStore"]
