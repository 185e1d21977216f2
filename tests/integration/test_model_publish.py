"""Model lifecycle on the running Triton: a new version is loaded while scoring goes on;
a bad model is refused and the previous version keeps serving."""

import json
import shutil
import threading

import numpy as np
import pytest

from lepton_stream.features.definitions import CREDIT_FEATURES, FRAUD_FEATURES
from lepton_stream.models.repository import PublishError, publish, versions
from lepton_stream.scoring.triton_client import TritonScorer

pytestmark = pytest.mark.integration


def _training_output(stack, folder, fraud_from="fraud_scorer", credit_from="credit_scorer"):
    folder.mkdir()
    for name, source in (("fraud_scorer", fraud_from), ("credit_scorer", credit_from)):
        latest = versions(stack.model_repo, source)[-1]
        shutil.copyfile(stack.model_repo / source / str(latest) / "model.onnx", folder / f"{name}.onnx")
    (folder / "report.json").write_text(json.dumps({"config": {"note": "test"}}))
    return folder


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
    new = str(done["fraud_scorer"])
    assert int(new) == int(before.fraud_version) + 1
    after = scorer.score(fx, cx)
    assert (after.fraud_version, after.credit_version) == (new, str(done["credit_scorer"]))
    assert errors == []
    np.testing.assert_allclose(after.fraud, before.fraud, atol=1e-6)  # same weights, new version
    meta = json.loads((stack.model_repo / "fraud_scorer" / new / "metadata.json").read_text())
    assert meta["features"] == list(FRAUD_FEATURES) and meta["version"] == int(new)

    # The credit model's file as the fraud model: 8 inputs where 21 are expected.
    bad = _training_output(stack, tmp_path / "bad", fraud_from="credit_scorer")
    with pytest.raises(PublishError, match=r"expected one input \[batch, 21\]"):
        publish(bad, stack)
    assert str(versions(stack.model_repo, "fraud_scorer")[-1]) == new
    assert scorer.score(fx, cx).fraud_version == new
