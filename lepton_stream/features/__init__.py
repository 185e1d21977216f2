"""Feature definitions, defined once and used online (job) and offline (training).

Where is feature X computed? `definitions.py` says what each one means;
`vector.py` turns a transaction plus its window aggregates into the model's
input row (both paths call it); `offline.py` computes the window aggregates
over a DataFrame; `lepton_stream.feature_store.redis_store` over Redis.
"""

from lepton_stream.features.definitions import CARD_ACTIVITY, MODEL_FEATURES, BucketedWindowView
from lepton_stream.features.vector import feature_matrix, feature_row

__all__ = ["CARD_ACTIVITY", "MODEL_FEATURES", "BucketedWindowView", "feature_matrix", "feature_row"]
