"""The benchmark's plots are drawn from its JSON (here the committed result)."""

import json
import shutil

from lepton_stream.bench.plots import write_plots
from lepton_stream.config import REPO_ROOT


def test_plots_are_written_from_a_result(tmp_path):
    src = REPO_ROOT / "benchmarks/results/pipeline.json"
    path = tmp_path / "pipeline.json"
    shutil.copy(src, path)
    made = write_plots(json.loads(path.read_text()), path)
    assert [p.name for p in made] == ["pipeline-throughput.png", "pipeline-latency.png", "pipeline-alert-latency.png"]
    for p in made:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_a_result_without_runs_draws_nothing(tmp_path):
    assert write_plots({"date": "x"}, tmp_path / "empty.json") == []
