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
        started = manager.up(s, args.only.split(",") if args.only else None)
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


def cmd_model_publish(args: argparse.Namespace) -> int:
    from lepton_stream.models.repository import PublishError, publish

    s = _settings(args)
    try:
        done = publish(Path(args.source), s, load=not args.no_load)
    except PublishError as exc:
        print(f"lepton-stream model publish: refused: {exc}", file=sys.stderr)
        return 1
    for name, version in done.items():
        print(f"published {name} version {version}")
    return 0


def cmd_load_profiles(args: argparse.Namespace) -> int:
    import pandas as pd

    from lepton_stream.feature_store.redis_windows import RedisWindowStore
    from lepton_stream.features.definitions import PROFILE_FIELDS

    s = _settings(args)
    df = pd.read_parquet(args.customers)
    n = RedisWindowStore(s.redis_url).load_profiles(df["card_id"].tolist(), df[list(PROFILE_FIELDS)].to_numpy())
    print(f"loaded {n:,} credit profiles into {s.redis_url_redacted}")
    return 0


def cmd_features_get(args: argparse.Namespace) -> int:
    import json

    from lepton_stream.feature_store.redis_windows import RedisWindowStore

    s = _settings(args)
    print(json.dumps(RedisWindowStore(s.redis_url).describe(args.card, args.terminal, args.at), indent=2))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import time

    from producers.simulator import SimulationConfig, simulate

    t0 = time.monotonic()
    cfg = SimulationConfig(n_customers=args.customers, n_terminals=args.terminals, nb_days=args.days,
                           start_date=args.start, radius=args.radius, seed=args.seed)
    sim = simulate(cfg)
    written = sim.to_parquet(Path(args.out))
    tx = sim.transactions
    print(f"simulated {len(tx):,} transactions ({tx['is_fraud'].mean():.3%} fraud: "
          f"{tx['fraud_scenario'].value_counts().sort_index().to_dict()}), {len(sim.customers):,} customers "
          f"(default rate {sim.customers['defaulted'].mean():.1%}) in {time.monotonic() - t0:.1f} s")
    for path in written:
        print(f"  {path}")
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from producers.load import LoadOptions, run_load

    s = _settings(args)
    opts = LoadOptions(rate=args.rate, duration_s=args.duration, replay=args.replay, speedup=args.speedup,
                       days=args.days, cards=args.cards, hot_cards=args.hot_cards, hot_share=args.hot_share,
                       fraud_share=args.fraud_share, malformed_share=args.malformed_share, labels=args.labels,
                       label_delay_days=args.label_delay_days, label_share=args.label_share, seed=args.seed)
    total = int(args.rate * args.duration) if not args.replay and args.rate > 0 else None
    with Progress(TextColumn("[bold]producing"), BarColumn(), TextColumn("{task.fields[stats]}"),
                  TimeElapsedColumn(), disable=args.json or args.quiet, transient=False) as bar:
        task = bar.add_task("produce", total=total, stats="")

        def show(r) -> None:  # noqa: ANN001
            rate = r.sent / r.send_s if r.send_s else 0.0
            bar.update(task, completed=r.sent,
                       stats=f"sent {r.sent:,}  {rate:,.0f}/s  acked {r.delivered:,}  errors {r.errors}")

        report = run_load(s.kafka_bootstrap, s.topics.transactions, opts, s.topics.fraud_labels, progress=show)
    print(report.to_json() if args.json else report.human())
    return 0 if report.errors == 0 and not report.fell_behind else 2


def cmd_train(train_args: list[str]) -> int:
    import subprocess

    from lepton_stream.config import REPO_ROOT

    python = REPO_ROOT / ".venv-train" / "bin" / "python"
    if not python.exists():
        print("lepton-stream train: the training environment .venv-train is missing: run `make setup`",
              file=sys.stderr)
        return 1
    # torch lives only in the training environment; serving never imports it.
    return subprocess.call([str(python), "-m", "lepton_stream.training", *train_args])


def cmd_run(args: argparse.Namespace) -> int:
    from lepton_stream.stack.job_process import job_args
    from stream_jobs.scoring_job import main as job_main

    return job_main(job_args(args.startup, args.bounded))


def main(argv: list[str] | None = None) -> int:
    logs.configure()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:  # its options belong to the training environment's parser
        return cmd_train(argv[1:])
    if argv[:2] == ["model", "build-trt"]:
        from lepton_stream.models.tensorrt import main as build_trt

        return build_trt(argv[2:])
    ap = argparse.ArgumentParser(prog="lepton-stream", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="start Kafka, Redis and Triton locally and create the topics")
    p.add_argument("--partitions", type=int, help="partitions per topic (default LEPTON_PARTITIONS or 2)")
    p.add_argument("--only", help="comma-separated parts to start, e.g. kafka,redis")
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
    p = sub.add_parser("simulate", help="write a simulated training set (handbook process) to Parquet")
    p.add_argument("--days", type=int, default=183)
    p.add_argument("--out", required=True, help="FILE.parquet (customers and terminals are written beside it)")
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--terminals", type=int, default=10000)
    p.add_argument("--start", default="2018-04-01")
    p.add_argument("--radius", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_simulate)
    p = sub.add_parser("produce", help="publish simulated transactions to Kafka (fixed rate or replay)")
    p.add_argument("--rate", type=float, default=10_000.0, help="events/s (0: as fast as possible)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds (fixed-rate mode)")
    p.add_argument("--replay", action="store_true", help="replay simulated time instead of a fixed rate")
    p.add_argument("--speedup", type=float, default=3600.0, help="replay: simulated seconds per second")
    p.add_argument("--days", type=int, default=1, help="simulated days to draw events from")
    p.add_argument("--cards", type=int, default=5000)
    p.add_argument("--hot-cards", type=int, default=0, help="key skew: number of hot cards")
    p.add_argument("--hot-share", type=float, default=0.0, help="key skew: share of events on the hot cards")
    p.add_argument("--fraud-share", type=float, default=None, help="resample to this fraud share")
    p.add_argument("--malformed-share", type=float, default=0.0)
    p.add_argument("--labels", action="store_true", help="replay: publish fraud-labels, delayed")
    p.add_argument("--label-delay-days", type=float, default=7.0)
    p.add_argument("--label-share", type=float, default=1.0, help="share of frauds that get confirmed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_produce)
    p = sub.add_parser("train", help="train + evaluate the fraud and credit models (torch), export ONNX",
                       add_help=False)
    p.add_argument("train_args", nargs="*", help="see `lepton-stream train --help`")
    p = sub.add_parser("run", help="run the scoring job (PyFlink, local MiniCluster)")
    p.add_argument("--startup", default="group", help="group | earliest | latest | timestamp:<ms>")
    p.add_argument("--bounded", action="store_true", help="stop at the offsets present at start")
    p.set_defaults(fn=cmd_run)
    feats = sub.add_parser("features", help="online feature store tasks").add_subparsers(dest="f_cmd", required=True)
    p = feats.add_parser("load-profiles", help="load credit profiles (a simulate *.customers.parquet) into Redis")
    p.add_argument("customers")
    p.set_defaults(fn=cmd_load_profiles)
    p = feats.add_parser("get", help="a card's (and/or terminal's) current windows, as JSON")
    p.add_argument("card", nargs="?", help="card_id (c = counts, s = sums in cents, f = labelled frauds)")
    p.add_argument("--terminal", help="terminal_id")
    p.add_argument("--at", type=int, help="as of this time (epoch ms; default now)")
    p.set_defaults(fn=cmd_features_get)
    model = sub.add_parser("model", help="model repository tasks").add_subparsers(dest="model_cmd", required=True)
    p = model.add_parser("publish", help="add trained models to model_repo/ as new versions; load them in Triton")
    p.add_argument("source", help="a `lepton-stream train --out` folder (fraud_scorer.onnx, credit_scorer.onnx)")
    p.add_argument("--no-load", action="store_true", help="only write the repository")
    p.set_defaults(fn=cmd_model_publish)
    model.add_parser("build-trt", help="build TensorRT plans (trtexec in the Triton container; GPU only)",
                     add_help=False)
    args = ap.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
