"""All the benchmarks in one run, one JSON file and a short summary (`lepton-stream bench`)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from lepton_stream.bench import latency, plots, saturation, store_cpu, store_memory
from lepton_stream.bench.harness import bench_stack, server_rss_mb
from lepton_stream.config import REPO_ROOT
from lepton_stream.jsonout import dumps

RESULTS = REPO_ROOT / "benchmarks" / "results"
# Each section of the results, and the `skip` name that leaves it out.
SECTION_SKIP = {"saturation": "saturation", "latency": "latency", "knobs": "knobs", "latency_compare": "latency",
                "alert_latency": "alerts", "alert_knobs": "alert-knobs", "server_rss_mb_at_end": "latency",
                "redis_cpu": "store", "redis_memory": "memory"}
SECTIONS = tuple(SECTION_SKIP)


@dataclass
class BenchOptions:
    events: int = 120_000  # backlog for the saturation runs
    parallelism: tuple[int, ...] = (1, 2)  # Flink parallelism values tried at saturation
    rates: tuple[float, ...] = (1_000, 5_000)  # fixed rates, plus 50 % of the best Flink saturation
    duration_s: float = 20.0  # per fixed rate
    bundle_times_ms: tuple[int, ...] = (10, 200)  # bundle-time trade-off at 5,000/s, beside the default
    arrow_batch_sizes: tuple[int, ...] = (500,)  # Arrow batch trade-off at saturation, beside the default
    repeats: int = 3  # runs of each runner, set for throughput, head to head
    floor_events: int = 240_000  # backlog for the data plane alone (the passthrough pipeline)
    memory_cards: int = 2_000
    # Scored once before anything is measured, so that the stack's servers (the broker's
    # JIT above all: about 25 µs per transaction of C2 compiling in its first minutes of
    # transactional traffic) are measured warm, as a long-running stack is.
    warmup_events: int = 60_000
    # Checkpoint intervals of the alert-latency trade-off (visible alerts at 5,000/s, and saturation).
    checkpoint_intervals_ms: tuple[int, ...] = (200, 500, 1_000, 2_000)
    alert_events: int = 60_000  # backlog for the saturation run at each checkpoint interval
    # Each alert-latency rate runs this long, its first `alert_warmup_s` left out: a job just
    # started (JIT, new cards' first writes) is slower for its first ten seconds or so.
    alert_duration_s: float = 30.0
    alert_warmup_s: float = 10.0
    # Settings besides the checkpoint interval that change how long an alert waits, each run
    # at 5,000/s against the defaults, alternated `alert_knob_repeats` times (alert_knobs).
    alert_knobs: dict[str, dict] = field(default_factory=lambda: {
        "buffer timeout 100 ms (Flink's default)": {"buffer_timeout_ms": 100},
        "bundle time 20 ms": {"bundle_time_ms": 20},
        # No transactions: an output is readable once flushed, a replay after a failure
        # writes it again (docs/design.md, "At-least-once outputs").
        "at-least-once outputs": {"delivery_guarantee": "at-least-once"}})
    alert_knob_repeats: int = 3
    skip: set[str] = field(default_factory=set)  # of: saturation, latency, knobs, alerts, alert-knobs, store, memory
    out: Path = RESULTS / "pipeline.json"


def run_bench(opts: BenchOptions, say=print) -> dict:
    today = time.strftime("%Y-%m-%d")
    # A partial run (some sections skipped) updates the sections it runs and keeps the
    # others of the file it writes to, each with the date of the run that measured it.
    previous = json.loads(opts.out.read_text()) if opts.skip and opts.out.exists() else {}
    dates = previous.get("section_dates") or {k: previous.get("date") for k in SECTIONS if k in previous}
    result: dict = {**{k: v for k, v in previous.items() if k in SECTIONS},
                    "date": today,
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores; Kafka, Redis, Triton and the job "
                               f"all on it",
                    "section_dates": dates}
    for section, skip in SECTION_SKIP.items():
        if skip not in opts.skip:
            dates[section] = today
    with bench_stack(partitions=2) as s:
        best = 0
        if not {"saturation", "latency", "knobs", "alerts", "alert-knobs"} <= opts.skip:
            say("warm-up: the Flink job on a backlog, not measured ...")
            saturation.run_flink(s, saturation.backlog(opts.warmup_events), tag="warmup",
                                 parallelism=max(opts.parallelism))
        if "saturation" not in opts.skip:
            events = saturation.backlog(opts.events)
            sat: dict = {"events": len(events), "flink": {}}
            for p in opts.parallelism:
                say(f"saturation: Flink job, parallelism {p} ...")
                sat["flink"][f"p{p}"] = r = saturation.run_flink(s, events, tag=f"flink-p{p}", parallelism=p)
                say(f"  {r['events_per_s']:,}/s")
                best = max(best, r["events_per_s"])
            if "knobs" not in opts.skip:
                for ab in opts.arrow_batch_sizes:
                    p = max(opts.parallelism)
                    say(f"saturation: Flink job, parallelism {p}, Arrow batch {ab} ...")
                    sat["flink"][f"p{p}-arrow{ab}"] = r = saturation.run_flink(
                        s, events, tag=f"flink-p{p}-a{ab}", parallelism=p, arrow_batch_size=ab)
                    say(f"  {r['events_per_s']:,}/s")
            say("saturation: plain consumer loop ...")
            sat["loop"] = saturation.run_loop(s, events)
            say(f"  {sat['loop']['events_per_s']:,}/s")
            sat["flink_best_vs_loop"] = round(best / sat["loop"]["events_per_s"], 2)
            say(f"saturation: both set for throughput, {opts.repeats} runs each ...")
            sat["head_to_head"] = saturation.head_to_head(s, events, opts.repeats, say)
            say(f"saturation: the data plane alone (passthrough), {opts.repeats} runs each ...")
            sat["floor"] = saturation.head_to_head(s, saturation.backlog(opts.floor_events), opts.repeats, say,
                                                   pipeline="passthrough")
            h, fl = sat["head_to_head"], sat["floor"]
            # The scoring job against the data plane alone, both set for throughput, in this run.
            sat["job_vs_floor"] = round(h["flink_median"] / fl["flink_median"], 2)
            sat["cpu_us_per_tx"] = {"flink": h["flink_cpu_us_per_tx"], "loop": h["loop_cpu_us_per_tx"],
                                    "floor": {"flink": fl["flink_cpu_us_per_tx"], "loop": fl["loop_cpu_us_per_tx"]}}
            say(f"  job / floor {sat['job_vs_floor']}; CPU µs per transaction, all processes: "
                f"{sat['cpu_us_per_tx']}")
            result["saturation"] = sat
            saturation.write(result, opts.out)
        if "latency" not in opts.skip:
            rates = list(opts.rates) + ([round(best / 2, -2)] if best else [])
            say(f"latency at {', '.join(f'{r:,.0f}/s' for r in rates)} ...")
            result["latency"] = latency.at_rates(s, rates, opts.duration_s, tag="latency",
                                                 parallelism=max(opts.parallelism))
            saturation.write(result, opts.out)
        if "knobs" not in opts.skip:
            knobs = []
            for bt in opts.bundle_times_ms:
                say(f"knobs: bundle time {bt} ms at 5,000/s ...")
                run = _attempt(result, say, f"knob-bt{bt}", lambda bt=bt: latency.at_rates(
                    s, [5_000], opts.duration_s, tag=f"knob-bt{bt}", bundle_time_ms=bt,
                    parallelism=max(opts.parallelism)))
                if run is not None:
                    knobs.append(run)
            result["knobs"] = knobs
            saturation.write(result, opts.out)
        if "latency" not in opts.skip:
            # The same rate and bundle as the best Flink row: the loop doing the same work,
            # and both runners with the data plane alone (what no tuning of our stages beats).
            compare = []
            for runner, pipeline, p in (("loop", "scoring", 1), ("flink", "passthrough", 1),
                                        ("flink", "passthrough", 2), ("loop", "passthrough", 1)):
                say(f"latency at 5,000/s: {runner}, {pipeline}, parallelism {p} ...")
                tag = f"cmp-{runner}-{pipeline}-p{p}"
                knobs_of_run = {"runner": runner, "pipeline": pipeline, "parallelism": p, "bundle_time_ms": 10}
                run = _attempt(result, say, tag, lambda tag=tag, k=knobs_of_run: latency.at_rates(
                    s, [5_000], opts.duration_s, tag=tag, **k))
                if run is not None:
                    compare.append(run)
            result["latency_compare"] = compare
            saturation.write(result, opts.out)
        if "alerts" not in opts.skip:
            result["alert_latency"] = alert_latency(s, opts, say, result)
            saturation.write(result, opts.out)
        if "alert-knobs" not in opts.skip:
            result["alert_knobs"] = alert_knobs(s, opts, say, result)
            saturation.write(result, opts.out)
        if "latency" not in opts.skip:
            result["server_rss_mb_at_end"] = server_rss_mb(s)
    if "store" not in opts.skip:
        say("Redis CPU per transaction of the window scripts ...")
        result["redis_cpu"] = store_cpu.store_cpu()
    if "memory" not in opts.skip:
        say("Redis memory per active card ...")
        result["redis_memory"] = store_memory.memory_per_card(cards=opts.memory_cards, terminals=opts.memory_cards * 2)
    saturation.write(result, opts.out)
    summary = summarize(result)
    opts.out.with_suffix(".md").write_text(summary)
    for path in plots.write_plots(result, opts.out):
        say(f"bench: wrote {path}")
    return result


def _attempt(result: dict, say, what: str, run):
    """One run of the bench; a run that fails (a job that never started) is recorded
    in `errors` and the bench goes on with the next."""
    try:
        return run()
    except (TimeoutError, RuntimeError, OSError) as exc:
        say(f"  {what} failed: {exc}")
        result.setdefault("errors", []).append({"run": what, "error": f"{type(exc).__name__}: {exc}"})
        return None


# The bench's alert-latency runs alert on more events than the served threshold
# does on its fresh cards (a handful a minute), so that alert percentiles rest on
# hundreds of alerts; the path an alert takes does not depend on the threshold.
ALERT_BENCH_THRESHOLD = 0.05


def _visible(x: dict) -> dict:
    return {"visible_alert_p50_ms": x["event_to_visible_alert_ms"].get("p50"),
            "visible_alert_p99_ms": x["event_to_visible_alert_ms"].get("p99"),
            "visible_score_p50_ms": x["event_to_visible_score_ms"].get("p50"),
            "visible_score_p99_ms": x["event_to_visible_score_ms"].get("p99"),
            # `lepton-stream alerts tail --json` following the topic: what on call sees.
            "tail_alert_p50_ms": x.get("event_to_tail_alert_ms", {}).get("p50"),
            "tail_alert_p99_ms": x.get("event_to_tail_alert_ms", {}).get("p99"),
            "alerts": x["alerts"], "sent_per_s": x["sent_per_s"], "fell_behind": x["fell_behind"]}


ALERT_VISIBLE_P99_GOAL_MS = 500.0


def mark_default(rows: list[dict]) -> list[dict]:
    """The checkpoint interval the job defaults to, chosen from the bench: the longest
    (the most throughput) whose visible-alert p99 at half its saturation rate is within
    the goal, else the shortest. `Settings` must agree (tests/unit/test_bench_defaults.py)."""
    if not rows:
        return rows
    ok = [r for r in rows if ((r.get("at_half_saturation") or {}).get("visible_alert_p99_ms") or float("inf"))
          <= ALERT_VISIBLE_P99_GOAL_MS]
    chosen = max(ok, key=lambda r: r["checkpoint_interval_ms"]) if ok else \
        min(rows, key=lambda r: r["checkpoint_interval_ms"])
    for r in rows:
        r["default"] = r is chosen
    return rows


def alert_latency(s, opts: BenchOptions, say=print, result: dict | None = None) -> list[dict]:
    """How soon a read_committed reader sees an alert, against what the checkpoint
    interval costs in throughput: for each interval, the saturation rate, then the
    visible-alert percentiles at 5,000/s and at half that saturation (a rate the
    machine sustains at that interval), the job's defaults otherwise."""
    from lepton_stream.config import Settings

    intervals = sorted(set(opts.checkpoint_intervals_ms) | {Settings.from_env().job.checkpoint_interval_ms})
    events = saturation.backlog(opts.alert_events)
    rows = []
    errors: dict = result if result is not None else {}
    for ci in intervals:
        say(f"alert latency: checkpoint every {ci} ms: saturation ...")
        sat = _attempt(errors, say, f"alert-sat-ci{ci}", lambda ci=ci: saturation.run_flink(
            s, events, tag=f"alert-sat-ci{ci}", checkpoint_interval_ms=ci, parallelism=max(opts.parallelism)))
        if sat is None:
            continue
        half = max(500.0, round(sat["events_per_s"] / 2, -2))
        say(f"  {sat['events_per_s']:,}/s; visible alerts at 5,000/s and {half:,.0f}/s ...")
        run = _attempt(errors, say, f"alert-ci{ci}", lambda ci=ci, half=half: latency.at_rates(
            s, [5_000, half], opts.alert_duration_s, warmup_s=opts.alert_warmup_s, tag=f"alert-ci{ci}",
            checkpoint_interval_ms=ci,
            parallelism=max(opts.parallelism), alert_threshold=ALERT_BENCH_THRESHOLD, tail=True))
        if run is None:
            continue
        at_5000, at_half = run["rates"]
        rows.append({"checkpoint_interval_ms": ci, **_visible(at_5000), "saturation_per_s": sat["events_per_s"],
                     "cpu_us_per_tx": sat.get("cpu_us_per_tx"),
                     # Seconds each rate ran, and the first ones left out as warm-up.
                     "duration_s": opts.alert_duration_s, "warmup_s": opts.alert_warmup_s,
                     "at_half_saturation": {"rate_per_s": half, **_visible(at_half)}})
        say(f"  visible alert p50/p99 at 5,000/s {rows[-1]['visible_alert_p50_ms']}/"
            f"{rows[-1]['visible_alert_p99_ms']} ms; at {half:,.0f}/s "
            f"{rows[-1]['at_half_saturation']['visible_alert_p50_ms']}/"
            f"{rows[-1]['at_half_saturation']['visible_alert_p99_ms']} ms")
    return mark_default(rows)


def alert_knobs(s, opts: BenchOptions, say=print, result: dict | None = None) -> list[dict]:
    """The defaults against each of `opts.alert_knobs` at 5,000/s, alternated, each round
    starting one variant later, so that a drift of the shared machine (and of the store,
    which every run adds to) falls on every variant alike: the medians of the visible
    percentiles of each variant's runs."""
    variants = {"defaults": {}, **opts.alert_knobs}
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    errors: dict = result if result is not None else {}
    events = saturation.backlog(opts.alert_events)
    p = max(opts.parallelism)
    order = list(enumerate(variants.items()))
    for i in range(opts.alert_knob_repeats):
        for position, (j, (name, changes)) in enumerate(order[i % len(order):] + order[:i % len(order)]):
            tag = f"alert-knob{j}-{i}"
            say(f"alert knobs: {name}, run {i + 1} of {opts.alert_knob_repeats}: saturation, then 5,000/s ...")
            sat = _attempt(errors, say, f"{tag}-sat", lambda tag=tag, c=changes: saturation.run_flink(
                s, events, tag=f"{tag}-sat", parallelism=p, **c))
            run = _attempt(errors, say, tag, lambda tag=tag, c=changes: latency.at_rates(
                s, [5_000], opts.alert_duration_s, warmup_s=opts.alert_warmup_s, tag=tag,
                parallelism=p, alert_threshold=ALERT_BENCH_THRESHOLD, **c))
            if run is not None:
                x = run["rates"][0]
                runs[name].append({"round": i, "position": position,
                                   **_visible(x), "score_p50_ms": x["event_to_score_ms"].get("p50"),
                                   "score_p99_ms": x["event_to_score_ms"].get("p99"),
                                   "saturation_per_s": sat["events_per_s"] if sat else None,
                                   "cpu_us_per_tx": sat.get("cpu_us_per_tx") if sat else None})
                say(f"  saturation {runs[name][-1]['saturation_per_s']}/s; visible alert p50/p99 "
                    f"{runs[name][-1]['visible_alert_p50_ms']}/{runs[name][-1]['visible_alert_p99_ms']} ms")
    out = []
    for name, changes in variants.items():
        rs = runs[name]
        med = {k: statistics.median(xs) if (xs := [r[k] for r in rs if r[k] is not None]) else None
               for k in ("visible_alert_p50_ms", "visible_alert_p99_ms", "visible_score_p50_ms",
                         "visible_score_p99_ms", "score_p50_ms", "score_p99_ms", "saturation_per_s", "cpu_us_per_tx")}
        out.append({"variant": name, "changes": changes, "rate_per_s": 5_000,
                    "duration_s": opts.alert_duration_s, "warmup_s": opts.alert_warmup_s,
                    "median": med, "runs": rs})
    return out


def rounds_won(knobs: list[dict], variant: str, key: str = "visible_alert_p99_ms") -> tuple[int, int]:
    """In how many rounds of `alert_knobs` the defaults had a lower `key` than `variant`,
    of the rounds both ran in. Later rounds ran slower (on a store and a broker that every
    run adds to), so pairs within a round are what to compare, not medians over rounds."""
    by = {k["variant"]: {r.get("round", i): r[key] for i, r in enumerate(k["runs"]) if r.get(key) is not None}
          for k in knobs}
    both = sorted(set(by["defaults"]) & set(by[variant]))
    return sum(1 for i in both if by["defaults"][i] < by[variant][i]), len(both)


def _ms(x: dict, key: str) -> str:
    v = x.get(key)
    return "–" if v is None or v != v else f"{v:,.0f}"


def summarize(r: dict) -> str:
    lines = [f"# Pipeline benchmark, {r['date']}", "", f"Machine: {r['machine']}.", ""]
    older = {k: d for k, d in (r.get("section_dates") or {}).items() if d != r["date"] and k in r}
    if older:
        lines += ["Sections from earlier runs: " + ", ".join(f"{k} ({d})" for k, d in older.items()) + ".", ""]
    if "saturation" in r:
        sat = r["saturation"]
        lines += ["## Throughput at saturation (exactly-once on)", "",
                  f"Backlog of {sat['events']:,} simulated transactions.", "",
                  "| runner | events/s | median RSS MB | time share |", "| --- | ---: | ---: | --- |"]
        for f in sat["flink"].values():
            share = ", ".join(f"{k} {v:.0%}" for k, v in f["time_share_per_task"].items())
            lines.append(f"| Flink job, parallelism {f['parallelism']}, Arrow batch {f['arrow_batch_size']:,} | "
                         f"{f['events_per_s']:,} | "
                         f"{f['median_rss_mb']:,} | {share} |")
        lp, lp_f = sat["loop"], next(iter(sat["flink"].values()))
        share = ", ".join(f"{k} {v:.0%}" for k, v in lp["time_share"].items())
        lines += [f"| plain consumer loop, batch {lp['batch_size']:,} | {lp['events_per_s']:,} | "
                  f"{lp['median_rss_mb']:,} | {share} |", "",
                  f"Latency-oriented defaults (bundle {lp_f['bundle_time_ms']} ms, checkpoint "
                  f"{lp_f['checkpoint_interval_ms']:,} ms; loop commits every batch): best Flink / loop "
                  f"**{sat['flink_best_vs_loop']}**.", ""]
        if "head_to_head" in sat:
            h = sat["head_to_head"]
            fs, ls = h["flink_settings"], h["loop_settings"]
            lines += ["### Both set for throughput, same commit interval", "",
                      f"Outputs committed every {h['commit_interval_s']} s by both. Flink: parallelism "
                      f"{fs['parallelism']}, Arrow batch {fs['arrow_batch_size']:,}, bundle {fs['bundle_size']:,} "
                      f"events / {fs['bundle_time_ms']:,} ms. Loop: batches of {ls['batch_size']:,}. "
                      f"Run alternately:", "",
                      "| runner | events/s per run | median | median RSS MB | time share (last run) |",
                      "| --- | --- | ---: | ---: | --- |",
                      f"| Flink job | {', '.join(f'{x:,}' for x in h['flink_events_per_s'])} | "
                      f"{h['flink_median']:,} | {h['flink_median_rss_mb']:,.0f} | "
                      + ", ".join(f"{k} {v:.0%}" for k, v in h["flink_time_share_per_task"].items()) + " |",
                      f"| plain consumer loop | {', '.join(f'{x:,}' for x in h['loop_events_per_s'])} | "
                      f"{h['loop_median']:,} | {h['loop_median_rss_mb']:,.0f} | "
                      + ", ".join(f"{k} {v:.0%}" for k, v in h["loop_time_share"].items()) + " |", "",
                      f"Flink / loop (medians): **{h['flink_vs_loop']}**.", ""]
        if "floor" in sat:
            f = sat["floor"]
            lines += ["### The data plane alone (passthrough pipeline: parse, a zero score; no Redis, no Triton)",
                      "", "Same settings as above; the most a job of each shape can do on this machine.", "",
                      "| runner | events/s per run | median | time share (last run) |", "| --- | --- | ---: | --- |",
                      f"| Flink job | {', '.join(f'{x:,}' for x in f['flink_events_per_s'])} | "
                      f"{f['flink_median']:,} | "
                      + ", ".join(f"{k} {v:.0%}" for k, v in f["flink_time_share_per_task"].items()) + " |",
                      f"| plain consumer loop | {', '.join(f'{x:,}' for x in f['loop_events_per_s'])} | "
                      f"{f['loop_median']:,} | "
                      + ", ".join(f"{k} {v:.0%}" for k, v in f["loop_time_share"].items()) + " |", ""]
        if "job_vs_floor" in sat:
            c = sat["cpu_us_per_tx"]
            lines += ["### CPU per scored transaction, every process of the run", "",
                      f"Scoring job / data plane alone (Flink, medians above): **{sat['job_vs_floor']}**. CPU µs per "
                      "transaction over the scoring span, summed over the broker, Redis, Triton and the runner "
                      "(the job's JVM and Python workers, or the loop), medians:", "",
                      "| runner | scoring | data plane alone |", "| --- | ---: | ---: |",
                      f"| Flink job | {c['flink']} | {c['floor']['flink']} |",
                      f"| plain consumer loop | {c['loop']} | {c['floor']['loop']} |", "",
                      "By process (last scoring run): Flink "
                      + ", ".join(f"{k} {v}" for k, v in sat["head_to_head"]["flink_cpu_us_per_tx_by_process"].items())
                      + "; loop "
                      + ", ".join(f"{k} {v}" for k, v in sat["head_to_head"]["loop_cpu_us_per_tx_by_process"].items())
                      + ".", ""]
    for title, runs in (("Latency at fixed rates", [r["latency"]] if "latency" in r else []),
                        ("Bundle time trade-off at 5,000/s", r.get("knobs", []))):
        if not runs:
            continue
        lines += [f"## {title}", "",
                  "| rate sent/s | bundle ms | checkpoint ms | event→score p50/p99 ms | event→alert p50/p99 ms | "
                  "visible (read_committed) p50/p99 ms |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for run in runs:
            for x in run["rates"]:
                lines.append(
                    f"| {x['sent_per_s']:,} | {run['bundle_time_ms']} | {run['checkpoint_interval_ms']} | "
                    f"{_ms(x['event_to_score_ms'], 'p50')} / {_ms(x['event_to_score_ms'], 'p99')} | "
                    f"{_ms(x['event_to_alert_ms'], 'p50')} / {_ms(x['event_to_alert_ms'], 'p99')} | "
                    f"{_ms(x['event_to_visible_score_ms'], 'p50')} / {_ms(x['event_to_visible_score_ms'], 'p99')} |")
        lines.append("")
    if r.get("latency_compare"):
        lines += ["## Latency at 5,000/s: Flink, the loop, and the data plane alone", "",
                  "Bundle (the loop: longest wait for a batch) 10 ms, commit every checkpoint interval.", "",
                  "| runner | pipeline | parallelism | rate sent/s | event→score p50/p99 ms | "
                  "visible (read_committed) p50/p99 ms |", "| --- | --- | ---: | ---: | ---: | ---: |"]
        for run in r["latency_compare"]:
            x = run["rates"][0]
            vis = x["event_to_visible_score_ms"]
            lines.append(f"| {run['runner']} | {run['pipeline']} | {run['parallelism']} | {x['sent_per_s']:,} | "
                         f"{_ms(x['event_to_score_ms'], 'p50')} / {_ms(x['event_to_score_ms'], 'p99')} | "
                         f"{_ms(vis, 'p50')} / {_ms(vis, 'p99')} |")
        lines.append("")
    if "latency" in r and r["latency"]["rates"]:
        rss = r["latency"]["rates"][-1]["rss_mb_at_end"]
        parts = {**{f"job {k}": v for k, v in rss["job"].items()}, **rss["servers"]}
        lines += ["## Memory at steady state (RSS, MB)", "", ", ".join(f"{k} {v:,}" for k, v in parts.items()), ""]
    if r.get("errors"):
        lines += ["## Runs that failed", "", *(f"- {e['run']}: {e['error']}" for e in r["errors"]), ""]
    if r.get("alert_latency"):
        a = r["alert_latency"]
        default = next((x["checkpoint_interval_ms"] for x in a if x["default"]), None)
        met = any(((x.get("at_half_saturation") or {}).get("visible_alert_p99_ms") or float("inf"))
                  <= ALERT_VISIBLE_P99_GOAL_MS for x in a)
        why = (f"the longest interval whose p99 at half saturation is within {ALERT_VISIBLE_P99_GOAL_MS:.0f} ms"
               if met else f"the shortest, since no interval kept p99 at half saturation within "
               f"{ALERT_VISIBLE_P99_GOAL_MS:.0f} ms")
        warm = (f" Each rate ran {a[0]['duration_s']:.0f} s, its first {a[0]['warmup_s']:.0f} s left out."
                if "duration_s" in a[0] else "")

        lines += ["## Alert latency against the checkpoint interval", "",
                  "Event published → alert readable by a read_committed consumer (and shown by "
                  "`lepton-stream alerts tail`), at 5,000/s and at half the saturation rate of the same "
                  f"interval; saturation throughput at that interval. The default, {default} ms, is {why}.{warm}", "",
                  "| checkpoint ms | saturation events/s | at 5,000/s: visible alert p50 / p99 ms | "
                  "at half saturation: rate | visible alert p50 / p99 ms | visible score p50 / p99 ms | "
                  "`alerts tail` p99 ms |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for x in a:
            h = x.get("at_half_saturation") or {}
            lines.append(f"| {x['checkpoint_interval_ms']:,} | {x['saturation_per_s']:,} | "
                         f"{_ms(x, 'visible_alert_p50_ms')} / {_ms(x, 'visible_alert_p99_ms')} | "
                         f"{_ms(h, 'rate_per_s')} | "
                         f"{_ms(h, 'visible_alert_p50_ms')} / {_ms(h, 'visible_alert_p99_ms')} | "
                         f"{_ms(h, 'visible_score_p50_ms')} / {_ms(h, 'visible_score_p99_ms')} | "
                         f"{_ms(h, 'tail_alert_p99_ms')} |")
        lines.append("")
    if r.get("alert_knobs"):
        k = r["alert_knobs"]
        lines += ["## Alert latency against the other settings, at 5,000/s", "",
                  f"Each variant against the defaults, alternated, {len(k[0]['runs'])} runs each of "
                  f"{k[0]['duration_s']:.0f} s (the first {k[0]['warmup_s']:.0f} s left out); medians.", "",
                  "| variant | visible alert p50 / p99 ms | visible score p50 / p99 ms | event→score p50 / p99 ms | "
                  "saturation events/s | CPU µs per transaction |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for v in k:
            m = v["median"]
            lines.append(f"| {v['variant']} | {_ms(m, 'visible_alert_p50_ms')} / {_ms(m, 'visible_alert_p99_ms')} | "
                         f"{_ms(m, 'visible_score_p50_ms')} / {_ms(m, 'visible_score_p99_ms')} | "
                         f"{_ms(m, 'score_p50_ms')} / {_ms(m, 'score_p99_ms')} | {_ms(m, 'saturation_per_s')} | "
                         f"{_ms(m, 'cpu_us_per_tx')} |")
        lines += ["", "Pairs within a round (later rounds ran slower, on a store and a broker that every run "
                  "adds to): the defaults had the lower visible-alert p99 " + ", ".join(
                      "{} of {} rounds against {}".format(*rounds_won(k, v["variant"]), v["variant"])
                      for v in k if v["variant"] != "defaults") + ".", ""]
    if "redis_cpu" in r:
        c = r["redis_cpu"]
        lines += ["## Redis CPU per transaction (the feature store alone)", "",
                  f"{c['redis_cpu_us_per_transaction']} µs of Redis CPU per transaction (its claim, card and "
                  f"terminal scripts, and the {c['labels']:,} labels of the stream), with the stack's durability "
                  f"(`appendfsync always`); {c['redis_cpu_us_per_transaction_no_persistence']} µs with no "
                  f"persistence, so durability costs {c['durability_cost_us_per_transaction']} µs (medians of "
                  f"{c['repeats']} alternated runs). {c['transactions_per_s']:,} transactions/s through one Redis "
                  f"from one client, batches of {c['batch']:,}; answers equal to the offline definition: "
                  f"{c['equal_to_offline_definition']}.", ""]
    if "redis_memory" in r:
        m = r["redis_memory"]
        lines += ["## Redis memory per active card", "",
                  f"{m['bytes_per_active_card']:,} bytes per active card ({m['gb_per_million_cards']} GB per million "
                  f"cards) after {m['days']} simulated days, {m['cards']:,} cards, {m['terminals']:,} terminals; "
                  f"replay horizon {m['replay_horizon_days']} days. By key: "
                  + ", ".join(f"{k} {v:,}" for k, v in m["bytes_per_card_by_key"].items()) + ". "
                  f"Kept per transaction for replays: {m['replay_bytes_per_transaction']:,} bytes ("
                  + ", ".join(f"{k} {v:,}" for k, v in (m.get("replay_bytes_per_transaction_by_kind") or {}).items())
                  + ").", ""]
    return "\n".join(lines)


def main() -> int:
    result = run_bench(BenchOptions())
    print(dumps(result, indent=2))
    return 0
