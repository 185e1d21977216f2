"""`rules backtest` on in-process history: the counts against ones computed directly
from the events, invalid and repeated transactions, unscored ones, suppress rules,
labels counting from their arrival, the history before the period, the CLI's refusals."""

from __future__ import annotations

import json

import pytest

from lepton_stream import cli
from lepton_stream.config import Settings
from lepton_stream.features.definitions import DAY_MS, HOUR_MS
from lepton_stream.rules import backtest as bt
from lepton_stream.rules.backtest import History, Record, backtest
from lepton_stream.rules.model import Rule
from producers.simple import SimpleGenerator

S = Settings.from_env()
T0 = 1_700_000_000_000


def _rule(condition: str, action: str = "alert") -> Rule:
    return Rule("r", 3, "test", "tests", condition, action, "high" if action == "alert" else None)


def _events(n: int = 600, gap_ms: float = 60_000.0, seed: int = 7):
    return list(SimpleGenerator(cards=20, fraud_share=0.1, seed=seed, id_prefix="bt").stream(n, T0, gap_ms))


def _history(events, *, scores: bool = True, label_delay_ms: int = DAY_MS, unscored: set[str] = frozenset()):
    h = History()
    for i, ev in enumerate(events):
        e = ev.event
        h.transactions.append(Record(e["ts"], 0, i, e["card_id"].encode(), json.dumps(e).encode()))
        if ev.is_fraud:
            label = {"tx_id": e["tx_id"], "card_id": e["card_id"], "terminal_id": e["terminal_id"], "is_fraud": True,
                     "labelled_at": e["ts"] + label_delay_ms}
            h.labels.append(Record(e["ts"] + label_delay_ms, 0, i, None, json.dumps(label).encode()))
        if scores and e["tx_id"] not in unscored:
            score = {"tx_id": e["tx_id"], "card_id": e["card_id"], "fraud_score": _score(i), "credit_score": 0.2}
            h.scores.append(Record(e["ts"] + 5, 0, i, None, json.dumps(score).encode()))
    h.labels.sort(key=lambda r: r.timestamp_ms)
    return h


def _score(i: int) -> float:
    return 0.95 if i % 4 == 0 else 0.1


def _end(events) -> int:
    return events[-1].event["ts"] + 1


def test_a_simple_condition_counts_what_the_events_say():
    events = _events()
    report = backtest(S, _rule('channel == "ecom" && amount > 60'), _history(events), T0, _end(events))
    hit = [i for i, ev in enumerate(events) if ev.event["channel"] == "ecom" and ev.event["amount"] > 60]
    frauds = [i for i, ev in enumerate(events) if ev.is_fraud]
    caught = [i for i in hit if events[i].is_fraud]
    assert len(hit) > 10 and 0 < len(caught) < len(frauds)
    assert (report.transactions, report.matched, report.matches) == (len(events), len(hit), len(hit))
    assert (report.known_frauds, report.caught) == (len(frauds), len(caught))
    assert report.precision == round(len(caught) / len(hit), 4)
    assert report.recall == round(len(caught) / len(frauds), 4)
    assert report.model_alerted == sum(1 for i in hit if _score(i) >= S.models.alert_threshold)
    assert (report.invalid, report.duplicates, report.unscored, report.not_evaluated, report.late) == (0, 0, 0, 0, 0)
    assert report.events_read == len(events) * 2 + len(frauds)
    # No card or customer id in what it prints.
    text = report.human() + json.dumps(report.to_dict())
    assert not any(ev.event["card_id"] in text or ev.event["customer_id"] in text for ev in events)
    assert "precision" in text and f"{report.precision:.1%}" in report.human()


def test_features_see_the_history_before_the_period_and_only_it_is_counted():
    events = _events(n=600, gap_ms=5 * 60_000.0)  # about two days
    since = T0 + 26 * HOUR_MS
    report = backtest(S, _rule("card_nb_tx_1d >= 14"), _history(events), since, _end(events))
    period = [ev.event for ev in events if ev.event["ts"] >= since]
    want = 0
    for e in period:  # the definition: the card's events in the hour buckets (b - 24, b], this one included
        b = e["ts"] // HOUR_MS
        n = sum(1 for x in events if x.event["card_id"] == e["card_id"] and b - 24 < x.event["ts"] // HOUR_MS <= b
                and x.event["ts"] <= e["ts"])
        want += n >= 14
    assert report.transactions == len(period) < len(events)
    assert 0 < report.matched == want < len(period)
    assert report.known_frauds == sum(1 for ev in events if ev.is_fraud and ev.event["ts"] >= since)


def test_invalid_and_repeated_transactions_are_skipped_and_counted():
    events = _events(n=50)
    h = _history(events)
    first = events[10].event
    before = Record(T0 - 1000, 0, 900, None, b"{broken")  # before the period: not counted
    h.transactions = [before, *h.transactions,
                      Record(first["ts"] + 1, 1, 0, None, b"\xff\xfe not json"),
                      Record(first["ts"] + 2, 1, 1, None, json.dumps(first).encode()),  # a producer's retry
                      Record(first["ts"] + 3, 1, 2, None, json.dumps({**first, "amount": 1.5}).encode()),  # conflict
                      Record(first["ts"] + 4, 1, 3, None, json.dumps({**first, "tx_id": "x", "amount": -1}).encode())]
    h.transactions.sort(key=lambda r: r.timestamp_ms)
    report = backtest(S, _rule("amount > 0"), h, T0, _end(events))
    assert (report.transactions, report.matched) == (50, 50)
    assert (report.invalid, report.duplicates) == (3, 1)


def test_a_rule_reading_a_score_skips_unscored_transactions_and_one_that_does_not_evaluates_them():
    events = _events(n=80)
    missing = {ev.event["tx_id"] for ev in events[:20]}
    h = _history(events, unscored=missing)
    by_score = backtest(S, _rule("fraud_score >= 0 && amount > 0"), h, T0, _end(events))
    assert (by_score.unscored, by_score.not_evaluated, by_score.matched) == (20, 20, 60)
    by_amount = backtest(S, _rule("amount > 0"), h, T0, _end(events))
    assert (by_amount.unscored, by_amount.not_evaluated, by_amount.matched) == (20, 0, 80)
    assert "20 of them not evaluated" in by_score.human()


def test_a_suppress_rule_counts_the_model_alerts_it_would_suppress():
    events = _events()
    report = backtest(S, _rule('channel == "pos"', "suppress"), _history(events), T0, _end(events))
    pos = [i for i, ev in enumerate(events) if ev.event["channel"] == "pos"]
    alerted = [i for i in pos if _score(i) >= S.models.alert_threshold]
    assert report.matched == len(pos) and report.matches == report.model_alerted == len(alerted) > 0
    assert report.caught == sum(1 for i in alerted if events[i].is_fraud)
    assert "suppressed" in report.human() and "would go unalerted" in report.human()


def test_a_label_counts_in_terminal_risk_from_its_arrival_on():
    def tx(i: int, ts: int) -> dict:
        return {"tx_id": f"t{i}", "card_id": f"card_{i}", "customer_id": "c", "terminal_id": "term", "merchant_id": "m",
                "mcc": "5411", "amount": 10.0, "currency": "EUR", "ts": ts, "channel": "pos", "x": 1.0, "y": 1.0,
                "schema_version": 1}

    txs = [tx(0, T0), tx(1, T0 + 8 * DAY_MS), tx(2, T0 + 9 * DAY_MS)]
    h = History(transactions=[Record(t["ts"], 0, i, None, json.dumps(t).encode()) for i, t in enumerate(txs)])
    label = {"tx_id": "t0", "card_id": "card_0", "terminal_id": "term", "is_fraud": True, "labelled_at": 0}
    h.labels = [Record(T0 + 8 * DAY_MS + HOUR_MS, 0, 0, None, json.dumps(label).encode())]  # after t1, before t2
    report = backtest(S, _rule("terminal_risk_30d > 0"), h, T0 + DAY_MS, T0 + 10 * DAY_MS)
    assert (report.transactions, report.matched, report.known_frauds) == (2, 1, 0)
    early = History(h.transactions, [Record(T0 + DAY_MS, 0, 0, None, json.dumps(label).encode())])
    assert backtest(S, _rule("terminal_risk_30d > 0"), early, T0 + DAY_MS, T0 + 10 * DAY_MS).matched == 2
    elsewhere = History(h.transactions, [Record(T0 + DAY_MS, 0, 0, None, json.dumps({**label, "terminal_id": "t9"})
                                                .encode())])  # the store files it under another terminal
    assert backtest(S, _rule("terminal_risk_30d > 0"), elsewhere, T0 + DAY_MS, T0 + 10 * DAY_MS).matched == 0


def test_an_empty_period_reports_zeros():
    report = backtest(S, _rule("amount > 0"), History(), T0, T0 + 1)
    assert (report.transactions, report.matches, report.precision, report.recall) == (0, 0, None, None)
    assert "n/a" in report.human()


def test_the_cli_refuses_a_bad_rule_or_period_in_one_line_before_reading_anything(tmp_path, monkeypatch, capsys):
    def never(*_a, **_k):
        raise AssertionError("read Kafka for a refused rule")

    monkeypatch.setattr(bt, "run", never)
    bad = tmp_path / "bad.yaml"
    bad.write_text('id: bad\nversion: 1\ndescription: ""\nowner: me\ncondition: amount > "x"\naction: alert\n'
                   'severity: high\n')
    assert cli.main(["rules", "backtest", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "compares numbers" in err and err.startswith("lepton-stream rules backtest:")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"id": "u", "version": 1, "description": "", "owner": "me", "action": "alert",
                                   "severity": "high", "condition": "amont > 5"}))
    assert cli.main(["rules", "backtest", str(unknown)]) == 2
    assert "amont" in capsys.readouterr().err
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"id": "g", "version": 1, "description": "", "owner": "me", "action": "alert",
                                "severity": "high", "condition": "amount > 5"}))
    assert cli.main(["rules", "backtest", str(good), "--since", "seven days"]) == 2
    assert "--since" in capsys.readouterr().err


def test_the_cli_prints_the_report_as_json(tmp_path, monkeypatch, capsys):
    events = _events(n=40)
    seen = {}

    def fake_run(s, rule, since_ms, progress=None):
        seen.update(since=since_ms, progress=progress)
        return backtest(s, rule, _history(events), T0, _end(events))

    monkeypatch.setattr(bt, "run", fake_run)
    good = tmp_path / "good.yaml"
    good.write_text("id: g\nversion: 2\ndescription: ''\nowner: me\ncondition: amount > 5\naction: alert\n"
                    "severity: low\nenabled: false\n")  # a disabled rule is backtested all the same
    assert cli.main(["rules", "backtest", str(good), "--from", str(T0), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["rule_id"], out["version"], out["transactions"]) == ("g", 2, 40)
    assert out["matched"] == sum(1 for ev in events if ev.event["amount"] > 5)
    assert seen == {"since": T0, "progress": None}


@pytest.mark.parametrize("since", ["7d", "12h"])
def test_the_period_is_the_last_since(since, monkeypatch, tmp_path, capsys):
    seen = {}
    monkeypatch.setattr(bt, "run", lambda s, rule, since_ms, progress=None: seen.setdefault("since", since_ms) and
                        backtest(s, rule, History(), since_ms, since_ms + 1))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"id": "g", "version": 1, "description": "", "owner": "me", "action": "alert",
                                "severity": "high", "condition": "amount > 5"}))
    import time

    now = time.time_ns() // 1_000_000
    assert cli.main(["rules", "backtest", str(good), "--since", since]) == 0
    want = {"7d": 7 * DAY_MS, "12h": 12 * HOUR_MS}[since]
    assert abs(now - seen["since"] - want) < 60_000
    assert "backtest of rule g v1" in capsys.readouterr().out


def test_a_late_transaction_is_counted_and_replayed_as_if_in_time():
    events = _events(n=60, gap_ms=10 * 60_000.0)
    h = _history(events)
    late = json.loads(h.transactions[5].value or b"")
    # It arrives three hours after it happened, after later transactions of its card.
    h.transactions[5] = Record(late["ts"] + 3 * HOUR_MS, 0, 5, None, json.dumps(late).encode())
    h.transactions.sort(key=lambda r: r.timestamp_ms)
    later_of_card = [ev for ev in events if ev.event["card_id"] == late["card_id"]
                     and late["ts"] < ev.event["ts"] <= late["ts"] + 3 * HOUR_MS]
    assert later_of_card
    report = backtest(S, _rule("card_nb_tx_7d >= 1"), h, T0, _end(events) + 3 * HOUR_MS)
    assert (report.transactions, report.matched, report.late) == (60, 60, 1)


def test_the_cli_says_in_one_line_when_kafka_cannot_be_read(tmp_path, monkeypatch, capsys):
    from confluent_kafka import KafkaError, KafkaException

    def away(*_a, **_k):
        raise KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata"))

    monkeypatch.setattr(bt, "run", away)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"id": "g", "version": 1, "description": "", "owner": "me", "action": "alert",
                                "severity": "high", "condition": "amount > 5"}))
    assert cli.main(["rules", "backtest", str(good)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot read" in err and "Failed to get metadata" in err
