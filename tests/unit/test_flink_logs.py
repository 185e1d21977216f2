"""The local job's Flink log: a folder of its own per job process, rolled, pruned."""

import os
from pathlib import Path

import pytest

from lepton_stream.config import Settings
from lepton_stream.stack import flink_logs


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLINK_LOG_DIR", raising=False)
    monkeypatch.delenv("LOG4J_PROPERTIES", raising=False)


def test_each_job_process_logs_into_its_own_rolled_file(env, tmp_path: Path) -> None:
    s = Settings.from_env({}, home=tmp_path, consumer_group="g1")
    folder = flink_logs.prepare(s)
    assert folder == tmp_path / "run" / "flink-logs" / f"g1-{os.getpid()}" and folder.is_dir()
    assert os.environ["FLINK_LOG_DIR"] == str(folder)
    props = Path(os.environ["LOG4J_PROPERTIES"]).read_text()
    assert "SizeBasedTriggeringPolicy" in props and "logger.kafka.level = WARN" in props


def test_a_folder_named_by_the_environment_is_kept(env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLINK_LOG_DIR", str(tmp_path / "mine"))
    assert flink_logs.prepare(Settings.from_env({}, home=tmp_path)) == tmp_path / "mine"


def test_only_the_newest_folders_are_kept(env, tmp_path: Path) -> None:
    root = tmp_path / "run" / "flink-logs"
    for i in range(30):
        old = root / f"g-{i}"
        old.mkdir(parents=True)
        (old / "flink.log").write_text("x")
        os.utime(old / "flink.log", (1_000_000 + i, 1_000_000 + i))
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    mine = flink_logs.prepare(Settings.from_env({}, home=tmp_path, consumer_group="g"))
    left = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert len(left) == flink_logs.KEEP and mine.name in left
    assert "g-29" in left and "g-10" not in left
