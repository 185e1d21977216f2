"""The `lepton-stream` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lepton_stream import logs
from lepton_stream.config import Settings, SettingsError
from lepton_stream.jsonout import dumps
from lepton_stream.kafka.retention import REBUILD_SINCE_DAYS


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
        started = manager.up(s, args.only.split(",") if args.only else None, monitoring=args.monitoring)
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
    from lepton_stream.views.status import render

    return render(_settings(args), as_json_object=args.json)


def cmd_alerts_tail(args: argparse.Namespace) -> int:
    from lepton_stream.views.alerts import AlertFilter, tail

    flt = AlertFilter(frozenset(x for x in (args.severity or "").split(",") if x), args.card, args.terminal)
    tail(_settings(args), flt, rows=args.rows, from_beginning=args.from_beginning, limit=args.limit,
         timeout_s=args.timeout, json_lines=args.json)
    return 0


def cmd_dlq_show(args: argparse.Namespace) -> int:
    from lepton_stream.views.dlq import show

    show(_settings(args), limit=args.limit, reason=args.reason)
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from stream_jobs.alert_monitor import main as monitor_main

    return monitor_main()


def cmd_demo(args: argparse.Namespace) -> int:
    from lepton_stream.demo import run_demo

    return run_demo(_settings(args), events=args.events, rate=args.rate, malformed_share=args.malformed_share,
                    keep_up=args.keep_up)


def cmd_model_publish(args: argparse.Namespace) -> int:
    from lepton_stream.models.repository import PublishError, publish

    s = _settings(args)
    try:
        done = publish(Path(args.source), s, load=not args.no_load, force=args.force, challenger=args.challenger)
    except PublishError as exc:
        print(f"lepton-stream model publish: refused: {exc}", file=sys.stderr)
        return 1
    if done.forced_past:
        print(f"lepton-stream model publish: forced past the gate: {'; '.join(done.forced_past)}", file=sys.stderr)
    for name, version in done.versions.items():
        print(f"published {name} version {version}" + (" (forced)" if done.forced_past else "")
              + (" as challenger" if args.challenger else ""))
    if done.roles is not None:
        print(_roles_line(done.roles))
    return 0


def _roles_line(r) -> str:
    return (f"fraud_scorer: champion {r.champion}, challenger {r.challenger if r.challenger is not None else 'none'}"
            + (f" (rollback: {r.promoted_from})" if r.promoted_from is not None else ""))


def cmd_model_compare(args: argparse.Namespace) -> int:
    from lepton_stream.models import compare, roles

    s = _settings(args)
    current = roles.read_roles(s.endpoints.model_repo)
    print(_roles_line(current) if current is not None else "fraud_scorer: no roles (the newest version serves alone)")
    for line in compare.from_kafka(s).lines():
        print(line)
    return 0


def cmd_model_switch(args: argparse.Namespace) -> int:
    from lepton_stream.models import compare, repository

    s = _settings(args)
    what = args.model_cmd
    try:
        if what == "promote":
            seen = compare.from_kafka(s)
            for line in seen.lines():
                print(line)
            after = repository.promote(s, force=args.force, comparison=seen)[0]
        elif what == "rollback":
            after = repository.rollback(s)
        else:
            after = repository.drop_challenger(s)
    except repository.PublishError as exc:
        print(f"lepton-stream model {what}: refused: {exc}", file=sys.stderr)
        return 1
    print(_roles_line(after))
    return 0


def cmd_load_profiles(args: argparse.Namespace) -> int:
    import pandas as pd

    from lepton_stream.feature_store.profiles import load_profiles
    from lepton_stream.feature_store.redis_windows import RedisWindowStore
    from lepton_stream.features.definitions import PROFILE_FIELDS

    s = _settings(args)
    df = pd.read_parquet(args.customers)
    n = load_profiles(s, RedisWindowStore.from_settings(s), df["card_id"].tolist(), df[list(PROFILE_FIELDS)].to_numpy())
    print(f"published {n:,} credit profiles to {s.topics.credit_profiles} and loaded them into "
          f"{s.redis_url_redacted}")
    return 0


def cmd_features_get(args: argparse.Namespace) -> int:
    from lepton_stream.feature_store.redis_windows import RedisWindowStore

    s = _settings(args)
    print(dumps(RedisWindowStore.from_settings(s).describe(args.card, args.terminal, args.at), indent=2))
    return 0


def cmd_features_rebuild(args: argparse.Namespace) -> int:
    import time

    from lepton_stream.feature_store.rebuild import StoreLayoutError, bar, parse_since, rebuild
    from lepton_stream.feature_store.redis_windows import RedisWindowStore

    s = _settings(args)
    try:
        since_ms = parse_since(args.since, args.start, time.time_ns() // 1_000_000)
    except ValueError as exc:
        print(f"lepton-stream features rebuild: {exc}", file=sys.stderr)
        return 2
    store = RedisWindowStore.from_settings(s)
    try:
        report = rebuild(s, store, since_ms, progress=None if args.json else bar())
    except StoreLayoutError as exc:
        print(f"lepton-stream features rebuild: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(dumps(report.to_dict()))
    else:
        print(f"\nrebuilt the feature store from {s.topics.transactions}, {s.topics.fraud_labels} and "
              f"{s.topics.credit_profiles}: {report.events:,} events ({report.transactions:,} transactions, "
              f"{report.labels:,} labels, {report.profiles:,} profiles, {report.rejected:,} rejected) in "
              f"{report.duration_s:.1f} s, {report.events_per_s:,.0f} events/s; generation {report.generation}")
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

    from lepton_stream.observability.metrics_http import start_exporter
    from producers.load import LoadOptions, run_load

    s = _settings(args)
    try:  # ids the job would refuse (every event to the DLQ): refused before anything is sent
        opts = LoadOptions(rate=args.rate, duration_s=args.duration, replay=args.replay, speedup=args.speedup,
                           days=args.days, cards=args.cards, hot_cards=args.hot_cards, hot_share=args.hot_share,
                           fraud_share=args.fraud_share, malformed_share=args.malformed_share, labels=args.labels,
                           label_delay_days=args.label_delay_days, label_share=args.label_share, seed=args.seed,
                           id_prefix=args.id_prefix)
    except ValueError as exc:
        raise SystemExit(str(exc).replace("id_prefix", "--id-prefix", 1)) from None
    start_exporter(s, "producer", s.oncall.producer_metrics_port)  # Prometheus, while it runs
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


def cmd_publish(args: argparse.Namespace) -> int:
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from lepton_stream.kafka.clients import producer
    from lepton_stream.pipeline.stages import input_limits
    from producers.file import PublishReport, kafka_sender, publish, read_lines

    s = _settings(args)
    topic = s.topics.fraud_labels if args.labels else s.topics.transactions
    if not args.rate >= 0:
        print(f"lepton-stream publish: --rate {args.rate}: must be 0 (as fast as possible) or more", file=sys.stderr)
        return 2
    for path in args.files:
        if path != "-" and not Path(path).is_file():
            print(f"lepton-stream publish: {path}: no such file", file=sys.stderr)
            return 2
    report = PublishReport("labels" if args.labels else "transactions", topic, checked_only=args.check)
    p = None
    if not args.check:
        # A broker that never answers fails each record after 30 s rather than librdkafka's 5 minutes.
        # log_level 0: a broker away is said once, below, not by librdkafka every 50 ms.
        extra: dict[str, Any] = {"message.timeout.ms": 30_000, "linger.ms": 20, "log_level": 0}
        p = producer(s.kafka_bootstrap, **extra)
        md = p.list_topics(topic, timeout=10)  # unreachable: KafkaException, one line from main()
        if md.topics[topic].error is not None:
            print(f"lepton-stream publish: topic {topic} on {s.kafka_bootstrap}: {md.topics[topic].error.str()} "
                  "(`lepton-stream up` creates the topics)", file=sys.stderr)
            return 1
    send, flush = kafka_sender(p, topic) if p is not None else (lambda *_: None, lambda _t: 0)
    with Progress(TextColumn("[bold]publishing"), TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                  disable=args.json or args.quiet or args.check, transient=False) as bar:
        task = bar.add_task("publish", stats="")

        def show(r: PublishReport) -> None:
            bar.update(task, stats=f"sent {r.sent:,}  acked {r.delivered:,}  invalid {r.invalid:,}")

        publish(read_lines(args.files), send, flush, report, labels=args.labels, limits=input_limits(s),
                send_invalid=args.send_invalid, check_only=args.check, rate=args.rate, progress=show)
        show(report)
    print(report.to_json() if args.json else report.human())
    return 0 if report.ok else 1


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

    if args.rescale is not None:
        return _run_rescaled(args)
    argv = job_args(args.startup, args.bounded)
    if args.submit:
        import os
        import subprocess

        from lepton_stream.stack.flink_cluster import flink_home, submit_command

        s = _settings(args)
        cmd = submit_command(s, args.submit, args.startup, args.bounded, detached=True,
                             flink=os.environ.get("FLINK_CLI", str(flink_home() / "bin" / "flink")))
        print("$ " + " ".join(cmd), file=sys.stderr)
        return subprocess.call(cmd, env={**os.environ, **s.to_env()})
    from stream_jobs.scoring_job import main as job_main

    return job_main(argv)


def _run_rescaled(args: argparse.Namespace) -> int:
    """`run --rescale N`: stop the running local job with a savepoint, then run the job
    here (in the foreground, like `run`) with parallelism N from that savepoint."""
    import functools
    import os
    import threading

    from lepton_stream.stack.job_process import announce_started, check_parallelism, job_args, stop_with_savepoint
    from lepton_stream.stack.processes import StackError, pid_listening_on, wait_gone

    say = functools.partial(print, flush=True)  # each step as it happens, also into a log file

    if args.submit:
        print("lepton-stream run: --rescale is for the local job; on a cluster: `flink stop --savepointPath DIR "
              "JOB`, then submit again with LEPTON_PARALLELISM=N and --from-savepoint SAVEPOINT (docs/deploy.md)",
              file=sys.stderr)
        return 2
    s = _settings(args)
    try:
        check_parallelism(s, args.rescale, say)
        # The old job's JVM (PyFlink's gateway, which runs its MiniCluster and listens on the
        # REST port; not a child of this process) must be gone, not only its REST port
        # closed, before this one starts: as `rescale_job` waits for its child to exit.
        old = pid_listening_on(s.endpoints.host, s.job.flink_rest_port)
        path = stop_with_savepoint(s, (lambda t: wait_gone(old, t)) if old else None, say)
    except StackError as exc:
        print(f"lepton-stream run --rescale: {exc}", file=sys.stderr)
        return 1
    os.environ["LEPTON_PARALLELISM"] = str(args.rescale)  # the job and its Python workers read it
    threading.Thread(target=announce_started, args=(s, args.rescale, path, say), daemon=True).start()
    from stream_jobs.scoring_job import main as job_main

    return job_main(job_args(args.startup, args.bounded, path))


def cmd_bench(args: argparse.Namespace) -> int:
    from lepton_stream.bench.run import BenchOptions, run_bench

    opts = BenchOptions(events=args.events, parallelism=tuple(int(p) for p in args.parallelism.split(",")),
                        rates=tuple(float(r) for r in args.rates.split(",")), duration_s=args.duration,
                        repeats=args.repeats, skip=set(filter(None, args.skip.split(","))), out=Path(args.out))
    run_bench(opts)
    print(opts.out.with_suffix(".md").read_text())
    print(f"written to {opts.out} and {opts.out.with_suffix('.md')}")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from lepton_stream.rules import admin

    s = _settings(args)
    try:
        if args.r_cmd == "add":
            rule = admin.add(s, args.file)
            print(f"published rule {rule.id} v{rule.version} to {s.topics.rules}: every worker applies it within 5 s")
        elif args.r_cmd == "disable":
            rule = admin.disable(s, args.id)
            print(f"published rule {rule.id} v{rule.version}, disabled")
        elif args.r_cmd == "delete":
            admin.delete(s, args.id)
            print(f"deleted rule {args.id} (a tombstone on {s.topics.rules})")
        else:
            from rich.table import Table

            from lepton_stream.views.topic_tail import console

            table = Table(title=f"live rules ({s.topics.rules})")
            for col in ("id", "version", "enabled", "action", "severity", "owner", "condition"):
                table.add_column(col)
            for r in sorted(admin.read_rules(s).values(), key=lambda r: r.id):
                table.add_row(r.id, str(r.version), "yes" if r.enabled else "no", r.action, r.severity or "",
                              r.owner, r.condition)
            console().print(table)
    except admin.RuleRefused as exc:
        print(f"lepton-stream rules: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_rules_backtest(args: argparse.Namespace) -> int:
    import time

    from lepton_stream.feature_store.rebuild import bar, parse_since
    from lepton_stream.rules import admin, backtest

    s = _settings(args)
    try:  # the rule and the period first: nothing is read for a bad one
        rule = admin.load_checked(args.file)
        since_ms = parse_since(args.since, args.start, time.time_ns() // 1_000_000)
    except (admin.RuleRefused, ValueError) as exc:
        print(f"lepton-stream rules backtest: {exc}", file=sys.stderr)
        return 2
    from confluent_kafka import KafkaException

    quiet = args.json or not sys.stderr.isatty()
    try:
        report = backtest.run(s, rule, since_ms, progress=None if quiet else bar(what="backtest"))
    except KafkaException as exc:
        print(f"lepton-stream rules backtest: cannot read {s.kafka_bootstrap}: {exc}", file=sys.stderr)
        return 1
    if not quiet:
        print(file=sys.stderr)  # past the progress bar's line
    print(dumps(report.to_dict()) if args.json else report.human())
    return 0


def _add_oncall_commands(sub: argparse._SubParsersAction) -> None:
    alerts = sub.add_parser("alerts", help="risk alerts").add_subparsers(dest="a_cmd", required=True)
    p = alerts.add_parser("tail", help="follow risk-alerts live (read_committed), filtered")
    p.add_argument("--severity", help="comma-separated: high,medium,low (default all)")
    p.add_argument("--card", help="only this card_id")
    p.add_argument("--terminal", help="only this terminal_id")
    p.add_argument("--from-beginning", action="store_true", help="from the oldest alert instead of now")
    p.add_argument("--rows", type=int, default=20, help="alerts kept on screen")
    p.add_argument("--limit", type=int, help="stop after this many matching alerts")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="one JSON line per alert, written as it is read (for pipes)")
    p.set_defaults(fn=cmd_alerts_tail)
    dlq = sub.add_parser("dlq", help="the dead-letter topic").add_subparsers(dest="d_cmd", required=True)
    p = dlq.add_parser("show", help="the latest rejected events with their reasons")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--reason", help="only this error_code, e.g. invalid_json")
    p.set_defaults(fn=cmd_dlq_show)
    sub.add_parser("monitor", help="run the Faust alert monitor (HTTP on LEPTON_MONITOR_PORT, 6066)"
                   ).set_defaults(fn=cmd_monitor)
    rules = sub.add_parser("rules", help="live fraud rules on the `rules` topic").add_subparsers(dest="r_cmd",
                                                                                              required=True)
    p = rules.add_parser("add", help="check a rule file (JSON or YAML) and publish it; refused in one line if bad")
    p.add_argument("file")
    rules.add_parser("list", help="the live rules")
    for name, what in (("disable", "publish a new version of the rule, disabled"), ("delete", "delete the rule")):
        rules.add_parser(name, help=what).add_argument("id")
    for p in rules.choices.values():
        p.set_defaults(fn=cmd_rules)
    p = rules.add_parser("backtest", help="replay recent history from Kafka through a rule file: the alerts it "
                                          "would have raised, the known frauds it catches, its precision")
    p.add_argument("file")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--since", default="7d", help="how far back (d, h, m, s; default %(default)s)")
    when.add_argument("--from", dest="start", help="from this time (epoch ms or RFC 3339)")
    p.add_argument("--json", action="store_true", help="the report as one JSON line, no progress bar")
    p.set_defaults(fn=cmd_rules_backtest)


def main(argv: list[str] | None = None) -> int:
    logs.configure()
    argv = sys.argv[1:] if argv is None else argv
    try:
        Settings.from_env()  # every command refuses a bad LEPTON_* value before doing anything
    except SettingsError as exc:
        print(f"lepton-stream: {exc}", file=sys.stderr)
        return 2
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
    p.add_argument("--monitoring", action="store_true", help="also start Prometheus (rules of monitoring/)")
    p.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop what `up` started, by PID").set_defaults(fn=cmd_down)
    st = sub.add_parser("status", help="each part's health (the scoring job's too), lag per partition, "
                        "throughput, p99, alert rate; exit 1 when a part is unhealthy")
    st.add_argument("--json", action="store_true", help="one JSON object (docs/oncall.md), for scripts")
    st.set_defaults(fn=cmd_status)
    _add_oncall_commands(sub)
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
    p.add_argument("--id-prefix", default="", metavar="TEXT",
                   help="put before every card, customer and terminal id: cards new to the store, so that a "
                        "repeated load test does not add to the windows of the last one's cards")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(fn=cmd_produce)
    p = sub.add_parser("publish", help="publish your own transactions (or fraud labels), JSON lines from files or "
                                       "stdin, each checked by the job's parser first")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON lines, one event each ('-': stdin)")
    p.add_argument("--labels", action="store_true", help="the lines are fraud labels (to fraud-labels)")
    p.add_argument("--rate", type=float, default=0.0, help="events/s (0: as fast as the broker takes them)")
    p.add_argument("--check", action="store_true", help="only check the lines; send nothing")
    p.add_argument("--send-invalid", action="store_true",
                   help="send the lines the job would reject too (they go to the DLQ with their reason)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(fn=cmd_publish)
    p = sub.add_parser("train", help="train + evaluate the fraud and credit models (torch), export ONNX",
                       add_help=False)
    p.add_argument("train_args", nargs="*", help="see `lepton-stream train --help`")
    p = sub.add_parser("run", help="run the scoring job (PyFlink, local MiniCluster), or submit it to a cluster")
    p.add_argument("--startup", default="group", help="group | earliest | latest | timestamp:<ms>")
    p.add_argument("--bounded", action="store_true", help="stop at the offsets present at start")
    p.add_argument("--submit", metavar="HOST:PORT", help="submit with `flink run -py` to the Flink cluster whose "
                   "JobManager REST endpoint this is (detached; $FLINK_CLI picks the flink command)")
    p.add_argument("--rescale", type=int, metavar="N", help="stop the running local job (LEPTON_FLINK_REST_PORT) "
                   "with a savepoint and run it here with parallelism N from that savepoint")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("bench", help="throughput (Flink job vs consumer loop), latency at fixed rates, memory: "
                                     "on its own stack, JSON + summary in benchmarks/results/")
    p.add_argument("--events", type=int, default=120_000, help="backlog for the saturation runs")
    p.add_argument("--parallelism", default="1,2", help="Flink parallelism values to run at saturation")
    p.add_argument("--rates", default="1000,5000", help="fixed rates (events/s); 50%% of saturation is added")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per fixed rate")
    p.add_argument("--repeats", type=int, default=3, help="runs of each runner set for throughput, head to head")
    p.add_argument("--skip", default="",
                   help="comma list of: saturation, latency, knobs, alerts, alert-knobs, store, memory")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "benchmarks/results/pipeline.json"))
    p.set_defaults(fn=cmd_bench)
    feats = sub.add_parser("features", help="online feature store tasks").add_subparsers(dest="f_cmd", required=True)
    p = feats.add_parser("load-profiles", help="publish credit profiles (a simulate *.customers.parquet) to "
                                                   "credit-profiles and load them into the store")
    p.add_argument("customers")
    p.set_defaults(fn=cmd_load_profiles)
    p = feats.add_parser("rebuild", help="refill the store from Kafka (transactions, fraud-labels, credit-profiles): "
                                         "idempotent, safe while the job runs")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--since", default=f"{REBUILD_SINCE_DAYS}d",
                      help="how far back (d, h, m, s; default: the store's whole history, %(default)s)")
    when.add_argument("--from", dest="start", help="from this time (epoch ms or RFC 3339)")
    p.add_argument("--json", action="store_true", help="the final report as one JSON line, no progress bar")
    p.set_defaults(fn=cmd_features_rebuild)
    p = feats.add_parser("get", help="a card's (and/or terminal's) current windows, as JSON")
    p.add_argument("card", nargs="?", help="card_id (c = counts, s = sums in cents, f = labelled frauds)")
    p.add_argument("--terminal", help="terminal_id")
    p.add_argument("--at", type=int, help="as of this time (epoch ms; default now)")
    p.set_defaults(fn=cmd_features_get)
    model = sub.add_parser("model", help="model repository tasks").add_subparsers(dest="model_cmd", required=True)
    p = model.add_parser("publish", help="add trained models to model_repo/ as new versions; load them in Triton")
    p.add_argument("source", help="a `lepton-stream train --out` folder (fraud_scorer.onnx, credit_scorer.onnx)")
    p.add_argument("--no-load", action="store_true", help="only write the repository")
    p.add_argument("--force", action="store_true",
                   help="publish even when the candidates score worse than the serving versions on the held-out world")
    p.add_argument("--challenger", action="store_true",
                   help="only fraud_scorer, scored beside the serving version (the champion) without alerting")
    p.set_defaults(fn=cmd_model_publish)
    p = model.add_parser("compare", help="the fraud model's roles and the champion/challenger comparison now")
    p.set_defaults(fn=cmd_model_compare)
    p = model.add_parser("promote", help="the challenger becomes champion (refused if its labelled-window AP is "
                                         "below the champion's)")
    p.add_argument("--force", action="store_true", help="promote whatever the comparison says")
    p.set_defaults(fn=cmd_model_switch)
    p = model.add_parser("rollback", help="the champion before the last promote serves again")
    p.set_defaults(fn=cmd_model_switch)
    p = model.add_parser("drop-challenger", help="the champion serves alone again")
    p.set_defaults(fn=cmd_model_switch)
    model.add_parser("build-trt", help="build TensorRT plans (trtexec in the Triton container; GPU only)",
                     add_help=False)
    args = ap.parse_args(argv)
    from confluent_kafka import KafkaException

    try:
        return int(args.fn(args))
    except SettingsError as exc:  # a bad LEPTON_* value: one line, no traceback
        print(f"lepton-stream: {exc}", file=sys.stderr)
        return 2
    except KafkaException as exc:  # the broker away or refusing: one line, no traceback
        print(f"lepton-stream {args.cmd}: Kafka at {Settings.from_env().kafka_bootstrap}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
