"""What other programs read is strict JSON: no NaN or Infinity (RFC 8259 has neither)."""

import json
import math
from pathlib import Path

import pytest

from lepton_stream.jsonout import dumps, finite
from producers.file import PublishReport
from producers.load import LoadReport

ROOT = Path(__file__).resolve().parents[2]


def strict(text: str):
    def refuse(token: str):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_at_any_depth():
    obj = {"a": math.nan, "b": [1.5, math.inf, (-math.inf, 2)], "c": {"d": {"e": math.nan}}, "f": "NaN", "g": 0}
    assert finite(obj) == {"a": None, "b": [1.5, None, [None, 2]], "c": {"d": {"e": None}}, "f": "NaN", "g": 0}
    assert strict(dumps(obj)) == finite(obj)
    with pytest.raises(ValueError):
        strict(json.dumps(obj))  # what the standard library would have written


def test_a_load_report_with_nothing_delivered_is_strict_json():
    report = LoadReport(mode="rate", target_rate=100.0, sent=300, errors=300)
    assert math.isnan(report.delivery_latency_ms_p50)  # nothing was acknowledged
    out = strict(report.to_json())
    assert out["delivery_latency_ms_p50"] is None and out["sent"] == 300


def test_a_publish_report_is_strict_json():
    strict(PublishReport("transactions", "transactions").to_json())


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in
                                        [*ROOT.glob("benchmarks/results/*.json"),
                                         *ROOT.glob("model_repo/*/*/metadata.json")]))
def test_committed_result_files_are_strict_json(path):
    strict((ROOT / path).read_text())
