"""The transaction simulator: handbook statistics, scenarios, determinism, credit truth, labels."""

import json

import numpy as np
import pytest

from lepton_stream.schemas import InvalidEvent, Transaction, parse_transaction
from lepton_stream.training.metrics import roc_auc
from producers.load import LoadOptions, build_pool, replay_timeline
from producers.malformed import MALFORMED_KINDS
from producers.simulator import SimulationConfig, simulate
from producers.simulator.events import transaction_bytes
from producers.simulator.labels import DAY_MS, fraud_labels

SMALL = SimulationConfig(n_customers=500, n_terminals=1000, nb_days=30, seed=3)


@pytest.fixture(scope="module")
def handbook():
    return simulate(SimulationConfig())  # the handbook's parameters, ~5 s


def test_handbook_size_statistics(handbook):
    tx = handbook.transactions
    # The handbook's simulation: 1,754,155 transactions, about 0.8% fraudulent.
    assert abs(len(tx) / 1_754_155 - 1) <= 0.05
    assert abs(tx["is_fraud"].mean() / 0.008 - 1) <= 0.05
    assert tx["ts_ms"].is_monotonic_increasing
    assert tx["tx_id"].is_unique


def test_fraud_scenarios_at_their_expected_rates(handbook):
    tx = handbook.transactions
    n = len(tx)
    by = tx["fraud_scenario"].value_counts()
    # 1: amounts over 220, which a mean <= 100 with std mean/2 rarely reaches.
    assert (tx.loc[tx["fraud_scenario"] == 1, "amount"] > 220).all()
    assert 0.0003 < by[1] / n < 0.0008
    # 2: ~2 terminals/day x 28 days of 10,000 compromised at a time -> ~0.56% of traffic (less while ramping up).
    assert by[2] / n == pytest.approx(2 * 28 / 10_000 * (1 - 28 / 2 / 183), rel=0.15)
    # 3: ~3 customers/day x 14 days of 5,000, a third of their transactions.
    assert by[3] / n == pytest.approx(3 * 14 / 5_000 / 3 * (1 - 14 / 2 / 183), rel=0.15)
    # Every transaction of a compromised terminal within its 28 days is a fraud; terminals are not all bad.
    assert tx.loc[tx["fraud_scenario"] == 2, "terminal_idx"].nunique() < 2 * 183 + 1


def test_deterministic_by_seed():
    a, b = simulate(SMALL).transactions, simulate(SMALL).transactions
    assert a.equals(b)
    c = simulate(SimulationConfig(**{**SMALL.__dict__, "seed": 4})).transactions
    assert not a["amount"].equals(c["amount"])


def test_compromises_are_the_ground_truth_of_scenario_2(handbook):
    tx, comp = handbook.transactions, handbook.compromises
    # 2 terminals a day, a terminal drawn again while compromised making one longer compromise
    assert len(comp) <= 2 * handbook.config.nb_days and (comp["end_ms"] - comp["start_ms"] >= 28 * DAY_MS).all()
    comp = comp.sort_values(["terminal_id", "start_ms"])
    same = comp["terminal_id"].to_numpy()[1:] == comp["terminal_id"].to_numpy()[:-1]
    assert (comp["start_ms"].to_numpy()[1:][same] > comp["end_ms"].to_numpy()[:-1][same]).all()  # disjoint
    # Every transaction inside a compromise of its terminal is a fraud; every scenario-2 fraud is inside one.
    m = tx[["terminal_id", "ts_ms", "is_fraud", "fraud_scenario"]].reset_index().merge(comp, on="terminal_id")
    inside = m[(m["ts_ms"] >= m["start_ms"]) & (m["ts_ms"] < m["end_ms"])]
    assert inside["index"].is_unique and (inside["is_fraud"] == 1).all()
    assert set(inside["index"]) >= set(tx.index[tx["fraud_scenario"] == 2])
    assert inside["fraud_scenario"].isin([2, 3]).all()  # 3: a leaked card's fraud there, marked last


def test_events_are_valid_transaction_v1():
    sim = simulate(SMALL)
    values = transaction_bytes(sim.transactions.head(3000))
    parsed = [parse_transaction(v) for v in values]
    assert all(isinstance(p, Transaction) for p in parsed)
    first = json.loads(values[0])
    assert first["schema_version"] == 1 and first["card_id"].startswith("card_")
    assert {p.channel for p in parsed} == {"pos", "ecom", "atm"}


def test_credit_ground_truth_is_informative_and_plausible(handbook):
    c = handbook.customers
    assert c["pd_true"].between(0, 1).all()
    assert 0.03 < c["defaulted"].mean() < 0.2
    assert c["defaulted"].mean() == pytest.approx(c["pd_true"].mean(), abs=0.015)
    assert roc_auc(c["defaulted"].to_numpy(), c["pd_true"].to_numpy()) > 0.75
    # Riskier by construction: more utilisation, more missed payments.
    assert np.corrcoef(c["utilisation"].clip(upper=1.5), c["pd_true"])[0, 1] > 0.2
    assert np.corrcoef(c["missed_payments_12m"], c["pd_true"])[0, 1] > 0.2


def test_labels_arrive_after_the_configured_delay_for_the_configured_share():
    tx = simulate(SMALL).transactions
    labels = fraud_labels(tx, delay_days=7, share=1.0)
    frauds = tx[tx["is_fraud"] == 1].set_index("tx_id")
    assert len(labels) == len(frauds)
    assert (labels["labelled_at"].to_numpy() - frauds.loc[labels["tx_id"], "ts_ms"].to_numpy() == 7 * DAY_MS).all()
    half = fraud_labels(tx, delay_days=2.5, share=0.5, rng=np.random.default_rng(1))
    assert len(half) == pytest.approx(len(frauds) / 2, rel=0.2)
    assert half["labelled_at"].is_monotonic_increasing


def test_replay_timeline_never_puts_a_label_before_its_transaction():
    tx_ts = np.array([0, 10, 20, 30])
    label_ts = np.array([10, 35])  # one label at the same instant as a transaction
    times, is_label = replay_timeline(tx_ts, label_ts)
    assert times.tolist() == [0, 10, 10, 20, 30, 35]
    assert is_label.tolist() == [False, False, True, False, False, True]


def test_load_pool_malformed_events_are_rejected_for_their_reason():
    opts = LoadOptions(cards=300, days=2, malformed_share=0.1, hot_cards=3, hot_share=0.5, fraud_share=0.2)
    pool = build_pool(opts, 5000)
    codes = set()
    for k in range(len(pool.bodies)):
        if pool.is_malformed[k]:
            result = parse_transaction(pool.bodies[k])
            assert isinstance(result, InvalidEvent)
            codes.add(result.code)
        else:
            value = b'{"tx_id":"t-%d","ts":%d%s' % (k, 1_700_000_000_000, pool.bodies[k])
            assert isinstance(parse_transaction(value), Transaction)
    assert codes == set(MALFORMED_KINDS.values())
    assert pool.is_malformed.mean() == pytest.approx(0.1, abs=0.02)
    hot = sum(key.startswith(b"card_hot") for key in pool.keys) / len(pool.keys)
    assert hot == pytest.approx(0.5, abs=0.03)
    assert pool.frame["is_fraud"].mean() == pytest.approx(0.2, abs=0.01)


def test_load_pool_id_prefix_makes_every_card_customer_and_terminal_new():
    plain = build_pool(LoadOptions(cards=200, days=1, hot_cards=2, hot_share=0.3), 2000)
    fresh = build_pool(LoadOptions(cards=200, days=1, hot_cards=2, hot_share=0.3, id_prefix="run7_"), 2000)
    assert all(key.startswith(b"run7_") for key in fresh.keys)
    assert [key.removeprefix(b"run7_") for key in fresh.keys] == plain.keys  # the same world, renamed
    for k in range(0, len(fresh.bodies), 97):
        tx = parse_transaction(b'{"tx_id":"t-%d","ts":%d%s' % (k, 1_700_000_000_000, fresh.bodies[k]))
        assert isinstance(tx, Transaction)
        assert tx.card_id.startswith("run7_") and tx.customer_id.startswith("run7_")
        assert tx.terminal_id.startswith("run7_") and not tx.merchant_id.startswith("run7_")
