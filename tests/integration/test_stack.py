"""`lepton-stream up | down | status` against real processes."""

import socket

import pytest

from lepton_stream.cli import main
from lepton_stream.stack import manager
from lepton_stream.stack.processes import StackError
from tests.integration.conftest import make_settings, processes_mentioning

pytestmark = pytest.mark.integration


def test_status_reports_every_part_healthy(stack, monkeypatch, capsys):
    monkeypatch.setattr("lepton_stream.cli._settings", lambda args: stack)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    for part in ("kafka", "redis", "triton"):
        assert f"{part}" in out
    assert "risk_scorer v1 ready" in out and "transactions-dlq" in out


def test_a_taken_port_is_one_clear_error_and_starts_nothing(tmp_path):
    s = make_settings(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", s.endpoints.redis_port))
        blocker.listen()
        with pytest.raises(StackError, match=rf"^redis: port {s.endpoints.redis_port} on 127.0.0.1 is taken"):
            manager.up(s)
    assert processes_mentioning(str(tmp_path)) == []


def test_missing_java_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match="^kafka: java not found"):
        manager.up(make_settings(tmp_path))
    assert processes_mentioning(str(tmp_path)) == []


def test_a_failed_start_stops_what_was_already_started(tmp_path):
    empty_repo = tmp_path / "models"
    empty_repo.mkdir()
    s = make_settings(tmp_path / "home", model_repo=empty_repo)
    with pytest.raises(StackError, match="^triton: no models in"):
        manager.up(s)
    # Kafka and Redis had started before Triton failed: both must be gone.
    assert processes_mentioning(str(tmp_path / "home")) == []
    assert manager.status(s)[0].pid is None
