"""What a challenger costs: CPU per scored transaction over every process (Kafka,
Redis, Triton, the consumer loop) with the champion alone and with a challenger
beside it, the same backlog, run alternately so the machine's drift is shared.

The challenger is the committed fraud model published again as a new version:
the same graph as the champion, so the difference is what scoring each batch a
second time costs (one more request in flight, one more model run on Triton),
not a bigger or smaller model. Both versions stay loaded throughout; only the
roles file changes between runs, as `promote` changes it.

Run: `python -m lepton_stream.bench.challenger [--events N] [--repeats R]` (its
own stack on free ports; writes benchmarks/results/challenger.json and prints it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lepton_stream.bench.harness import bench_stack, read_all
from lepton_stream.bench.saturation import LOOP_THROUGHPUT, backlog, run_loop
from lepton_stream.config import REPO_ROOT, Settings
from lepton_stream.jsonout import dumps
from lepton_stream.models import repository, roles

LIMIT = 1.20  # the challenger may cost at most 20 % more CPU per scored transaction


def add_challenger(s: Settings) -> roles.Roles:
    """The newest fraud model of the repository published again, as challenger."""
    repo = s.endpoints.model_repo
    out = Path(tempfile.mkdtemp(prefix="lepton-challenger-"))
    try:
        meta = {}
        for name in repository.MODELS:
            latest = repo / name / str(repository.versions(repo, name)[-1])
            shutil.copyfile(latest / "model.onnx", out / f"{name}.onnx")
            meta[name] = json.loads((latest / "metadata.json").read_text())
        fraud = meta[repository.FRAUD]
        (out / "report.json").write_text(json.dumps({"config": {"note": "bench: the champion again"}, "fraud_mlp": {
            "feature_mean": fraud["feature_mean"], "feature_std": fraud["feature_std"]}}))
        done = repository.publish(out, s, challenger=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert done.roles is not None
    return done.roles


def same_day(events: list[dict], gap_ms: int = 10) -> list[dict]:
    """The backlog's events in their order, 10 ms apart: a simulated backlog spans days,
    and a loop batch of 10,000 from one partition then reaches more than a day past
    the stream's median, which the job rejects (`timestamp_ahead_of_stream`) in a share
    that depends on how each run's keys split over the partitions. Both variants must
    score every event for their CPU per scored transaction to compare."""
    first = min(e["ts"] for e in events)
    return [{**e, "ts": first + i * gap_ms} for i, e in enumerate(sorted(events, key=lambda e: e["ts"]))]


def challenger_cpu(s: Settings, events: list[dict], repeats: int = 2, say=print) -> dict:
    """CPU µs per scored transaction without and with a challenger (medians of
    `repeats` alternated loop runs) and their ratio. `s`'s model repository is written."""
    both = add_challenger(s)
    alone = both.without_challenger()
    runs: dict[str, list[dict]] = {"alone": [], "with_challenger": []}
    try:
        for i in range(repeats):
            for key, r in (("alone", alone), ("with_challenger", both)):
                roles.write_roles(s.endpoints.model_repo, r)
                runs[key].append(run := run_loop(s, events, tag=f"challenger-{key}-{i}", **LOOP_THROUGHPUT))
                # What the challenger really did: its version on every score of the run, or on none.
                run["challenger_scored"] = sum(x.get("challenger_model_version") == str(both.challenger)
                                               for x in read_all(s, f"challenger-{key}-{i}-scores", idle_s=1.0))
                say(f"  run {i + 1}, {key}: {run['cpu_us_per_tx']} µs CPU per transaction, "
                    f"{run['events_per_s']:,}/s")
    finally:
        roles.write_roles(s.endpoints.model_repo, both)
    med = {k: statistics.median(r["cpu_us_per_tx"] for r in v) for k, v in runs.items()}
    triton = {k: statistics.median(r["cpu_us_per_tx_by_process"].get("triton", 0.0) for r in v)
              for k, v in runs.items()}
    ratio = med["with_challenger"] / med["alone"]
    return {"events": len(events), "repeats": repeats, "loop_settings": LOOP_THROUGHPUT,
            "champion": both.champion, "challenger": both.challenger,
            "cpu_us_per_tx_alone": round(med["alone"], 1),
            "cpu_us_per_tx_with_challenger": round(med["with_challenger"], 1),
            "ratio": round(ratio, 3), "within_limit": ratio <= LIMIT,
            # Triton alone, where the challenger's work is done: the cost without the noise of the rest.
            "triton_cpu_us_per_tx_alone": round(triton["alone"], 1),
            "triton_cpu_us_per_tx_with_challenger": round(triton["with_challenger"], 1),
            "runs": {k: [{"cpu_us_per_tx": r["cpu_us_per_tx"], "events_per_s": r["events_per_s"],
                          "scored": r["scored"], "challenger_scored": r["challenger_scored"],
                          "by_process": r["cpu_us_per_tx_by_process"]} for r in v] for k, v in runs.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lepton_stream.bench.challenger", description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "challenger.json"))
    args = ap.parse_args(argv)
    events = same_day(backlog(args.events))
    with tempfile.TemporaryDirectory(prefix="lepton-bench-repo-") as d:
        # A copy of the model repository: the challenger is published into it.
        repo = shutil.copytree(Settings().endpoints.model_repo, Path(d) / "model_repo")
        with bench_stack(model_repo=repo) as s:
            result = challenger_cpu(s, events, args.repeats, say=lambda line: print(line, file=sys.stderr))
    result = {"date": time.strftime("%Y-%m-%d"), **result}
    Path(args.out).write_text(dumps(result, indent=2) + "\n")
    print(dumps(result, indent=2))
    return 0 if result["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
