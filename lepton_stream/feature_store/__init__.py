"""Online feature stores: one interface (`base.py`), one file per backend."""

from lepton_stream.feature_store.base import FeatureStore, WindowUpdate
from lepton_stream.feature_store.redis_store import RedisFeatureStore

__all__ = ["FeatureStore", "RedisFeatureStore", "WindowUpdate"]
