"""The `lepton-stream` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lepton_stream import logs
from lepton_stream.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "partitions", None):
        overrides["partitions"] = args.partitions
    return Settings.from_env(**overrides)


def cmd_up(args: argparse.Namespace) -> int:
    from lepton_stream.stack import manager
    from lepton_stream.stack.processes import StackError

    s = _settings(args)
    try:
        started = manager.up(s)
    except StackError as exc:
        print(f"lepton-stream up: {exc}", file=sys.stderr)
        return 1
    print(f"up: started {', '.join(started) or 'nothing (all running)'}; logs and PIDs in {s.run_dir}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from lepton_stream.stack import manager

    stopped = manager.down(_settings(args))
    print(f"down: stopped {', '.join(stopped) or 'nothing'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from lepton_stream.stack import manager

    parts = manager.status(_settings(args))
    for p in parts:
        state = "healthy" if p.healthy else ("running, unhealthy" if p.running else "stopped")
        print(f"{p.name:7} {state:19} pid={p.pid or '-':<8} {p.detail}")
    return 0 if all(p.healthy for p in parts) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from lepton_stream.demo import run_demo

    return run_demo(_settings(args), events=args.events, rate=args.rate, malformed_share=args.malformed_share,
                    keep_up=args.keep_up)


def cmd_model_build_first(args: argparse.Namespace) -> int:
    from lepton_stream.models.first_model import build

    meta = build(Path(args.out))
    print(f"model written to {args.out}: test metrics {meta['metrics_test']}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stream_jobs.scoring_job import main as job_main

    argv = ["--startup", args.startup] + (["--bounded"] if args.bounded else [])
    return job_main(argv)


def main(argv: list[str] | None = None) -> int:
    logs.configure()
    ap = argparse.ArgumentParser(prog="lepton-stream", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="start Kafka, Redis and Triton locally and create the topics")
    p.add_argument("--partitions", type=int, help="partitions per topic (default LEPTON_PARTITIONS or 2)")
    p.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop what `up` started, by PID").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="health of each part").set_defaults(fn=cmd_status)
    p = sub.add_parser("demo", help="the end-to-end demo: stack, job, simulated traffic, summary")
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--rate", type=float, default=1000.0, help="events per second")
    p.add_argument("--malformed-share", type=float, default=0.03)
    p.add_argument("--keep-up", action="store_true", help="leave the stack running afterwards")
    p.add_argument("--partitions", type=int)
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("run", help="run the scoring job (PyFlink, local MiniCluster)")
    p.add_argument("--startup", default="group", help="group | earliest | latest | timestamp:<ms>")
    p.add_argument("--bounded", action="store_true", help="stop at the offsets present at start")
    p.set_defaults(fn=cmd_run)
    model = sub.add_parser("model", help="model repository tasks").add_subparsers(dest="model_cmd", required=True)
    p = model.add_parser("build-first", help="train and export the skeleton risk_scorer model")
    p.add_argument("--out", default=str(Settings().model_repo / "risk_scorer" / "1"))
    p.set_defaults(fn=cmd_model_build_first)
    args = ap.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
