"""Job control's logic against an in-process stand-in for Flink's REST API: the clear
errors of `lepton-stream run --rescale`, and stop with a savepoint when the job's
process (REST API included) is gone before the last poll. The real job:
tests/integration/test_rescale.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from lepton_stream import cli
from lepton_stream.stack import flink_rest
from lepton_stream.stack.processes import StackError, free_ports
from tests.unit.http_stub import serve

JOB = "a1b2c3d4" * 4


class FakeFlink(BaseHTTPRequestHandler):
    jobs: list[dict] = []
    savepoint: dict = {}  # the trigger's answer; empty: take the savepoint and go away

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/jobs/overview":
            self._send({"jobs": self.jobs})
        else:
            self._send(self.savepoint or {"status": {"id": "IN_PROGRESS"}})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.savepoint:  # as a local job does: the savepoint written, then the process exits
            folder = Path(body["targetDirectory"].removeprefix("file://")) / "savepoint-a1b2c3-0123456789ab"
            folder.mkdir(parents=True)
            (folder / "_metadata").write_bytes(b"")
            # Gone at once, as the process is: its port refuses, rather than leaving a poll to time out.
            threading.Thread(target=lambda: (self.server.shutdown(), self.server.server_close())).start()
        self._send({"request-id": "r1"})


@pytest.fixture
def flink() -> Iterator[str]:
    with serve(FakeFlink) as address:
        yield address


def test_rescale_without_a_running_job_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("LEPTON_HOME", str(tmp_path))
    monkeypatch.setenv("LEPTON_FLINK_REST_PORT", str(free_ports(1)[0]))  # nothing listens there
    assert cli.main(["run", "--rescale", "2"]) == 1
    err = capsys.readouterr().err
    assert "no job is running: nothing answers at http://127.0.0.1:" in err and "LEPTON_FLINK_REST_PORT" in err
    assert cli.main(["run", "--rescale", "0"]) == 1
    assert "parallelism must be at least 1, not 0" in capsys.readouterr().err
    assert cli.main(["run", "--rescale", "2", "--submit", "jm:8081"]) == 2
    assert "flink stop --savepointPath" in capsys.readouterr().err


def test_a_finished_job_is_not_a_running_one(flink):
    FakeFlink.jobs = [{"jid": JOB, "name": "lepton-scoring", "state": "FINISHED"}]
    with pytest.raises(StackError, match="expected one RUNNING job .* found 0 .*lepton-scoring FINISHED"):
        flink_rest.running_job(flink)


def test_savepoint_found_in_its_folder_when_the_job_exits_before_the_last_poll(flink, tmp_path):
    FakeFlink.jobs, FakeFlink.savepoint = [{"jid": JOB, "name": "lepton-scoring", "state": "RUNNING"}], {}
    assert flink_rest.running_job(flink) == JOB
    path = flink_rest.stop_with_savepoint(flink, JOB, tmp_path / "sp", timeout_s=10)
    assert path == f"file:{tmp_path}/sp/savepoint-a1b2c3-0123456789ab"


def test_a_failed_savepoint_is_an_error_and_the_job_goes_on(flink, tmp_path):
    FakeFlink.savepoint = {"status": {"id": "COMPLETED"},
                           "operation": {"failure-cause": {"stack-trace": "CheckpointException: timeout\n\tat x"}}}
    with pytest.raises(StackError, match="savepoint failed, the job goes on: CheckpointException: timeout"):
        flink_rest.stop_with_savepoint(flink, JOB, tmp_path / "sp", timeout_s=10)
