"""Features, defined once and used online (job) and offline (training).

Where is feature X computed? `definitions.py` says what each view and feature
means; `fraud_vector.py` / `credit_vector.py` compute the model inputs from
per-event aggregates (both paths call them); the aggregates come from
`offline.py` (pandas, training) or `lepton_stream.feature_store.redis_windows`
(Redis, the job).
"""

from lepton_stream.features.definitions import (
    CARD_WINDOWS,
    CREDIT_FEATURES,
    FRAUD_FEATURES,
    TERMINAL_WINDOWS,
    MultiWindowView,
)

__all__ = ["CARD_WINDOWS", "CREDIT_FEATURES", "FRAUD_FEATURES", "TERMINAL_WINDOWS", "MultiWindowView"]
