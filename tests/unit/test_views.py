"""The on-call views' pure parts: alert filters and the pipeline summary."""

from lepton_stream.views.alerts import AlertFilter, FirstSightings, alerts_table
from lepton_stream.views.status import summarise


def test_alert_filter():
    a = {"severity": "high", "card_id": "c1", "terminal_id": "t1"}
    assert AlertFilter().matches(a)
    assert AlertFilter(frozenset({"high", "medium"})).matches(a)
    assert not AlertFilter(frozenset({"low"})).matches(a)
    assert AlertFilter(card="c1", terminal="t1").matches(a)
    assert not AlertFilter(card="c2").matches(a) and not AlertFilter(terminal="t2").matches(a)
    assert alerts_table([a], "t").row_count == 1


def test_summary_keeps_each_tasks_latest_record_and_adds_them_up():
    recs = [
        {"task_id": "a", "window_start": 0, "window_end": 5000, "events_in": 500, "alerts": 5,
         "latency_ms": {"p99": 300.0}, "lag": {"transactions/0": 9}},
        {"task_id": "a", "window_start": 5000, "window_end": 10000, "events_in": 1000, "alerts": 10,
         "latency_ms": {"p99": 200.0}, "lag": {"transactions/0": 4}},
        {"task_id": "b", "window_start": 0, "window_end": 10000, "events_in": 1000, "alerts": 0,
         "latency_ms": None, "lag": {"transactions/1": 7}},
    ]
    s = summarise(recs)
    assert [t["task_id"] for t in s.tasks] == ["a", "b"]
    assert s.events_per_s == 200 + 100 and s.alerts_per_min == 120
    assert s.p99_ms == 200.0 and s.lag == {"transactions/0": 4, "transactions/1": 7}
    assert summarise([]).p99_ms is None


def test_tail_shows_an_alert_written_again_by_a_replay_once():
    firsts = FirstSightings(capacity=2)
    shown = [firsts.first({"tx_id": t}) for t in ("a", "b", "a", "c", "b", "a")]
    # "a" repeats at once; after "c", "a" is the oldest of three and forgotten, "b" is not.
    assert shown == [True, True, False, True, False, True]


def test_summary_counts_only_current_tasks_and_survives_odd_records():
    now = 1_000_000
    recs = [
        {"task_id": "a", "window_start": now - 5000, "window_end": now - 1000, "events_in": 500, "alerts": 5,
         "latency_ms": {"p99": 30.0}},
        {"task_id": "b", "window_start": now - 65000, "window_end": now - 60000, "events_in": 5000, "alerts": 50,
         "latency_ms": {"p99": 900.0}},
        {"task_id": "c", "window_end": "later", "events_in": 7},  # not a time: left out
        {"task_id": "d", "window_start": now - 2000, "window_end": now, "events_in": "many", "latency_ms": [1]},
    ]
    s = summarise(recs, now_ms=now, stale_after_s=15)
    assert [t["task_id"] for t in s.tasks] == ["a", "b", "d"]
    assert [t["task_id"] for t in s.current] == ["a", "d"]
    assert s.events_per_s == 125 and s.alerts_per_min == 75 and s.p99_ms == 30.0
    assert s.age_s(s.tasks[1]) == 60 and s.last_window_end == now
    # Without a clock every record counts (as before).
    assert summarise(recs).events_per_s == 125 + 1000
