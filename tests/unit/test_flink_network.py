"""Where the local job's Flink listens: options for a local MiniCluster only, and a
FLINK_LIB_DIR whose patch jar comes before flink-python's."""

import os
import zipfile

import pytest

from lepton_stream.config import Settings
from lepton_stream.stack import flink_patch
from lepton_stream.stack.flink_network import bind_options, prepare_local_job
from lepton_stream.stack.processes import StackError


def test_every_server_binds_the_host_and_no_jar_upload():
    opts = bind_options(Settings.from_env({}, host="127.0.0.2"))
    for key in ("rest.address", "rest.bind-address", "jobmanager.rpc.address", "jobmanager.bind-host",
                "taskmanager.host", "taskmanager.bind-host"):
        assert opts[key] == "127.0.0.2"
    assert opts["web.submit.enable"] == "false"


def _environ(monkeypatch, **values) -> None:
    """A private copy of the environment: prepare_local_job writes FLINK_LIB_DIR and FLINK_HOME."""
    keep = {k: v for k, v in os.environ.items()
            if k not in ("PYFLINK_GATEWAY_PORT", "FLINK_LIB_DIR", "FLINK_HOME", "_python_worker_execution_mode")}
    monkeypatch.setattr(os, "environ", {**keep, **values})


def test_a_cluster_client_is_left_to_its_cluster(tmp_path, monkeypatch):
    _environ(monkeypatch, PYFLINK_GATEWAY_PORT="12345")
    assert prepare_local_job(Settings.from_env({}, home=tmp_path, lib_dir=tmp_path / "lib")) is None
    assert not (tmp_path / "lib").exists() and "FLINK_LIB_DIR" not in os.environ


def test_the_local_job_gets_the_patched_class_first(tmp_path, monkeypatch):
    _environ(monkeypatch)
    s = Settings.from_env({}, home=tmp_path / "home", lib_dir=tmp_path / "lib")
    opts = prepare_local_job(s)
    assert opts == bind_options(s)
    lib = tmp_path / "lib" / os.path.basename(os.environ["FLINK_LIB_DIR"])
    names = sorted(p.name for p in lib.iterdir())
    assert any(n.startswith("flink-dist-") for n in names) and not any(n.startswith("flink-python") for n in names)
    (patch,) = [n for n in names if n.startswith("beam-loopback-")]
    with zipfile.ZipFile(lib / patch) as z:
        assert z.namelist() == [flink_patch.PATCHED_CLASS]
    # The cluster's lib/ also holds flink-python, sorted after the patch (bin/config.sh sorts by name).
    cluster = sorted(p.name for p in flink_patch.lib_with_patch(s, with_flink_python=True).iterdir())
    assert cluster.index(patch) < cluster.index(flink_patch.FLINK_PYTHON)


def test_another_flink_python_is_refused_until_the_patch_is_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(flink_patch, "FLINK_PYTHON", "flink-python-9.9.9.jar")
    with pytest.raises(StackError, match="written for flink-python-9.9.9.jar"):
        flink_patch.patch_jar(Settings.from_env({}, lib_dir=tmp_path))
