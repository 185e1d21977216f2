"""JSON for other programs: every report, result file and `--json` output goes through
`dumps`, which writes a value that is not a finite number (no alerts, so no alert
percentile) as null. Python's `json` would write NaN or Infinity, which RFC 8259 has
no words for and which jq, JavaScript and Go refuse."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(obj: Any) -> Any:
    """`obj` with every float that is NaN or infinite replaced by None (in dicts,
    lists and tuples, at any depth)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(finite(obj), allow_nan=False, **kwargs)
