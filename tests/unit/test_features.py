import numpy as np
import pandas as pd
import pytest

from lepton_stream.features.aggregates import Aggregates
from lepton_stream.features.definitions import CARD_WINDOWS, FRAUD_FEATURES, NO_PREVIOUS_S, TERMINAL_WINDOWS
from lepton_stream.features.fraud_vector import fraud_feature_matrix
from lepton_stream.features.offline import offline_aggregates

H, D = 3_600_000, 86_400_000
T0 = 1_530_403_200_000  # 2018-07-01 00:00 UTC, a Sunday


def _tx(rows):
    df = pd.DataFrame(rows, columns=["tx_id", "card_id", "terminal_id", "ts_ms", "amount_cents", "x", "y"])
    return df


def test_card_windows_count_the_event_and_earlier_arrivals_within_whole_days():
    df = _tx([("a", "c1", "t", T0, 100, 0, 0), ("b", "c1", "t", T0 + 23 * H, 200, 3, 4),
              ("c", "c1", "t", T0 + 24 * H, 400, 3, 4), ("d", "c2", "t", T0 + 24 * H, 800, 9, 9),
              ("e", "c1", "t", T0 + 31 * D, 1600, 0, 0)])
    agg = offline_aggregates(df)
    # 1-day window of "c" = buckets (b-24, b]: "a" (24 hours earlier) has left it.
    assert agg.card_count.tolist() == [[1, 1, 1], [2, 2, 2], [2, 3, 3], [1, 1, 1], [1, 1, 1]]
    assert agg.card_sum_cents[2].tolist() == [600, 700, 700]
    assert np.isnan(agg.prev_ts_ms[0]) and agg.prev_ts_ms[1] == T0 and agg.prev_x[2] == 3
    assert np.isnan(agg.prev_ts_ms[3])  # c2's first transaction


def test_terminal_windows_end_one_hour_bucket_before_the_delay_and_count_labelled_frauds():
    df = _tx([("a", "c1", "t1", T0, 100, 0, 0), ("b", "c2", "t1", T0 + 2 * H, 100, 0, 0),
              ("c", "c3", "t1", T0 + 7 * D + 2 * H, 100, 0, 0), ("d", "c4", "t1", T0 + 7 * D + 3 * H, 100, 0, 0)])
    agg = offline_aggregates(df, fraud_tx_ids={"a", "b"})
    # "c" is 7 days + 2 h after "a": its delayed window ends at the bucket of "a"+1h, so it sees "a" only;
    # "d" (one hour later) sees both.
    assert agg.terminal_count[:, 0].tolist() == [0, 0, 1, 2]
    assert agg.terminal_frauds[:, 0].tolist() == [0, 0, 1, 2]
    assert TERMINAL_WINDOWS.bounds(100_000, 1) == (100_000 - 24 * 8, 100_000 - 24 * 7 - 1)
    assert CARD_WINDOWS.bounds(100_000, 7) == (100_000 - 24 * 7 + 1, 100_000)


def test_offline_needs_time_order():
    df = _tx([("a", "c1", "t", T0 + H, 100, 0, 0), ("b", "c1", "t", T0, 100, 0, 0)])
    with pytest.raises(ValueError, match="time order"):
        offline_aggregates(df)


def test_fraud_features_from_aggregates():
    agg = Aggregates(card_count=np.array([[2, 4, 10]]), card_sum_cents=np.array([[10_000, 14_000, 30_000]]),
                     prev_ts_ms=np.array([T0 + 2 * H - 3_600_000.0]), prev_x=np.array([0.0]), prev_y=np.array([0.0]),
                     terminal_count=np.array([[4, 10, 40]]), terminal_frauds=np.array([[1, 1, 0]]))
    x = fraud_feature_matrix(np.array([60.0]), np.array([T0 + 2 * H]), np.array(["atm"]), np.array([3.0]),
                             np.array([4.0]), agg)
    f = dict(zip(FRAUD_FEATURES, x[0], strict=True))
    assert (f["tx_during_weekend"], f["tx_during_night"]) == (1.0, 1.0)  # Sunday, 02:00
    assert (f["card_nb_tx_1d"], f["card_avg_amount_1d"], f["card_avg_amount_30d"]) == (2, 50.0, 30.0)
    assert (f["terminal_risk_1d"], f["terminal_risk_7d"], f["terminal_risk_30d"]) == (0.25, 0.1, 0.0)
    assert f["log_seconds_since_last_tx"] == pytest.approx(np.log1p(3600))
    assert f["distance_from_last_tx"] == 5.0
    assert f["amount_vs_card_avg_30d"] == 2.0
    assert f["spend_velocity_7d_vs_30d"] == pytest.approx((140 / 7) / (300 / 30))
    assert (f["channel_ecom"], f["channel_atm"]) == (0.0, 1.0)


def test_a_card_never_seen_has_neutral_history_features():
    agg = Aggregates(np.ones((1, 3), np.int64), np.full((1, 3), 500, np.int64), np.array([np.nan]),
                     np.array([np.nan]), np.array([np.nan]), np.zeros((1, 3), np.int64), np.zeros((1, 3), np.int64))
    f = dict(zip(FRAUD_FEATURES, fraud_feature_matrix(np.array([5.0]), np.array([T0]), np.array(["pos"]),
                                                       np.array([1.0]), np.array([1.0]), agg)[0], strict=True))
    assert f["log_seconds_since_last_tx"] == pytest.approx(np.log1p(NO_PREVIOUS_S))
    assert f["distance_from_last_tx"] == 0.0 and f["terminal_risk_30d"] == 0.0


def test_a_label_counts_for_the_events_that_arrive_after_it_as_in_the_store():
    """offline_aggregates with label arrivals against the naive definition the store's
    tests use: labels interleaved with an in-order stream, some of them days late."""
    from lepton_stream.feature_store.base import LabelFacts, TxFacts
    from tests.integration.feature_cases import _naive

    rng = np.random.default_rng(3)
    n = 800
    ts = T0 + np.sort(rng.integers(0, 40 * D, n))
    txs = [TxFacts(f"x{i}", f"c{rng.integers(4)}", f"t{rng.integers(2)}", int(ts[i]), int(rng.integers(1, 9999)),
                   0.0, 0.0) for i in range(n)]
    arrival = {t.tx_id: 2 * k for k, t in enumerate(txs)}  # the stream's order is the clock
    label_at: dict[str, int] = {}
    after: dict[int, list[LabelFacts]] = {}  # labels arriving after the transaction at this position
    for i in rng.choice(n, 120, replace=False).tolist():
        k = int(min(i + rng.integers(0, 400), n - 1))  # just after its transaction, or up to ~20 days later
        after.setdefault(k, []).append(LabelFacts(txs[i].tx_id, txs[i].terminal_id))
        label_at[txs[i].tx_id] = 2 * k + 1
    events: list[tuple[str, object]] = []
    for k, t in enumerate(txs):
        events += [("tx", t), *(("label", label) for label in after.get(k, []))]
    want = _naive(events)
    df = _tx([(t.tx_id, t.card_id, t.terminal_id, t.ts_ms, t.amount_cents, 0.0, 0.0) for t in txs])
    df["arrival_ms"] = df["tx_id"].map(arrival)
    agg = offline_aggregates(df, label_arrivals=label_at)
    got = agg.terminal_frauds.tolist()
    assert got == [want[t.tx_id][4] for t in txs]
    assert agg.terminal_count.tolist() == [want[t.tx_id][3] for t in txs]
    # Some labels were late for some events: counting every fraud says more.
    assert (offline_aggregates(df, set(label_at)).terminal_frauds > agg.terminal_frauds).any()
    assert agg.terminal_frauds.sum() > 0
