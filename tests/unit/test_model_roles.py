"""Champion and challenger: the roles and their transitions, the file every worker
follows, the version policy written for Triton, the score record's challenger fields,
and the live comparison on known scores and labels."""

import json
import math
import os
import shutil

import numpy as np
import pytest

from lepton_stream.config import Settings
from lepton_stream.models import roles as r
from lepton_stream.models.compare import ComparisonWindow
from lepton_stream.pipeline.batch import Batch, RawRecord
from lepton_stream.pipeline.stages import RouteStage
from lepton_stream.schemas import Transaction
from lepton_stream.scoring.base import Scores
from lepton_stream.training.metrics import average_precision, roc_auc

REPO = Settings().endpoints.model_repo


def test_promote_swaps_and_rollback_swaps_back():
    roles = r.Roles(2).with_challenger(3)
    assert roles == r.Roles(2, 3) and roles.serving() == [2, 3]
    promoted = roles.promoted()
    assert promoted == r.Roles(3, 2, promoted_from=2)
    assert promoted.rolled_back() == r.Roles(2, 3)
    with pytest.raises(r.RolesError, match="nothing to roll back"):
        promoted.rolled_back().rolled_back()
    with pytest.raises(r.RolesError, match="no challenger to promote"):
        r.Roles(2).promoted()
    # A new challenger after a promote: the one rolled back to would be unloaded.
    assert promoted.with_challenger(4) == r.Roles(3, 4)
    assert promoted.without_challenger().serving() == [3]


@pytest.mark.parametrize(("text", "error"), [
    ("{", "not JSON"), ("{}", "'champion' must be a version number"),
    ('{"champion": 2, "challenger": "3"}', "'challenger' must be"), ('{"champion": true}', "'champion' must be"),
])
def test_a_bad_roles_file_is_refused(text, error):
    with pytest.raises(r.RolesError, match=error):
        r.parse_roles(text)


@pytest.fixture
def repo(tmp_path):
    return shutil.copytree(REPO, tmp_path / "model_repo")


def test_workers_follow_the_file_and_keep_the_last_good_roles(repo):
    follow = r.RolesFile(repo)
    assert follow.current() is None  # no file: the newest version serves alone
    r.write_roles(repo, r.Roles(2, 3))
    assert follow.current() == r.Roles(2, 3)
    r.write_roles(repo, r.Roles(3, 2, 2))
    assert follow.current() == r.Roles(3, 2, 2)
    r.path_of(repo).write_text("{not json")
    os.utime(r.path_of(repo), ns=(1, 1))
    assert follow.current() == r.Roles(3, 2, 2)  # a broken file never stops scoring
    r.path_of(repo).unlink()
    assert follow.current() is None


def test_the_version_policy_is_written_into_every_config_and_restored(repo):
    files = r.policy_files(repo)
    assert {p.name for p in files} == {"config.pbtxt", "cpu.pbtxt"}
    before = r.write_policy(repo, [2, 3])
    for p in files:
        text = p.read_text()
        assert "version_policy: { specific: { versions: [ 2, 3 ] } }" in text
        assert text.count("version_policy") == 1 and "latest" not in text
    r.restore_policy(before)
    assert all(p.read_text() == (REPO / "fraud_scorer" / p.relative_to(repo / "fraud_scorer")).read_text()
               for p in files)


def _tx(i):
    return Transaction(f"t{i}", f"card{i}", "cust", "term", "m", "5411", 10.0 + i, 1000 + i, "EUR",
                       1_700_000_000_000 + i, "pos", 1.0, 2.0)


def test_a_score_names_the_challenger_and_alerts_follow_the_champion_only():
    s = Settings()
    b = Batch([RawRecord(b"k", b"{}", s.topics.transactions, 0, i) for i in range(3)])
    b.valid, b.valid_origin = [_tx(i) for i in range(3)], [0, 1, 2]
    b.fraud_features = np.zeros((3, 21), np.float32)
    b.scores = Scores(np.array([0.9, 0.1, 0.2], np.float32), np.full(3, 0.1, np.float32), "2", "2",
                      np.array([0.1, 0.95, np.nan], np.float32), "3")
    out = RouteStage(s, lambda v: (np.zeros(21, np.float32), np.ones(21, np.float32)))(b).out
    scores = [json.loads(o.value) for o in out if o.topic == s.topics.scores]
    alerts = [json.loads(o.value) for o in out if o.topic == s.topics.risk_alerts]
    assert [(x["challenger_fraud_score"], x["challenger_model_version"]) for x in scores] == [
        (pytest.approx(0.1), "3"), (pytest.approx(0.95), "3"), (None, "3")]  # not a probability: null
    assert [a["tx_id"] for a in alerts] == ["t0"]
    b.scores = Scores(b.scores.fraud, b.scores.credit, "2", "2")  # no challenger
    b.out = []
    first = json.loads(RouteStage(s, lambda v: (np.zeros(21), np.ones(21)))(b).out[0].value)
    assert (first["challenger_fraud_score"], first["challenger_model_version"]) == (None, "")


H = 3_600_000


def _window(maturity_h=1.0, window_h=2.0):
    return ComparisonWindow(int(window_h * H), int(maturity_h * H), threshold=0.5, max_events=1000)


def _score(i, ts, champ, chal, versions=("2", "3")):
    return {"tx_id": f"t{i}", "event_ts": ts, "fraud_score": champ, "fraud_model_version": versions[0],
            "challenger_fraud_score": chal, "challenger_model_version": versions[1]}


def test_the_comparison_counts_labelled_events_only_past_the_maturity_point():
    w = _window()
    rng = np.random.default_rng(3)
    champ, chal = rng.random(40), rng.random(40)
    fraud = np.zeros(40, bool)
    fraud[[1, 5, 12, 30]] = True
    for i in range(40):  # one event every 6 minutes: 4 h of event time
        w.add_score(_score(i, i * H // 10, float(champ[i]), float(chal[i])))
    for i in np.flatnonzero(fraud):
        w.add_label(f"t{i}")
    w.add_score({"tx_id": "x", "event_ts": 0, "fraud_score": 0.9, "fraud_model_version": "2",
                 "challenger_fraud_score": None, "challenger_model_version": ""})  # no challenger: not counted
    c = w.comparison()
    newest = 39 * H // 10
    ts = np.arange(40) * H // 10
    labelled = (ts > newest - 3 * H) & (ts <= newest - H)  # the window before the maturity point
    recent = ts > newest - 2 * H
    assert (c.labelled, c.frauds) == (labelled.sum(), fraud[labelled].sum()) == (20, 1)
    assert c.champion is not None and c.challenger is not None
    assert c.champion.average_precision == average_precision(fraud[labelled], champ[labelled])
    assert c.challenger.auc_roc == roc_auc(fraud[labelled], chal[labelled])
    assert c.events == recent.sum()
    assert c.champion.alert_rate == (champ[recent] >= 0.5).mean()
    assert c.agreement == ((champ[recent] >= 0.5) == (chal[recent] >= 0.5)).mean()
    assert "AP" in c.lines()[1] and c.lines()[1].startswith("champion   fraud_scorer:2")


def test_a_promote_keeps_the_pair_and_a_label_may_come_first():
    w = _window(maturity_h=0.0)
    w.add_label("t0")  # read before its score (the topics are read one after the other)
    w.add_score(_score(0, 0, 0.9, 0.2))
    w.add_score(_score(1, 10, 0.1, 0.8))
    w.add_score(_score(2, 20, 0.3, 0.4, versions=("3", "2")))  # after a promote: scores by version
    c = w.comparison()
    assert c.champion is not None and c.challenger is not None
    assert (c.champion.version, c.challenger.version) == ("3", "2")
    assert (c.labelled, c.frauds) == (3, 1)
    assert c.challenger.average_precision == 1.0  # version 2 ranks t0 first
    assert c.champion.average_precision == average_precision(np.array([1, 0, 0]), np.array([0.2, 0.8, 0.4]))
    assert c.refusal() is None  # version 2 is champion now... and challenger "2" beats "3": no refusal


def test_promote_is_refused_below_the_champion_or_without_labels():
    w = _window(maturity_h=0.0)
    w.add_score(_score(0, 0, 0.9, 0.2))
    w.add_score(_score(1, 10, 0.1, 0.8))
    c = w.comparison()
    assert c.refusal() is not None and "no average precision" in (c.refusal() or "")
    assert c.champion is not None and math.isnan(c.champion.average_precision)
    w.add_label("t0")
    assert w.comparison().refusal() == "challenger AP 0.5000 below champion AP 1.0000 on the labelled window"
    assert _window().comparison().refusal() == "no score with a challenger in the window to compare"


def test_the_window_keeps_at_most_max_events_and_skips_what_it_cannot_read():
    w = ComparisonWindow(H, 0, 0.5, max_events=3)
    for i in range(5):
        w.add_score(_score(i, i, 0.1, 0.2))
    w.add_record("labels", "labels", b"{not json")
    w.add_record("scores", "labels", b'{"tx_id": 1}')
    w.add_record("labels", "labels", b'{"tx_id": "t4", "is_fraud": true}')
    c = w.comparison()
    assert (c.events, c.frauds) == (3, 1)


def test_each_batch_takes_the_champion_and_challenger_from_one_snapshot_of_the_roles(repo):
    from lepton_stream.scoring.triton_client import TritonScorer

    scorer = TritonScorer("127.0.0.1:1", roles=r.RolesFile(repo).current)  # never called: no request made
    scorer.versions = lambda refresh=False: {"fraud_scorer": "9", "credit_scorer": "4"}  # newest ready
    assert scorer.plan() == ({"fraud_scorer": "9", "credit_scorer": "4"}, "")
    r.write_roles(repo, r.Roles(2, 3))
    assert scorer.plan() == ({"fraud_scorer": "2", "credit_scorer": "4"}, "3")
    r.write_roles(repo, r.Roles(2, 3).promoted())
    assert scorer.plan() == ({"fraud_scorer": "3", "credit_scorer": "4"}, "2")
    scorer.close()


def test_a_failing_challenger_never_holds_the_champions_scores_back():
    from lepton_stream.scoring.triton_client import TritonScorer

    class Answer:
        def __init__(self, n: int) -> None:
            self.n = n

        def as_numpy(self, output: str) -> np.ndarray:
            return np.full((self.n, 1), 0.5, np.float32)

    scorer = TritonScorer("127.0.0.1:1")  # its client is replaced: no request leaves
    failing = {"2": RuntimeError("version 2 unloaded")}

    def infer(key, model, output, x, version, done):  # noqa: ANN001 (the signature of _infer)
        error = failing.get(version) if key == "challenger" else None
        done.put((key, output, None if error else Answer(len(x)), error))

    scorer._infer = infer  # type: ignore[method-assign]
    fx, cx = np.ones((3, 21), np.float32), np.ones((3, 9), np.float32)
    out = scorer._score_all(fx, cx, {"fraud_scorer": "3", "credit_scorer": "4"}, "2")
    assert out.fraud.tolist() == [0.5] * 3 and out.fraud_version == "3"
    assert out.challenger is not None and np.isnan(out.challenger).all() and out.challenger_version == "2"
    scorer.close()
