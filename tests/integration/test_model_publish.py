"""Model lifecycle on the running Triton: a new version is loaded while scoring goes on;
a bad model is refused and the previous version keeps serving; a model that scores
worse than the serving one on the held-out world is refused whatever its report says;
a challenger is added, promoted and rolled back under the running job."""

import json
import re
import shutil
import threading
import time
import urllib.request
import uuid
from dataclasses import asdict

import numpy as np
import pytest

from lepton_stream.cli import main
from lepton_stream.config import Settings
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.kafka.admin import create_topics, wait_topics_ready
from lepton_stream.kafka.clients import producer
from lepton_stream.models import compare, gate
from lepton_stream.models.repository import PublishError, drop_challenger, publish, versions
from lepton_stream.scoring.triton_client import TritonScorer
from lepton_stream.stack.job_process import start_job, stop_job
from lepton_stream.stack.monitor_process import start_monitor, stop_monitor, wait_monitor
from producers.simple import SimpleGenerator
from tests.integration.conftest import assert_exactly_once, read_json
from tests.integration.conftest import publish as publish_events
from tests.integration.test_rules import wait_scored
from tests.onnx_models import constant_model

pytestmark = pytest.mark.integration


def _training_output(stack, folder, fraud_from="fraud_scorer", credit_from="credit_scorer"):
    folder.mkdir()
    for name, source in (("fraud_scorer", fraud_from), ("credit_scorer", credit_from)):
        latest = versions(stack.endpoints.model_repo, source)[-1]
        shutil.copyfile(stack.endpoints.model_repo / source / str(latest) / "model.onnx", folder / f"{name}.onnx")
    (folder / "report.json").write_text(json.dumps({"config": {"note": "test"}}))
    return folder


def _committed_output(folder):
    """The models committed in model_repo/ (their latest versions), as a training output."""
    folder.mkdir()
    committed = Settings().endpoints.model_repo
    for name in ("fraud_scorer", "credit_scorer"):
        latest = versions(committed, name)[-1]
        shutil.copyfile(committed / name / str(latest) / "model.onnx", folder / f"{name}.onnx")
    (folder / "report.json").write_text(json.dumps({"config": {"note": "committed"}}))
    return folder


def _always_zero_claiming_auc_099(folder):
    """The real credit model beside a fraud model that answers 0 for everything, with a
    training report that says it is excellent."""
    out = _committed_output(folder)
    constant_model(out / "fraud_scorer.onnx", len(FRAUD_FEATURES), "fraud_score", 0.0)
    (out / "report.json").write_text(json.dumps({"config": {"note": "always 0"},
                                                 "fraud_mlp": {"auc_roc": 0.99, "average_precision": 0.99}}))
    return out


def _files(repo):
    return sorted(str(p.relative_to(repo)) for p in repo.rglob("*"))


def test_publish_loads_a_new_version_while_scoring_and_refuses_a_bad_one(stack, tmp_path):
    fx = np.ones((64, len(FRAUD_FEATURES)), np.float32)
    cx = np.ones((64, len(CREDIT_FEATURES)), np.float32)
    scorer = TritonScorer(stack.triton_grpc, refresh_s=0.0)
    before = scorer.score(fx, cx)
    seen, errors, stop = set(), [], threading.Event()

    def keep_scoring():
        while not stop.is_set():
            try:
                seen.add(scorer.score(fx, cx).fraud_version)
            except Exception as exc:  # any failure while a version is swapped is a bug
                errors.append(repr(exc))

    worker = threading.Thread(target=keep_scoring)
    worker.start()
    try:
        done = publish(_training_output(stack, tmp_path / "good"), stack)
    finally:
        stop.set()
        worker.join()
    new = str(done.versions["fraud_scorer"])
    assert int(new) == int(before.fraud_version) + 1
    after = scorer.score(fx, cx)
    assert (after.fraud_version, after.credit_version) == (new, str(done.versions["credit_scorer"]))
    assert errors == []
    np.testing.assert_allclose(after.fraud, before.fraud, atol=1e-6)  # same weights, new version
    meta = json.loads((stack.endpoints.model_repo / "fraud_scorer" / new / "metadata.json").read_text())
    assert meta["features"] == list(FRAUD_FEATURES) and meta["version"] == int(new)
    # The same model as the serving one: the gate passes it on equal figures.
    g = meta["metrics"]["publish_gate"]
    assert done.forced_past == [] and g["forced"] is False and g["refusal"] is None
    assert g["serving"] == {"version": int(before.fraud_version), **g["candidate"]}
    assert g["candidate"]["average_precision"] > 0.5 and 0 < g["candidate"]["alert_rate"] < 0.05

    # The credit model's file as the fraud model: 8 inputs where 21 are expected.
    bad = _training_output(stack, tmp_path / "bad", fraud_from="credit_scorer")
    with pytest.raises(PublishError, match=r"expected one input \[batch, 21\]"):
        publish(bad, stack)
    assert str(versions(stack.endpoints.model_repo, "fraud_scorer")[-1]) == new
    assert scorer.score(fx, cx).fraud_version == new


def test_an_always_zero_model_claiming_auc_099_is_refused_and_alerts_go_on(stack, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("lepton_stream.cli._settings", lambda args: stack)
    serving = versions(stack.endpoints.model_repo, "fraud_scorer")[-1]
    world = gate.held_out(stack.endpoints.home)
    # The 40 held-out events the serving model finds riskiest: each one an alert.
    serving_onnx = stack.endpoints.model_repo / "fraud_scorer" / str(serving) / "model.onnx"
    serving_scores = gate.score(serving_onnx, world.fraud_x)
    risky, cx = world.fraud_x[np.argsort(-serving_scores)[:40]], world.credit_x[:40]
    scorer = TritonScorer(stack.triton_grpc, refresh_s=0.0)
    before = scorer.score(risky, cx)
    assert before.fraud_version == str(serving) and (before.fraud >= stack.models.alert_threshold).sum() == 40

    zero = _always_zero_claiming_auc_099(tmp_path / "zero")
    files = _files(stack.endpoints.model_repo)
    assert main(["model", "publish", str(zero)]) == 1
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"lepton-stream model publish: refused: fraud_scorer candidate AP 0\.0\d\d vs serving "
                        r"0\.[5-9]\d\d \(drop 0\.\d{3} > 0\.02 allowed\); alert rate 0\.0000 vs 0\.0\d{3} "
                        r"\(change 100% > 50% allowed\); use --force to publish anyway", err), err
    assert _files(stack.endpoints.model_repo) == files  # nothing written
    after = scorer.score(risky, cx)
    assert after.fraud_version == before.fraud_version
    np.testing.assert_array_equal(after.fraud, before.fraud)

    try:
        assert main(["model", "publish", str(zero), "--force"]) == 0
        out = capsys.readouterr()
        forced = versions(stack.endpoints.model_repo, "fraud_scorer")[-1]
        assert out.err.startswith("lepton-stream model publish: forced past the gate: fraud_scorer candidate AP 0.0")
        assert f"published fraud_scorer version {forced} (forced)" in out.out
        meta = json.loads((stack.endpoints.model_repo / "fraud_scorer" / str(forced) / "metadata.json").read_text())
        g = meta["metrics"]["publish_gate"]
        assert (g["forced"], g["seed"], g["events"]) == (True, gate.HELD_OUT_SEED, len(world.fraud_y))
        assert g["candidate"]["alert_rate"] == 0 and g["candidate"]["recall"] == 0
        assert g["serving"]["version"] == serving and g["serving"]["alert_rate"] > 0
        assert "drop" in g["refusal"]
        assert meta["metrics"]["auc_roc"] == 0.99  # the report's claim, kept beside what the gate found
        now = scorer.score(risky, cx)
        assert now.fraud_version == str(forced) and (now.fraud >= stack.models.alert_threshold).sum() == 0
    finally:
        # The committed model, re-published as a candidate against the always-0 one:
        # it passes the gate, and serves the rest of the session.
        done = publish(_committed_output(tmp_path / "restore"), stack)
    assert done.forced_past == []
    restored = scorer.score(risky, cx)
    assert restored.fraud_version == str(done.versions["fraud_scorer"])
    np.testing.assert_allclose(restored.fraud, before.fraud, atol=1e-6)


def test_with_nothing_serving_the_gate_judges_the_candidate_on_its_own(stack, tmp_path):
    repo = tmp_path / "model_repo"
    for name in ("fraud_scorer", "credit_scorer"):
        (repo / name).mkdir(parents=True)
    s = stack.replace(model_repo=repo)
    with pytest.raises(PublishError, match=r"^fraud_scorer candidate AP 0\.0\d\d not above the base rate 0\.0\d\d "
                       r"by more than 0\.02; alert rate 0\.0000 \(alerts on nothing\) \(no serving version\); "
                       r"use --force to publish anyway$"):
        publish(_always_zero_claiming_auc_099(tmp_path / "zero"), s, load=False)
    assert _files(repo) == ["credit_scorer", "fraud_scorer"]

    done = publish(_committed_output(tmp_path / "committed"), s, load=False)
    assert (done.versions, done.forced_past) == ({"fraud_scorer": 1, "credit_scorer": 1}, [])
    for name in ("fraud_scorer", "credit_scorer"):
        g = json.loads((repo / name / "1" / "metadata.json").read_text())["metrics"]["publish_gate"]
        assert g["serving"] is None and g["forced"] is False and g["refusal"] is None
    assert g["candidate"]["auc_roc"] > 0.7 and g["customers"] > 1000  # credit: the drawn defaults


def _constant_challenger(folder, value):
    """A fraud model that answers `value` for everything, with the committed model's
    feature statistics (alerts explain themselves with them once it is champion)."""
    out = _committed_output(folder)
    constant_model(out / "fraud_scorer.onnx", len(FRAUD_FEATURES), "fraud_score", value)
    committed = Settings().endpoints.model_repo / "fraud_scorer"
    meta = json.loads((committed / str(versions(committed.parent, "fraud_scorer")[-1]) / "metadata.json").read_text())
    (out / "report.json").write_text(json.dumps({"config": {"note": f"always {value}"}, "fraud_mlp": {
        "feature_mean": meta["feature_mean"], "feature_std": meta["feature_std"]}}))
    return out


def test_a_challenger_is_added_promoted_and_rolled_back_mid_stream(stack, tmp_path, monkeypatch, capsys):
    """Against the running job: each part of the stream is scored with the roles of its
    time, alerts follow the champion only, promote shows the comparison and refuses a
    challenger with a lower labelled-window AP unless forced; one score per transaction."""
    run = uuid.uuid4().hex[:6]
    topics = stack.topics.__class__(**{f: f"{getattr(stack.topics, f)}-cc-{run}"
                                       for f in stack.topics.__dataclass_fields__})
    # Every event counts as labelled at once (maturity 0): the test's labels are all it will get.
    s = stack.replace(topics=topics, consumer_group=f"cc-{run}", checkpoint_interval_ms=200, label_maturity_hours=0.0,
                      monitor_app_id=f"monitor-cc-{run}")
    monkeypatch.setattr("lepton_stream.cli._settings", lambda args: s)
    create_topics(s.kafka_bootstrap, topics, s.endpoints.partitions)
    wait_topics_ready(s.kafka_bootstrap, topics.all())
    events = [ev.event for ev in SimpleGenerator(cards=40, fraud_share=0.05, seed=47, id_prefix=run)
              .stream(800, 1_700_000_000_000)]
    parts = [events[i : i + 200] for i in range(0, 800, 200)]
    champion = str(versions(s.endpoints.model_repo, "fraud_scorer")[-1])
    p = producer(s.kafka_bootstrap)
    publish_events(p, topics.transactions, parts[0])
    log = tmp_path / "job.log"
    job = start_job(s, "group", log)
    monitor = start_monitor(s, tmp_path / "monitor.log")
    try:
        wait_scored(s, 200, job, log)
        assert main(["model", "publish", str(_constant_challenger(tmp_path / "c", 0.25)), "--challenger",
                     "--force"]) == 0
        challenger = str(versions(s.endpoints.model_repo, "fraud_scorer")[-1])
        assert f"champion {champion}, challenger {challenger}" in capsys.readouterr().out
        publish_events(p, topics.transactions, parts[1])
        wait_scored(s, 400, job, log)
        # Confirmed frauds: the part-1 events the champion finds riskiest (five, and any
        # tied with the fifth), so its AP is 1 and the constant challenger's the base rate.
        scored = [x for x in read_json(s.kafka_bootstrap, topics.scores) if x["challenger_model_version"]]
        fifth = sorted(x["fraud_score"] for x in scored)[-5]
        top = [x for x in scored if x["fraud_score"] >= fifth]
        by_id = {e["tx_id"]: e for e in events}
        publish_events(p, topics.fraud_labels, [
            {"tx_id": x["tx_id"], "card_id": x["card_id"], "terminal_id": by_id[x["tx_id"]]["terminal_id"],
             "is_fraud": True, "labelled_at": x["event_ts"]} for x in top])
        assert main(["model", "promote"]) == 1
        out = capsys.readouterr()
        assert re.search(rf"champion +fraud_scorer:{champion} .* AP 1\.0000", out.out), out.out
        assert "refused: challenger AP 0.0" in out.err and "below champion AP 1.0000" in out.err, out.err
        assert main(["model", "promote", "--force"]) == 0
        assert f"champion {challenger}, challenger {champion} (rollback: {champion})" in capsys.readouterr().out
        publish_events(p, topics.transactions, parts[2])
        wait_scored(s, 600, job, log)
        assert main(["model", "rollback"]) == 0
        assert f"champion {champion}, challenger {challenger}\n" in capsys.readouterr().out
        publish_events(p, topics.transactions, parts[3])
        wait_scored(s, 800, job, log)
        # The monitor follows the same topics: its gauges and /models say what `promote` saw.
        wait_monitor(s, monitor, tmp_path / "monitor.log")
        deadline = time.monotonic() + 60
        while (live := _monitor_models(s)["comparison"]) is None or live["events"] < 600:
            assert time.monotonic() < deadline, live
            time.sleep(1)
        metrics = _monitor_get(s, "/metrics")
    finally:
        stop_job(job)
        stop_monitor(monitor)
        # The rest of the session's tests see the champion alone again.
        drop_challenger(stack)
    scores = {x["tx_id"]: x for x in assert_exactly_once(s, events)}  # alerts: the champion's scores only
    for k, part in enumerate(parts):
        want = [(champion, ""), (champion, challenger), (challenger, champion), (champion, challenger)][k]
        got = {(scores[e["tx_id"]]["fraud_model_version"], scores[e["tx_id"]]["challenger_model_version"])
               for e in part}
        assert got == {want}, (k, got)
        constant = [scores[e["tx_id"]]["fraud_score" if k == 2 else "challenger_fraud_score"] for e in part]
        assert constant == [0.25] * len(part) if k else constant == [None] * len(part)
    assert not [a for a in read_json(s.kafka_bootstrap, topics.risk_alerts) if a["tx_id"] in
                {e["tx_id"] for e in parts[2]}]  # the constant champion alerts on nothing
    seen = compare.from_kafka(s)
    assert (seen.events, seen.labelled, seen.frauds) == (600, 600, len(top))
    assert seen.champion is not None and seen.challenger is not None
    assert (seen.champion.version, seen.challenger.version) == (champion, challenger)
    assert seen.challenger.alert_rate == 0 and seen.challenger.average_precision == len(top) / 600
    assert seen.champion.average_precision > seen.challenger.average_precision
    assert _finite_dict(asdict(seen)) == live
    assert f'lepton_model_alert_ratio{{role="challenger",version="{challenger}"}} 0.0' in metrics
    assert f"lepton_model_agreement_ratio {seen.agreement}" in metrics


def _monitor_get(s, path):
    with urllib.request.urlopen(f"http://{s.endpoints.host}:{s.oncall.monitor_port}{path}", timeout=5) as resp:
        return resp.read().decode()


def _monitor_models(s):
    return json.loads(_monitor_get(s, "/models"))


def _finite_dict(obj):
    return json.loads(json.dumps(obj).replace("NaN", "null"))
