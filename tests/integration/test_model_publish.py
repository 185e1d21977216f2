"""Model lifecycle on the running Triton: a new version is loaded while scoring goes on;
a bad model is refused and the previous version keeps serving; a model that scores
worse than the serving one on the held-out world is refused whatever its report says."""

import json
import re
import shutil
import threading

import numpy as np
import pytest

from lepton_stream.cli import main
from lepton_stream.config import Settings
from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.models import gate
from lepton_stream.models.repository import PublishError, publish, versions
from lepton_stream.scoring.triton_client import TritonScorer
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
