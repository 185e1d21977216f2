"""The gateway JVM's class archive: mapped when recorded for this java and class
path, and put in place only after its JVM stopped cleanly and it loads."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from lepton_stream.config import Settings
from lepton_stream.stack import flink_cds, flink_patch


@pytest.fixture
def world(tmp_path, monkeypatch):
    lib = tmp_path / "flink-lib"
    lib.mkdir()
    (lib / "flink-dist.jar").write_bytes(b"jar")
    monkeypatch.setattr(flink_patch, "lib_with_patch", lambda s, with_flink_python: lib)
    monkeypatch.setenv("LEPTON_LIB_DIR", str(tmp_path / "lib"))  # `main` reads its settings from there
    return Settings.from_env({}, lib_dir=tmp_path / "lib"), lib


def test_the_archive_is_mapped_once_recorded_unless_switched_off(world):
    s, lib = world
    assert flink_cds.options(s, lib) == []  # nothing recorded: the JVM starts as it would anyway
    archive = flink_cds.archive_path(s, lib)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    assert flink_cds.options(s, lib) == [f"-XX:SharedArchiveFile={archive}"]
    assert flink_cds.options(s.replace(jvm_class_archive=False), lib) == []


def test_the_archive_is_named_by_the_java_and_the_class_path(world, tmp_path, monkeypatch):
    s, lib = world
    first = flink_cds.archive_path(s, lib)
    (lib / "flink-table.jar").write_bytes(b"another jar")
    second = flink_cds.archive_path(s, lib)
    other_java = tmp_path / "jdk" / "bin" / "java"
    other_java.parent.mkdir(parents=True)
    other_java.write_bytes(b"another JDK")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    assert len({first, second, flink_cds.archive_path(s, lib)}) == 3


def _fake_runs(monkeypatch, status: int, size: int, check_rc: int) -> list[list[str]]:
    """subprocess.run as `record` sees it: the workload (whose JVM writes `size` bytes
    and ends with `status`), then the check (`check_rc`)."""
    calls: list[list[str]] = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        if "--workload" in cmd:
            part = next(a.split("=", 1)[1] for a in kwargs["env"]["JVM_ARGS"].split()
                        if a.startswith("-XX:ArchiveClassesAtExit="))
            Path(part).write_bytes(b"\0" * size)
            return subprocess.CompletedProcess(cmd, 0, json.dumps({"status": status, "classpath": "/a.jar:/b.jar"}), "")
        return subprocess.CompletedProcess(cmd, check_rc, "", "" if check_rc == 0 else "SIGBUS")

    monkeypatch.setattr(flink_cds.subprocess, "run", run)
    return calls


def test_a_recording_of_a_cleanly_stopped_jvm_that_loads_is_put_in_place(world, monkeypatch):
    s, lib = world
    calls = _fake_runs(monkeypatch, status=143, size=2 << 20, check_rc=0)
    archive = flink_cds.record(s)
    assert archive == flink_cds.archive_path(s, lib) and archive.stat().st_size == 2 << 20
    check = calls[1]
    assert "-Xshare:on" in check and "-XX:+VerifySharedSpaces" in check
    assert check[check.index("-cp") + 1] == "/a.jar:/b.jar"  # the recording JVM's class path
    assert sorted(p.name for p in archive.parent.iterdir()) == [archive.name]
    assert flink_cds.record(s) == archive and len(calls) == 2  # recorded once


@pytest.mark.parametrize("status, size, check_rc", [(1, 2 << 20, 0), (143, 100, 0), (143, 2 << 20, 134)])
def test_a_recording_that_failed_or_does_not_load_is_never_used(world, monkeypatch, status, size, check_rc):
    s, lib = world
    _fake_runs(monkeypatch, status=status, size=size, check_rc=check_rc)
    with pytest.raises(RuntimeError):
        flink_cds.record(s)
    folder = flink_cds.archive_path(s, lib).parent
    assert list(folder.iterdir()) == []
    assert flink_cds.main([]) == 0  # the set-up goes on: a job starts without it


def test_the_job_gets_the_archive_through_jvm_args(world, monkeypatch):
    from lepton_stream.stack import flink_network

    s, lib = world
    monkeypatch.setattr(flink_network, "lib_with_patch", lambda s, with_flink_python: lib)
    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items()
                                        if k not in ("PYFLINK_GATEWAY_PORT", "FLINK_LIB_DIR", "FLINK_HOME")}
                        | {"JVM_ARGS": "-Xmx768m"})
    archive = flink_cds.archive_path(s, lib)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    flink_network.prepare_local_job(s)
    flink_network.prepare_local_job(s)  # twice: still once
    assert os.environ["JVM_ARGS"].split() == ["-Xmx768m", f"-XX:SharedArchiveFile={archive}"]
