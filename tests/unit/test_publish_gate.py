"""The publish gate's decisions on known figures, its metric and margins; the held-out
world cached and scored without torch."""

import subprocess
import sys

import numpy as np
import pytest

from lepton_stream.config import Settings
from lepton_stream.models import gate
from lepton_stream.models.gate import CreditFigures, FraudFigures, Margins, judge_credit, judge_fraud
from lepton_stream.training.metrics import average_precision
from tests.onnx_models import constant_model

M = Margins(max_ap_drop=0.02, max_alert_rate_change=0.5, max_auc_drop=0.02)
SERVING = FraudFigures(average_precision=0.71, alert_rate=0.021, recall=0.68)
BASE_RATE = 0.0085


def test_the_same_figures_pass():
    assert judge_fraud(SERVING, SERVING, BASE_RATE, M) is None
    assert judge_credit(CreditFigures(0.83), CreditFigures(0.83), M) is None


def test_a_model_that_alerts_on_nothing_is_refused_with_both_figures():
    always_zero = FraudFigures(average_precision=0.012, alert_rate=0.0, recall=0.0)
    assert judge_fraud(always_zero, SERVING, BASE_RATE, M) == (
        "fraud_scorer candidate AP 0.012 vs serving 0.710 (drop 0.698 > 0.02 allowed); "
        "alert rate 0.0000 vs 0.0210 (change 100% > 50% allowed)")


def test_a_good_ranking_that_alerts_on_everything_is_refused_for_its_alert_rate_alone():
    reason = judge_fraud(FraudFigures(0.71, 1.0, 1.0), SERVING, BASE_RATE, M)
    assert reason is not None and "(drop" not in reason
    assert "alert rate 1.0000 vs 0.0210 (change 4662% > 50% allowed)" in reason


@pytest.mark.parametrize(("ap", "rate", "refused"), [
    (0.69, 0.021, False),  # drop 0.02: at the margin
    (0.689, 0.021, True),  # just beyond it
    (0.75, 0.0315, False),  # +50%
    (0.75, 0.0106, False),  # -49.5%
    (0.75, 0.0104, True),  # -50.5%
    (float("nan"), 0.021, True),
])
def test_margins_are_the_limits(ap, rate, refused):
    assert (judge_fraud(FraudFigures(ap, rate, 0.5), SERVING, BASE_RATE, M) is not None) is refused


def test_credit_auc_drop_beyond_the_margin_is_refused():
    assert judge_credit(CreditFigures(0.5), CreditFigures(0.83), M) == (
        "credit_scorer candidate AUC 0.500 vs serving 0.830 (drop 0.330 > 0.02 allowed)")
    assert judge_credit(CreditFigures(0.815), CreditFigures(0.83), M) is None


def test_without_a_serving_version_the_candidate_must_beat_chance_and_alert_on_some():
    assert judge_fraud(SERVING, None, BASE_RATE, M) is None
    constant = judge_fraud(FraudFigures(BASE_RATE, 0.0, 0.0), None, BASE_RATE, M)
    assert constant == ("fraud_scorer candidate AP 0.009 not above the base rate 0.009 by more than 0.02; "
                        "alert rate 0.0000 (alerts on nothing) (no serving version)")
    assert "alerts on all" in judge_fraud(FraudFigures(0.7, 1.0, 1.0), None, BASE_RATE, M)
    assert judge_credit(CreditFigures(0.83), None, M) is None
    assert "not above chance" in judge_credit(CreditFigures(0.5), None, M)


def test_a_serving_version_that_alerts_on_nothing_leaves_the_candidate_its_own_sanity():
    silent = FraudFigures(0.2, 0.0, 0.0)
    assert judge_fraud(SERVING, silent, BASE_RATE, M) is None
    assert "(alerts on nothing)" in judge_fraud(FraudFigures(0.3, 0.0, 0.0), silent, BASE_RATE, M)


def test_refusal_line_says_how_to_override():
    v = gate.Verdict({}, ["fraud_scorer candidate AP 0.012 vs serving 0.710", "credit_scorer candidate AUC 0.5"])
    assert v.line() == ("fraud_scorer candidate AP 0.012 vs serving 0.710; credit_scorer candidate AUC 0.5; "
                        "use --force to publish anyway")


def test_fraud_figures_count_a_score_at_the_threshold_as_an_alert():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    f = gate.fraud_figures(np.array([0.5, 0.2, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]), y, threshold=0.5)
    assert (f.alert_rate, f.recall) == (0.25, 0.5)
    assert f.average_precision == pytest.approx((1 / 2 + 2 / 3) / 2)  # 0.9 is genuine


def test_average_precision_of_a_constant_score_is_the_base_rate_in_any_order():
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    for order in (y, y[::-1], np.sort(y)[::-1]):  # frauds first would be AP 1 if ties were broken by order
        assert average_precision(order, np.zeros(len(order))) == pytest.approx(0.2)
    # Without ties it is the usual mean of precision at each fraud.
    assert average_precision(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])) == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize(("name", "raw"), [
    ("PUBLISH_MAX_AP_DROP", "-0.1"), ("PUBLISH_MAX_AP_DROP", "1.5"), ("PUBLISH_MAX_AUC_DROP", "nan"),
    ("PUBLISH_MAX_ALERT_RATE_CHANGE", "inf"), ("PUBLISH_MAX_ALERT_RATE_CHANGE", "-1"),
])
def test_bad_margins_name_their_variable(name, raw):
    with pytest.raises(ValueError, match=f"LEPTON_{name}="):
        Settings.from_env({f"LEPTON_{name}": raw})


def test_margins_from_the_environment():
    s = Settings.from_env({"LEPTON_PUBLISH_MAX_AP_DROP": "0.05", "LEPTON_PUBLISH_MAX_ALERT_RATE_CHANGE": "2"})
    assert Margins.of(s) == Margins(0.05, 2.0, 0.02)
    assert Margins.of(Settings()) == M


def test_the_held_out_world_is_built_once_then_read_from_the_home(tmp_path, monkeypatch):
    first = gate.held_out(tmp_path)
    assert first.fraud_y.sum() > 100 and 0.002 < first.base_rate < 0.05  # the handbook's ~0.8% frauds
    assert len(first.credit_y) > 1000 and first.credit_x.shape[1] == len(gate.CREDIT_FEATURES)

    def no_build(key):
        raise AssertionError("built again instead of read from the cache")

    monkeypatch.setattr(gate, "build_held_out", no_build)
    again = gate.held_out(tmp_path)
    assert again.key == first.key
    np.testing.assert_array_equal(again.fraud_x, first.fraud_x)
    np.testing.assert_array_equal(again.credit_y, first.credit_y)

    # A cache file cut short is built again, not a crash.
    cache = tmp_path / "publish" / f"held-out-{first.key}.npz"
    cache.write_bytes(cache.read_bytes()[:1000])
    small = gate.HeldOut(first.key, first.fraud_x[:10], first.fraud_y[:10], first.credit_x[:10], first.credit_y[:10])
    monkeypatch.setattr(gate, "build_held_out", lambda key: small)
    assert len(gate.held_out(tmp_path).fraud_y) == 10 and len(gate.held_out(tmp_path).fraud_y) == 10

    # Answers outside [0, 1] on real features are never publishable.
    over = constant_model(tmp_path / "over.onnx", len(gate.FRAUD_FEATURES), "fraud_score", 1.5)
    with pytest.raises(gate.Unscorable, match="outside \\[0, 1\\]"):
        gate.score(over, first.fraud_x)


def test_the_gate_runs_without_torch():
    # The job environment has no torch: the gate must not pull it in through training code.
    code = ("import sys; import lepton_stream.models.repository, lepton_stream.models.gate; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
